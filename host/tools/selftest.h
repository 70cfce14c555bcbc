// SPDX-License-Identifier: Apache-2.0
// clattn-probe --selftest: runs every op, every eligible variant, every
// program format the device takes and every float dtype on small random
// problems and checks them against exact placement (kv_write) or the
// double-precision reference (attention ops).
#ifndef CLATTN_TOOLS_SELFTEST_H
#define CLATTN_TOOLS_SELFTEST_H

#include "internal.h"
#include "toolutil.h"

#include <stdint.h>
#include <stdio.h>

typedef enum st_outcome { ST_PASS = 0, ST_FAIL = 1, ST_SKIP = 2 } st_outcome;

typedef struct st_result {
  const char *op, *variant, *format, *dtype, *test; // static strings
  int head_dim;
  // out (or the caches for kv_write): max |got - ref|; each element must be
  // within tolerance + rtol * |ref| (kv_write: exact, both 0).
  double max_error, tolerance, rtol;
  // lse: max |got - ref| (NaN when the case has no lse); each element within
  // lse_tolerance * (1 + |ref|), -inf exactly.
  double lse_error, lse_tolerance;
  st_outcome outcome;
  char reason[512]; // why FAIL/SKIP; notes (e.g. a logged fallback) on PASS
} st_result;

typedef struct st_report {
  st_result *r;
  int n, cap;
  int pass, fail, skip;
} st_report;

// Log hook: give selftest_log_fn and a st_log as the clattn context's log
// callback so that fallbacks logged during a run are attached to its result.
typedef struct st_log {
  char note[256];
} st_log;
void selftest_log_fn(void *user, const char *line);

// Runs everything on session s (whose context logs into log_hook, may be
// NULL). One human line per result goes to out (may be NULL) as it happens.
// Returns 0 when it could run (results in rep), else non-zero.
int selftest_run(tool_session *s, const clattn_caps *caps, uint64_t seed,
                 st_log *log_hook, FILE *out, st_report *rep);
void selftest_report_free(st_report *rep);
const char *selftest_outcome_name(st_outcome o);

#endif // CLATTN_TOOLS_SELFTEST_H
