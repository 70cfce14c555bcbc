// SPDX-License-Identifier: Apache-2.0
// CPU check of the sm_70 tensor-core lane layout (cl/mma70_layout.clh): one
// warp's QK^T and PV of a 64-key tile, with mma.m8n8k4 simulated from the
// PTX ISA's fragment tables and data moved the way attention_mma.clh does.
#include "testutil.h"

#include <check.h>
#include <string.h>

#include "mma70_layout.clh"

#define ROWS 16 // a warp's rows
#define KEYS 64 // BLOCK_N

typedef struct {
  double lo, hi; // an f16x2 register
} h2;

// One mma.sync.aligned.m8n8k4.row.{col,row}.f32.f16.f16.f32 over the warp:
// c[lane][i] += (A B) of the lane's quad-pair, fragments as the PTX ISA
// gives them ("Matrix fragments for mma.m8n8k4 with .f16").
static void mma884(double c[32][8], const h2 a[32][2], const h2 b[32][2],
                   int b_row_major) {
  for (int p = 0; p < 4; p++) {
    double A[8][4], B[4][8];
    for (int s = 0; s < 8; s++) {
      const int l = s < 4 ? 4 * p + s : 4 * p + 12 + s;
      const int hi = l >= 16;
      const double av[4] = {a[l][0].lo, a[l][0].hi, a[l][1].lo, a[l][1].hi};
      const double bv[4] = {b[l][0].lo, b[l][0].hi, b[l][1].lo, b[l][1].hi};
      for (int i = 0; i < 4; i++) {
        A[l % 4 + 4 * hi][i] = av[i];
        if (b_row_major)
          B[l % 4][i + 4 * hi] = bv[i];
        else
          B[i][l % 4 + 4 * hi] = bv[i];
      }
    }
    for (int s = 0; s < 8; s++) {
      const int l = s < 4 ? 4 * p + s : 4 * p + 12 + s;
      for (int i = 0; i < 8; i++) {
        const int row = (l & 1) + (i & 2) + 4 * (l >= 16);
        const int col = (i & 4) + (l & 2) + (i & 1);
        for (int k = 0; k < 4; k++)
          c[l][i] += A[row][k] * B[k][col];
      }
    }
  }
}

// attention_mma.clh's fold_kh for the whole warp, into block n of out.
static void fold(const double c[32][8], double out[32][16][4], int n) {
  for (int l = 0; l < 32; l++) {
    const int kh = M70_KH(l), pl = l ^ M70_KH_MASK;
    for (int j = 0; j < 4; j++)
      out[l][n][j] = c[l][4 * kh + j] + c[pl][4 * kh + j]; // kept + given
  }
}

// 16-bit tile as stage_tile writes it: chunk c of row j at c ^ (j % 8).
static void stage(double *tile, const double *src, int dmax) {
  for (int j = 0; j < KEYS; j++)
    for (int c = 0; c < dmax / 8; c++)
      for (int e = 0; e < 8; e++)
        tile[j * dmax + 8 * (c ^ (j & 7)) + e] = src[j * dmax + 8 * c + e];
}

// Four halves at M70_TILE_AT(j, h) as two registers (one 8-byte load).
static void ld64(h2 r[2], const double *tile, int j, int h, int dmax) {
  const double *p = tile + M70_TILE_AT(j, h, dmax);
  r[0].lo = p[0];
  r[0].hi = p[1];
  r[1].lo = p[2];
  r[1].hi = p[3];
}

// Fragment f (S or O: nblk blocks of 8 columns) must hold ref at the
// positions attention_mma.clh reads them from, each element exactly once.
static void check_held(const char *what, int dmax, int nblk,
                       const double f[32][16][4], const double ref[ROWS][128]) {
  static int seen[ROWS][128];
  memset(seen, 0, sizeof seen);
  for (int l = 0; l < 32; l++)
    for (int n = 0; n < nblk; n++)
      for (int j = 0; j < 4; j++) {
        const int row = M70_ROW0(l) + 2 * (j >> 1);
        const int col = 8 * n + M70_COL0(l) + (j & 1);
        ck_assert_msg(f[l][n][j] == ref[row][col],
                      "d%d %s lane %d n %d j %d: %g, want [%d][%d] = %g", dmax,
                      what, l, n, j, f[l][n][j], row, col, ref[row][col]);
        seen[row][col]++;
      }
  for (int i = 0; i < ROWS; i++)
    for (int c = 0; c < 8 * nblk; c++)
      ck_assert_msg(seen[i][c] == 1, "d%d %s[%d][%d] held %d times", dmax, what,
                    i, c, seen[i][c]);
}

