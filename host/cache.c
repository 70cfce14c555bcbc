// SPDX-License-Identifier: Apache-2.0
// The on-disk program binary cache. One file per key, named by the key's
// hash: magic "CLATTNPB", format version, key length, binary length, checksum,
// the full key, then the binary. Written to a temporary file and renamed into
// place (atomic); a short, corrupt or foreign entry is a miss, never trusted.
#include "internal.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define CACHE_MAGIC "CLATTNPB"
#define CACHE_FORMAT 1u
#define CACHE_MAX_BINARY (256u << 20)

typedef struct header {
  char magic[8];
  uint32_t format;
  uint32_t key_len;
  uint64_t bin_len;
  uint64_t checksum;
} header;

static uint64_t hash(uint64_t h, const void *data, size_t n) {
  const unsigned char *p = data;
  for (size_t i = 0; i < n; i++) {
    h ^= p[i];
    h *= 0x100000001b3ull;
  }
  return h;
}

static void entry_path(clattn_context ctx, const char *key, char *path,
                       size_t n) {
  uint64_t h = hash(0xcbf29ce484222325ull, key, strlen(key));
  snprintf(path, n, "%s/%016llx.bin", ctx->cache_dir, (unsigned long long)h);
}

static int mkdirs(const char *dir) {
  char tmp[1024];
  snprintf(tmp, sizeof tmp, "%s", dir);
  for (char *p = tmp + 1; *p; p++)
    if (*p == '/') {
      *p = '\0';
      if (mkdir(tmp, 0755) && errno != EEXIST)
        return -1;
      *p = '/';
    }
  return (mkdir(tmp, 0755) && errno != EEXIST) ? -1 : 0;
}

int clattn__disk_cache_load(clattn_context ctx, const char *key,
                            unsigned char **binary, size_t *size) {
  char path[1200];
  entry_path(ctx, key, path, sizeof path);
  FILE *f = fopen(path, "rb");
  if (!f)
    return -1;
  header h;
  int ok = fread(&h, sizeof h, 1, f) == 1 &&
           memcmp(h.magic, CACHE_MAGIC, 8) == 0 && h.format == CACHE_FORMAT &&
           h.key_len == strlen(key) && h.bin_len > 0 &&
           h.bin_len <= CACHE_MAX_BINARY;
  char *k = NULL;
  unsigned char *b = NULL;
  if (ok) {
    k = malloc(h.key_len + 1);
    b = malloc(h.bin_len);
    ok = k && b && fread(k, 1, h.key_len, f) == h.key_len &&
         fread(b, 1, h.bin_len, f) == h.bin_len &&
         memcmp(k, key, h.key_len) == 0 && fgetc(f) == EOF;
  }
  if (ok) {
    uint64_t c = hash(0xcbf29ce484222325ull, k, h.key_len);
    ok = hash(c, b, h.bin_len) == h.checksum;
  }
  fclose(f);
  free(k);
  if (!ok) {
    free(b);
    clattn__log(ctx, "program cache: %s is stale or corrupt; ignored", path);
    return -1;
  }
  *binary = b;
  *size = (size_t)h.bin_len;
  return 0;
}

int clattn__disk_cache_store(clattn_context ctx, const char *key,
                             const unsigned char *binary, size_t size) {
  if (mkdirs(ctx->cache_dir)) {
    clattn__log(ctx, "program cache: cannot create %s", ctx->cache_dir);
    return -1;
  }
  char path[1200], tmp[1300];
  entry_path(ctx, key, path, sizeof path);
  static _Atomic unsigned counter;
  snprintf(tmp, sizeof tmp, "%s.%ld.%u.tmp", path, (long)getpid(), counter++);
  header h;
  memcpy(h.magic, CACHE_MAGIC, 8);
  h.format = CACHE_FORMAT;
  h.key_len = (uint32_t)strlen(key);
  h.bin_len = size;
  h.checksum = hash(hash(0xcbf29ce484222325ull, key, h.key_len), binary, size);
  FILE *f = fopen(tmp, "wb");
  if (!f) {
    clattn__log(ctx, "program cache: cannot write %s", tmp);
    return -1;
  }
  int ok = fwrite(&h, sizeof h, 1, f) == 1 &&
           fwrite(key, 1, h.key_len, f) == h.key_len &&
           fwrite(binary, 1, size, f) == size;
  ok = (fclose(f) == 0) && ok;
  if (!ok || rename(tmp, path) != 0) {
    remove(tmp);
    clattn__log(ctx, "program cache: writing %s failed", path);
    return -1;
  }
  return 0;
}
