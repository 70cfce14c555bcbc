// SPDX-License-Identifier: Apache-2.0
// A tiny streaming JSON writer for the tools: objects, arrays, strings (with
// full escaping and invalid UTF-8 replaced by U+FFFD), integers, doubles
// (non-finite ones written as null), booleans and null, pretty-printed.
#ifndef CLATTN_TOOLS_JSON_H
#define CLATTN_TOOLS_JSON_H

#include <stdio.h>

#define JSON_MAX_DEPTH 32

typedef struct json_w {
  FILE *f;
  int depth;
  int count[JSON_MAX_DEPTH]; // members written so far at each level
  int compact;               // one line (JSON Lines), no indentation
} json_w;

void json_init(json_w *w, FILE *f);
// The same, writing the whole value on one line (ended by a newline).
void json_init_compact(json_w *w, FILE *f);
// `key` names the member inside an object; pass NULL inside arrays and for
// the top-level value.
void json_object_begin(json_w *w, const char *key);
void json_object_end(json_w *w);
void json_array_begin(json_w *w, const char *key);
void json_array_end(json_w *w);
void json_string(json_w *w, const char *key, const char *s); // NULL -> null
void json_int(json_w *w, const char *key, long long v);
void json_double(json_w *w, const char *key, double v); // NaN/inf -> null
void json_bool(json_w *w, const char *key, int b);
void json_null(json_w *w, const char *key);
// Writes a JSON array of strings from a space-separated list.
void json_word_list(json_w *w, const char *key, const char *list);
// Writes s as a JSON string literal (quotes included) to f.
void json_write_escaped(FILE *f, const char *s);

#endif // CLATTN_TOOLS_JSON_H