static void check_tile(int dmax) {
  static double q[ROWS * 128], k[KEYS * 128], v[KEYS * 128];
  static double kt[KEYS * 128], vt[KEYS * 128];
  static double s[ROWS][128], o_ref[ROWS][128];
  static double sc[32][16][4], o[32][16][4];
  tu_rng r;
  tu_rng_init(&r, tu_seed() + (uint64_t)dmax);
  // Small integers: every sum below is exact in double.
  for (int i = 0; i < ROWS * dmax; i++)
    q[i] = tu_int(&r, -8, 8);
  for (int i = 0; i < KEYS * dmax; i++) {
    k[i] = tu_int(&r, -8, 8);
    v[i] = tu_int(&r, -8, 8);
  }
  stage(kt, k, dmax);
  stage(vt, v, dmax);
  for (int i = 0; i < ROWS; i++)
    for (int j = 0; j < KEYS; j++) {
      s[i][j] = 0;
      for (int d = 0; d < dmax; d++)
        s[i][j] += q[i * dmax + d] * k[j * dmax + d];
    }
  // P = S (the layout check needs no softmax).
  for (int i = 0; i < ROWS; i++)
    for (int d = 0; d < dmax; d++) {
      o_ref[i][d] = 0;
      for (int j = 0; j < KEYS; j++)
        o_ref[i][d] += s[i][j] * v[j * dmax + d];
    }

  // QK^T: Q fragments from the lane's row (fragment row `own`).
  static h2 qf[32][128 / 16][4];
  for (int l = 0; l < 32; l++) {
    const int own = (l >> 1) & 1, row = M70_ROW0(l) + 2 * own;
    ck_assert_int_eq(row, M70_AROW(l));
    for (int kk = 0; kk < dmax / 16; kk++) {
      const int d = 16 * kk + M70_KD(l);
      const int off[4] = {0, 2, 8, 10};
      for (int e = 0; e < 4; e++) {
        qf[l][kk][e].lo = q[row * dmax + d + off[e]];
        qf[l][kk][e].hi = q[row * dmax + d + off[e] + 1];
      }
    }
  }
  for (int n = 0; n < KEYS / 8; n++) {
    double c[32][8];
    memset(c, 0, sizeof c);
    for (int kk = 0; kk < dmax / 16; kk++)
      for (int h = 0; h < 2; h++) {
        h2 a[32][2], b[32][2];
        for (int l = 0; l < 32; l++) {
          a[l][0] = qf[l][kk][2 * h];
          a[l][1] = qf[l][kk][2 * h + 1];
          ld64(b[l], kt, 8 * n + M70_KKEY(l), 16 * kk + 8 * h + M70_KD(l),
               dmax);
        }
        mma884(c, a, b, 0);
      }
    fold(c, sc, n);
  }
  check_held("S", dmax, KEYS / 8, sc, s);

  // PV: P traded with lane ^ M70_P_MASK into A fragments.
  static h2 pa[32][KEYS / 8][2];
  for (int l = 0; l < 32; l++)
    for (int m = 0; m < KEYS / 8; m++) {
      const int own = (l >> 1) & 1, pl = l ^ M70_P_MASK;
      const int pown = (pl >> 1) & 1;
      const h2 r0 = {sc[l][m][0], sc[l][m][1]}, r1 = {sc[l][m][2], sc[l][m][3]};
      const h2 g0 = {sc[pl][m][0], sc[pl][m][1]};
      const h2 g1 = {sc[pl][m][2], sc[pl][m][3]};
      const h2 got = pown ? g0 : g1;
      pa[l][m][0] = own ? got : r0;
      pa[l][m][1] = own ? r1 : got;
    }
  for (int n = 0; n < dmax / 8; n++) {
    double c[32][8];
    memset(c, 0, sizeof c);
    for (int m = 0; m < KEYS / 8; m++) {
      h2 a[32][2], b[32][2];
      for (int l = 0; l < 32; l++) {
        a[l][0] = pa[l][m][0];
        a[l][1] = pa[l][m][1];
        ld64(b[l], vt, 8 * m + M70_VKEY(l), 8 * n + M70_VD(l), dmax);
      }
      mma884(c, a, b, 1);
    }
    fold(c, o, n);
  }
  check_held("O", dmax, dmax / 8, o, o_ref);
}

START_TEST(qk_and_pv_d64) {
  check_tile(64);
}
END_TEST

START_TEST(qk_and_pv_d128) {
  check_tile(128);
}
END_TEST

// The row reductions (quad_max / quad_sum with masks 2 and 8) must span
// exactly the lanes of a fragment row, and one lane (the fr_lead test of
// attention_mma.clh) writes each row.
START_TEST(row_lanes) {
  for (int l = 0; l < 32; l++) {
    int leads = 0;
    for (int m = 0; m < 32; m++) {
      const int x = l ^ m;
      const int mate = x == 0 || x == M70_ROW_MASK1 || x == M70_ROW_MASK2 ||
                       x == (M70_ROW_MASK1 | M70_ROW_MASK2);
      ck_assert_msg((M70_ROW0(m) == M70_ROW0(l)) == mate,
                    "lanes %d and %d: rows %d, %d", l, m, M70_ROW0(l),
                    M70_ROW0(m));
      if (mate && (m & (M70_ROW_MASK1 | M70_ROW_MASK2)) == 0)
        leads++;
    }
    ck_assert_int_eq(leads, 1);
  }
}
END_TEST

int main(void) {
  Suite *s = suite_create("mma70_layout");
  TCase *tc = tcase_create("layout");
  tcase_add_test(tc, qk_and_pv_d64);
  tcase_add_test(tc, qk_and_pv_d128);
  tcase_add_test(tc, row_lanes);
  suite_add_tcase(s, tc);
  return tu_run_unit_suite(s);
}
