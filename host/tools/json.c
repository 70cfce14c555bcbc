// SPDX-License-Identifier: Apache-2.0
// The tools' JSON writer (json.h): separators and indentation from a small
// per-level member count; strings escaped per RFC 8259 and made valid UTF-8
// (device strings come from drivers and may hold anything).
#include "json.h"

#include <math.h>
#include <string.h>

void json_init(json_w *w, FILE *f) {
  memset(w, 0, sizeof *w);
  w->f = f;
}

void json_init_compact(json_w *w, FILE *f) {
  json_init(w, f);
  w->compact = 1;
}

static void indent(json_w *w) {
  if (w->compact)
    return;
  fputc('\n', w->f);
  for (int i = 0; i < w->depth; i++)
    fputs("  ", w->f);
}

// Length of the valid UTF-8 sequence at s, or 0 when it is not one.
static int utf8_len(const unsigned char *s) {
  unsigned c = s[0];
  int n;
  unsigned min;
  if (c < 0x80)
    return 1;
  if (c >= 0xC2 && c <= 0xDF) {
    n = 2;
    min = 0x80;
  } else if (c >= 0xE0 && c <= 0xEF) {
    n = 3;
    min = 0x800;
  } else if (c >= 0xF0 && c <= 0xF4) {
    n = 4;
    min = 0x10000;
  } else {
    return 0;
  }
  unsigned cp = c & (0x7Fu >> n);
  for (int i = 1; i < n; i++) {
    if ((s[i] & 0xC0) != 0x80)
      return 0;
    cp = (cp << 6) | (s[i] & 0x3Fu);
  }
  if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
    return 0;
  return n;
}

void json_write_escaped(FILE *f, const char *str) {
  const unsigned char *s = (const unsigned char *)str;
  fputc('"', f);
  while (*s) {
    unsigned c = *s;
    switch (c) {
    case '"':
      fputs("\\\"", f);
      s++;
      continue;
    case '\\':
      fputs("\\\\", f);
      s++;
      continue;
    case '\b':
      fputs("\\b", f);
      s++;
      continue;
    case '\f':
      fputs("\\f", f);
      s++;
      continue;
    case '\n':
      fputs("\\n", f);
      s++;
      continue;
    case '\r':
      fputs("\\r", f);
      s++;
      continue;
    case '\t':
      fputs("\\t", f);
      s++;
      continue;
    default: break;
    }
    if (c < 0x20 || c == 0x7F) {
      fprintf(f, "\\u%04x", c);
      s++;
      continue;
    }
    int n = utf8_len(s);
    if (n == 0) {
      fputs("\\ufffd", f);
      s++;
      continue;
    }
    fwrite(s, 1, (size_t)n, f);
    s += n;
  }
  fputc('"', f);
}

// Separator, newline/indent and "key": before a value.
static void member(json_w *w, const char *key) {
  if (w->depth > 0) {
    if (w->count[w->depth - 1]++ > 0)
      fputs(w->compact ? ", " : ",", w->f);
    indent(w);
  }
  if (key) {
    json_write_escaped(w->f, key);
    fputs(": ", w->f);
  }
}

static void open_(json_w *w, const char *key, char c) {
  member(w, key);
  fputc(c, w->f);
  if (w->depth < JSON_MAX_DEPTH) {
    w->count[w->depth] = 0;
    w->depth++;
  }
}

static void close_(json_w *w, char c) {
  if (w->depth > 0) {
    w->depth--;
    if (w->count[w->depth] > 0)
      indent(w);
  }
  fputc(c, w->f);
  if (w->depth == 0)
    fputc('\n', w->f);
}

void json_object_begin(json_w *w, const char *key) {
  open_(w, key, '{');
}
void json_object_end(json_w *w) {
  close_(w, '}');
}
void json_array_begin(json_w *w, const char *key) {
  open_(w, key, '[');
}
void json_array_end(json_w *w) {
  close_(w, ']');
}

void json_string(json_w *w, const char *key, const char *s) {
  member(w, key);
  if (s)
    json_write_escaped(w->f, s);
  else
    fputs("null", w->f);
}

void json_int(json_w *w, const char *key, long long v) {
  member(w, key);
  fprintf(w->f, "%lld", v);
}

void json_double(json_w *w, const char *key, double v) {
  member(w, key);
  if (isfinite(v))
    fprintf(w->f, "%.9g", v);
  else
    fputs("null", w->f);
}

void json_bool(json_w *w, const char *key, int b) {
  member(w, key);
  fputs(b ? "true" : "false", w->f);
}

void json_null(json_w *w, const char *key) {
  member(w, key);
  fputs("null", w->f);
}

void json_word_list(json_w *w, const char *key, const char *list) {
  json_array_begin(w, key);
  const char *p = list ? list : "";
  char word[512];
  while (*p) {
    while (*p == ' ' || *p == '\t' || *p == '\n')
      p++;
    size_t n = 0;
    while (p[n] && p[n] != ' ' && p[n] != '\t' && p[n] != '\n')
      n++;
    if (n == 0)
      break;
    size_t m = n < sizeof word - 1 ? n : sizeof word - 1;
    memcpy(word, p, m);
    word[m] = 0;
    json_string(w, NULL, word);
    p += n;
  }
  json_array_end(w);
}
