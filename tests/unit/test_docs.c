// SPDX-License-Identifier: Apache-2.0
// Keeps docs/kernels.md in sync with the registry: every variant row must be
// named there (as `name`), and every documented variant must exist.
#include "testutil.h"

#include <check.h>
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static char *slurp(const char *path) {
  FILE *f = fopen(path, "rb");
  if (!f)
    return NULL;
  fseek(f, 0, SEEK_END);
  long n = ftell(f);
  fseek(f, 0, SEEK_SET);
  char *s = malloc((size_t)n + 1);
  if (s && fread(s, 1, (size_t)n, f) != (size_t)n) {
    free(s);
    s = NULL;
  }
  if (s)
    s[n] = '\0';
  fclose(f);
  return s;
}

START_TEST(kernels_md_lists_every_variant) {
  char *doc = slurp(CLATTN_SOURCE_DIR "/docs/kernels.md");
  ck_assert_msg(doc != NULL, "docs/kernels.md is missing");
  int n = 0;
  const clattn_variant *rows = clattn__registry(&n);
  for (int i = 0; i < n; i++) {
    char quoted[96];
    snprintf(quoted, sizeof quoted, "`%s`", rows[i].name);
    ck_assert_msg(strstr(doc, quoted), "docs/kernels.md does not list %s",
                  quoted);
  }
  // The other way: a `kv_write_*`/`attention_*`/`paged_attention_*` name in
  // the doc must be a registry row.
  static const char *const prefixes[] = {"`kv_write_", "`attention_",
                                         "`paged_attention_"};
  for (size_t p = 0; p < 3; p++)
    for (const char *s = doc; (s = strstr(s, prefixes[p])) != NULL; s++) {
      char name[96];
      size_t k = 0;
      for (const char *c = s + 1; *c && *c != '`' && k + 1 < sizeof name; c++)
        name[k++] = *c;
      name[k] = '\0';
      int wild = strchr(name, '*') || strchr(name, '<') || strchr(name, '{');
      if (!wild && !isspace((unsigned char)name[0]))
        ck_assert_msg(clattn__variant_by_name(name) != NULL,
                      "docs/kernels.md names `%s`, which is no variant", name);
    }
  free(doc);
}
END_TEST

int main(void) {
  Suite *s = suite_create("docs");
  TCase *tc = tcase_create("kernels_md");
  tcase_add_test(tc, kernels_md_lists_every_variant);
  suite_add_tcase(s, tc);
  return tu_run_unit_suite(s);
}
