// SPDX-License-Identifier: Apache-2.0
// Flash attention (online softmax over key tiles staged in local memory) for
// clattn_attention (PAGED=0: packed varlen k/v) and clattn_paged_attention
// (PAGED=1: paged KV cache through a block table), plus attention_merge, which
// combines split-KV partials. docs/kernels.md describes the tiling.
//
// Required -D: PAGED (0|1), BLOCK_M (rows per work-group), BLOCK_N (keys per
//   tile), LANES (work-items per row), D_MAX (64|128|256: head_dim bucket),
//   SG (0, or LANES to use sub-group functions), WG (= BLOCK_M * LANES),
//   LOCAL_BYTES (the __local bytes the registry row declares; checked here).
// Optional -D: MMA (0, or 80 / 75: the NVIDIA tensor-core body of
//   attention_mma.clh replaces the portable kernel; its tile rules are there);
//   CPU (0, or 1: one work-item computes all BLOCK_M rows as vectors of
//   BLOCK_M floats, the CPU rows' body; needs LANES == 1, WG == 1 and
//   BLOCK_M 4, 8 or 16).
// Extensions: none when SG == 0; SG > 0 needs cl_khr_subgroups or
//   cl_intel_subgroups (core functions only) and falls back to local memory
//   at run time when the device's sub-groups are not one row each.
// Launch, attention: local (LANES, WG / LANES, 1), or (WG, 1, 1) when
//   LANES == 1; global (nblk * local0, kv_heads * local1, nsplit) where
//   nblk = floor(total_q * G / BLOCK_M) + batch and G = heads / kv_heads.
// Launch, attention_merge (nsplit > 1 only): local (MERGE_WG, 1, 1), global
//   (MERGE_WG * ceil(MERGE_P * heads * ceil(head_dim / 4) / MERGE_WG),
//   total_q, 1).
#include "attention_load.clh"

#if !defined(PAGED) || !defined(BLOCK_M) || !defined(BLOCK_N) ||               \
    !defined(LANES) || !defined(D_MAX) || !defined(SG) || !defined(WG) ||      \
    !defined(LOCAL_BYTES)
#error                                                                         \
    "attention.cl needs -DPAGED -DBLOCK_M -DBLOCK_N -DLANES -DD_MAX -DSG -DWG -DLOCAL_BYTES"
#endif
#ifndef MMA
#define MMA 0
#endif
#ifndef CPU
#define CPU 0
#endif
#define MERGE_WG 64
#define MERGE_P 8 // work-items per (head, chunk) pair of attention_merge

#if MMA == 0
#if CPU
#if LANES != 1 || WG != 1 || SG != 0 ||                                        \
    (BLOCK_M != 4 && BLOCK_M != 8 && BLOCK_M != 16)
#error "attention.cl: CPU=1 needs LANES 1, WG 1, SG 0 and BLOCK_M 4, 8 or 16"
#endif
#elif WG != BLOCK_M * LANES || BLOCK_N % LANES != 0 || D_MAX % (4 * LANES) != 0
#error                                                                         \
    "attention.cl: inconsistent tile (WG, BLOCK_N % LANES or D_MAX % (4 * LANES))"
#endif

#if SG > 0
#if SG != LANES
#error "attention.cl: SG must equal LANES (one sub-group per row)"
#endif
// Only built-in functions are used: no #pragma OPENCL EXTENSION is needed.
#if !defined(cl_khr_subgroups) && !defined(cl_intel_subgroups)
#error "attention.cl: SG > 0 needs cl_khr_subgroups or cl_intel_subgroups"
#endif
#endif

#define CH (D_MAX / 4) // float4 chunks per row
#define CAT_(a, b) a##b
#define CAT(a, b) CAT_(a, b)
#define VR CAT(float, BLOCK_M) // CPU=1: one float per row of the block
#define VI CAT(int, BLOCK_M)
#define VLOAD CAT(vload, BLOCK_M)
#define VSTORE CAT(vstore, BLOCK_M)
#if CPU
#define KS4 CH // kv_s row: no bank padding on a CPU
#else
#define KS4 (CH + 1) // padded q_s/kv_s row (bank spread)
#endif
#define SS (BLOCK_N + 1)     // padded s_s row
#define NJ (BLOCK_N / LANES) // keys of a tile per work-item
#define NC (CH / LANES)      // output chunks per work-item

#if LANES > 1
#define LX LANES
#define LY BLOCK_M
#define LOCAL_SCORES (4 * BLOCK_M * (SS + LANES))
#else
#define LX WG
#define LY 1
#define LOCAL_SCORES 0
#endif
#if CPU // Q, O and P live in private memory
#define LOCAL_TOTAL (16 * KS4 * BLOCK_N + 8 * PAGED * BLOCK_N + 8)
#else
#define LOCAL_TOTAL                                                            \
  (16 * KS4 * (BLOCK_M + BLOCK_N) + LOCAL_SCORES + 8 * PAGED * BLOCK_N + 8)
#endif
// The registry row's LOCAL_MEM must be exactly what the kernel declares.
typedef char clattn_local_bytes_check[(LOCAL_TOTAL == LOCAL_BYTES) ? 1 : -1];
#endif // MMA == 0

// Code shape rules, from bugs met on the way (keep them when editing):
// - both kernels end with a barrier after their divergent stores: PoCL (3.1
//   and 6.0) otherwise took the divergent branch right before the kernel's
//   exit (`if (row_ok)`) for the first work-item only, and rows past the
//   sequence wrote out of bounds;
// - loop counters are declared before their `for`: a for-scoped declaration
//   makes clang emit the loop's exit block ahead of its body, llvm-spirv 15
//   keeps that order and spirv-val rejects it (blocks must follow their
//   dominators);
// - conditions that involve loads use `&` rather than `&&`, and the quotient
//   and remainder by CH are unsigned: both keep LLVM from emitting `freeze`,
//   which llvm-spirv 15 cannot translate;
// - helpers are ATT_INLINE (attention_load.clh); `sc` is declared before
//   `o` (the memset zeroing `o` otherwise lands between two OpVariables).

// First block (grid dim 0) of sequence s: every sequence owns at least
// ceil(q_len * G / BLOCK_M) blocks from here on, without a host-side scan.
ATT_INLINE long seq_block_start(const __global int *cu_q, int s, int G) {
  return ((long)cu_q[s] * G) / BLOCK_M + s;
}

// Largest s in [0, batch) with seq_block_start(s) <= b (cu_q is monotone).
ATT_INLINE int seq_of_block(const __global int *cu_q, int batch, int G,
                            long b) {
  int lo = 0, hi = batch - 1;
  while (lo < hi) {
    const int mid = (lo + hi + 1) >> 1;
    if (seq_block_start(cu_q, mid, G) <= b)
      lo = mid;
    else
      hi = mid - 1;
  }
  return lo;
}

// Largest s in [0, batch) with cu_q[s] <= tq.
ATT_INLINE int seq_of_token(const __global int *cu_q, int batch, long tq) {
  int lo = 0, hi = batch - 1;
  while (lo < hi) {
    const int mid = (lo + hi + 1) >> 1;
    if (cu_q[mid] <= tq)
      lo = mid;
    else
      hi = mid - 1;
  }
  return lo;
}

// This work-item's share of the check 0 <= cu[0] <= ... <= cu[batch] <= total.
ATT_INLINE int cu_ok_part(const __global int *cu, int batch, long total,
                          int tid, int nwi) {
  int ok = 1, i;
  for (i = tid; i <= batch; i += nwi) {
    const int x = cu[i];
    const int prev = i > 0 ? cu[i - 1] : 0;
    ok &= (x >= 0) & (x <= total) & (prev <= x);
  }
  return ok;
}

ATT_INLINE float hsum4(float4 a) {
  return (a.s0 + a.s1) + (a.s2 + a.s3);
}

#if PAGED
// Physical block (-1: past k_len or a bad table entry, never read through)
// and slot of keys kb .. kb + BLOCK_N - 1. Returns how many of this
// work-item's keys got -1. Shared by the portable, CPU and tensor-core
// bodies.
// Physical block of key kj (< k_len) and, through slot, its slot there; -1
// (reported as a bad block table, slot untouched) for an entry outside
// 0 .. num_blocks - 1.
ATT_INLINE int page_of(const __global int *btrow, long kj, int block_size,
                       long num_blocks, __global uint *st, int *slot) {
  // A 32-bit division where kj fits (64-bit ones are long software sequences
  // on GPUs, done per key).
  const long bi =
      kj <= INT_MAX ? (long)((int)kj / block_size) : kj / block_size;
  const int e = btrow[bi];
  if ((e < 0) | (e >= num_blocks)) {
    report_status(st, ST_BAD_BLOCK_TABLE);
    return -1;
  }
  *slot = (int)(kj - bi * block_size);
  return e;
}

ATT_INLINE int page_lookup(__local int *kblk, __local int *kslot,
                           const __global int *btrow, long kb, long k_len,
                           int block_size, long num_blocks, int tid,
                           __global uint *st) {
  int j, nbad = 0;
  for (j = tid; j < BLOCK_N; j += WG) {
    const long kj = kb + j;
    int pb = -1, slot = 0;
    if (kj < k_len)
      pb = page_of(btrow, kj, block_size, num_blocks, st, &slot);
    kblk[j] = pb;
    kslot[j] = slot;
    nbad += pb < 0;
  }
  return nbad;
}
#endif

#if MMA
#include "attention_mma.clh"
#else

// Stages keys kb .. kb + BLOCK_N - 1 of K or V as f32; rows past k_len (or
// on a bad page) and columns past head_dim read as 0. Packed (PAGED=0): row
// j sits at off + (k0 + kb + j) * s0 + kvh * s1; paged: at off + block * s0
// + slot * s1 + kvh * s2, times its per-token-head scale at sc + block *
// sc_s0 + slot * sc_s1 + kvh * sc_s2 when sc_mode is SCALE_TOKEN_HEAD
// (per-tensor scales are folded into the scores and the output instead).
ATT_INLINE void load_kv_tile(__local float4 *dst, const __global uchar *src,
                             int dt, long off, long s0, long s1, long s2,
                             const __global float *sc, long sc_s0, long sc_s1,
                             long sc_s2, int sc_mode, int kvh, long kb, long k0,
                             long k_len, int head_dim, int dch, int tid,
                             const __local int *kblk,
                             const __local int *kslot) {
  int e;
  for (e = tid; e < BLOCK_N * CH; e += WG) {
    const int j = (int)((uint)e / CH), c = (int)((uint)e % CH);
    float4 x = (float4)(0.0f);
#if PAGED
    const int pb = kblk[j];
    if ((pb >= 0) & (c < dch)) {
      x = ld4_kv(src, dt, off + pb * s0 + kslot[j] * s1 + kvh * s2 + 4 * c,
                 head_dim - 4 * c);
      if (sc_mode == SCALE_TOKEN_HEAD)
        x *= sc[pb * sc_s0 + kslot[j] * sc_s1 + kvh * sc_s2];
    }
#else
    if ((kb + j < k_len) & (c < dch))
      x = ld4_kv(src, dt, off + (k0 + kb + j) * s0 + kvh * s1 + 4 * c,
                 head_dim - 4 * c);
#endif
    dst[j * KS4 + c] = x;
  }
}

#if CPU
// The CPU body's tile products, for K/V rows read in place from global memory
// (f32, full tiles) or staged in kv_s: row j of the tile starts at kp +
// ko[j]. S^T = K Q^T, then O^T = alpha O^T + V^T P^T, as rank-1 updates of
// row vectors (the register blocking of a BLAS micro-kernel).
// The SPIR-V build multiplies and adds (no contraction): PoCL 6.0 turns the
// module's OpenCL.std fma (or mad, from a contracted a * b + c) of float16
// into an out-of-line library call per use, 3.5x slower; PoCL's source path
// inlines fma.
#if defined(__SPIR__)
#define VFMA(a, b, c) ((a) * (b) + (c))
#else
#define VFMA(a, b, c) fma(a, b, c)
#endif
#define CPU_TILE_FNS(AS, SFX)                                                  \
  ATT_INLINE void cpu_qk_##SFX(VR *sc, const VR *qt, const AS float *kp,       \
                               const long *ko, int d4) {                       \
    _Pragma("OPENCL FP_CONTRACT OFF") int j, d;                                \
    _Pragma("unroll") for (j = 0; j < BLOCK_N; j++) sc[j] = (VR)(0.0f);        \
    for (d = 0; d < d4; d++) {                                                 \
      const VR qd = qt[d];                                                     \
      _Pragma("unroll") for (j = 0; j < BLOCK_N; j++) sc[j] =                  \
          VFMA((VR)(kp[ko[j] + d]), qd, sc[j]);                                \
    }                                                                          \
  }                                                                            \
  ATT_INLINE void cpu_pv_##SFX(VR *ot, const VR *sc, VR alpha,                 \
                               const AS float *vp, const long *vo, int d4) {   \
    _Pragma("OPENCL FP_CONTRACT OFF") int j, d;                                \
    for (d = 0; d < d4; d++) {                                                 \
      VR od = ot[d] * alpha;                                                   \
      _Pragma("unroll") for (j = 0; j < BLOCK_N; j++) od =                     \
          VFMA((VR)(vp[vo[j] + d]), sc[j], od);                                \
      ot[d] = od;                                                              \
    }                                                                          \
  }
CPU_TILE_FNS(__global, g)
CPU_TILE_FNS(__local, l)

// Prefetches the n bytes at p, a cache line at a time. The CPU body fetches
// the next tile's K and V rows this way: in an NHD cache (or packed K/V) a
// key's row is kv_heads * head_dim elements from the next, a page apart
// at d128 x 8 heads f32, where a CPU's own prefetchers do not follow.
// Source builds only: llvm-spirv 15 cannot translate __builtin_prefetch,
// and PoCL 6.0's OpenCL prefetch() gave no gain from SPIR-V (prefill 4%
// slower; docs/performance.md).
#if !defined(__SPIR__)
#define CPU_PREFETCH 1
ATT_INLINE int kv_bytes(int dt) { // bytes per element of a K/V dtype
  return dt == DT_F32 ? 4 : (dt <= DT_BF16 ? 2 : 1);
}

ATT_INLINE void cpu_prefetch(const __global uchar *p, int n) {
  int b;
  for (b = 0; b < n; b += 64)
    __builtin_prefetch(p + b);
}
#else
#define CPU_PREFETCH 0
#endif
#endif

// Row idx of a block (token t, group member g) = divmod(idx, G); returns
// whether it is a row of the sequence and sets its head and the keys it sees,
// [*rlo, *rhi] (empty past the sequence).
ATT_INLINE int row_of(long idx, long nrows, int G, int kvh, long shift,
                      long k_len, int wl, int wr, long *t, int *h, long *rlo,
                      long *rhi) {
  const int ok = idx < nrows;
  *t = ok ? idx / G : 0;
  *h = kvh * G + (int)(idx - *t * G);
  const long p = *t + shift;
  *rlo = ok ? (wl < 0 ? 0 : max(0L, p - wl)) : 1;
  *rhi = ok ? (wr < 0 ? k_len - 1 : min(k_len - 1, p + wr)) : 0;
  return ok;
}

// Chunk c of row ri's query (f32, zero past head_dim or past the sequence).
ATT_INLINE float4 q_chunk(const __global uchar *q, int q_dt, long q_off,
                          long q_s0, long q_s1, long q0, int kvh, int G,
                          long ri, long nrows, int c, int dch, int head_dim) {
  float4 x = (float4)(0.0f);
  if ((ri < nrows) & (c < dch)) {
    const long tt = ri / G;
    const long hh = (long)kvh * G + (ri - tt * G);
    x = ld4_tail(q, q_dt, q_off + (q0 + tt) * q_s0 + hh * q_s1 + 4 * c,
                 head_dim - 4 * c);
  }
  return x;
}

// Stores a finished row (query token tq, head h) whose output chunks
// lane + i * LANES are o[i]: with splits, the partial (m, l, unnormalised o)
// for attention_merge; else the sink joins, then out = o / l and lse. vs is
// the per-tensor V scale of a quantized cache (1 otherwise).
ATT_INLINE void
finish_row(float4 *o, float m_run, float l_run, int lane, int dch, int head_dim,
           int nsplit, int split, long total_q, long tq, int heads, int h,
           __global float *ws, __global uchar *out, int o_dt, long o_off,
           long o_s0, long o_s1, __global float *lse, long lse_off, long lse_s0,
           const __global float *sinks, long sinks_off, float vs) {
  int i;
  if (nsplit > 1) {
    __global float *w =
        ws + (((long)split * total_q + tq) * heads + h) * (head_dim + 2);
    if (lane == 0) {
      w[0] = m_run;
      w[1] = l_run;
    }
    for (i = 0; i < NC; i++) {
      const int c = lane + i * LANES;
      if (c < dch)
        stf4_tail(w + 2 + 4 * c, head_dim - 4 * c, o[i] * vs);
    }
    return;
  }
  if (sinks) {
    const float sk = sinks[sinks_off + h];
    const float mf = fmax(m_run, sk);
    const float ms = mf == -INFINITY ? 0.0f : mf;
    const float a = exp(m_run - ms);
    l_run = l_run * a + exp(sk - ms);
    for (i = 0; i < NC; i++)
      o[i] *= a;
    m_run = mf;
  }
  const float inv = l_run > 0.0f ? vs / l_run : 0.0f;
  const long ob = o_off + tq * o_s0 + h * o_s1;
  for (i = 0; i < NC; i++) {
    const int c = lane + i * LANES;
    if (c < dch)
      st4_tail(out, o_dt, ob + 4 * c, head_dim - 4 * c, o[i] * inv);
  }
  if (lse && lane == 0)
    lse[lse_off + h * lse_s0 + tq] =
        l_run > 0.0f ? m_run + log(l_run) : -INFINITY;
}

__kernel __attribute__((reqd_work_group_size(LX, LY, 1))) void
attention(const __global uchar *q, ulong q_off, long q_s0, long q_s1, int q_dt,
          const __global uchar *k, ulong k_off, long k_s0, long k_s1, long k_s2,
          int k_dt, float k_scale, const __global float *k_sc, ulong k_sc_off,
          long k_sc_s0, long k_sc_s1, long k_sc_s2, int k_sc_mode,
          const __global uchar *v, ulong v_off, long v_s0, long v_s1, long v_s2,
          int v_dt, float v_scale, const __global float *v_sc, ulong v_sc_off,
          long v_sc_s0, long v_sc_s1, long v_sc_s2, int v_sc_mode,
          const __global int *cu_q, ulong cu_q_off, const __global int *kinfo,
          ulong kinfo_off, const __global int *bt, ulong bt_off, long bt_stride,
          int max_blocks, int block_size, long num_blocks, __global uchar *out,
          ulong o_off, long o_s0, long o_s1, int o_dt, __global float *lse,
          ulong lse_off, long lse_s0, const __global float *alibi,
          ulong alibi_off, const __global float *sinks, ulong sinks_off,
          __global uint *status, ulong status_off, __global float *ws,
          int batch, int heads, int kv_heads, int head_dim, long total_q,
          long total_k, float scale, float softcap, int wl, int wr) {
#if !CPU
  __local float4 q_s[BLOCK_M * KS4];
#endif
  __local float4 kv_s[BLOCK_N * KS4];   // K tile, then V tile
#if LANES > 1
  __local float s_s[BLOCK_M * SS];      // P of the tile, per row
  __local float red_s[BLOCK_M * LANES]; // per-lane row maxima
#endif
#if PAGED
  __local int kblk_s[BLOCK_N], kslot_s[BLOCK_N];
#else
  __local int *kblk_s = 0, *kslot_s = 0;
#endif
  __local int flag_s[2];

  int i, j, e;
  long tile;

  const int lane = LANES > 1 ? (int)get_local_id(0) : 0;
  const int r = LANES > 1 ? (int)get_local_id(1) : (int)get_local_id(0);
  const int tid = r * LANES + lane;
  const long blk = get_group_id(0);
  const int kvh = (int)get_group_id(1);
  const int split = (int)get_group_id(2);
  const int nsplit = (int)get_num_groups(2);
  const int G = heads / kv_heads;
  const int dch = (head_dim + 3) >> 2;
  __global uint *st = status ? status + status_off : 0;
  cu_q += cu_q_off;
  kinfo += kinfo_off;
  // Per-tensor dequant scales (host value or one f32 in a buffer) are folded
  // into the score scale (K) and the output (V); per-token-head scales are
  // applied to each staged row.
  if (k_sc)
    k_sc += k_sc_off;
  if (v_sc)
    v_sc += v_sc_off;
  const float ks = tensor_scale(k_sc_mode, k_sc, 0, k_scale);
  const float vs = tensor_scale(v_sc_mode, v_sc, 0, v_scale);
  const float qk_scale = scale * ks;

  // Work-group-wide checks: cu_seqlens_q as a whole (the block -> sequence
  // search needs it monotone) and whether sub-groups are exactly rows.
  if (tid == 0) {
    flag_s[0] = 1;
    flag_s[1] = 1;
  }
  barrier(CLK_LOCAL_MEM_FENCE);
  if (!cu_ok_part(cu_q, batch, total_q, tid, WG))
    atomic_and(&flag_s[0], 0);
#if SG > 0
  if ((get_max_sub_group_size() != LANES) | (get_sub_group_size() != LANES) |
      (get_sub_group_local_id() != (uint)lane))
    atomic_and(&flag_s[1], 0);
#endif
  barrier(CLK_LOCAL_MEM_FENCE);
  if (!flag_s[0]) {
    if ((blk == 0) & (kvh == 0) & (split == 0) & (tid == 0))
      report_status(st, ST_BAD_CU_SEQLENS);
    return;
  }
#if SG > 0
  const int use_sg = flag_s[1];
#endif

  const int s = seq_of_block(cu_q, batch, G, blk);
  const long sb = seq_block_start(cu_q, s, G);
  const long q0 = cu_q[s];
  const long q_len = cu_q[s + 1] - q0;
  const long nrows = q_len * G;
  const long row0 = (blk - sb) * BLOCK_M;
  if ((sb > blk) | (row0 >= nrows))
    return; // surplus block of the upper-bound grid
  const int first = (tid == 0) & (row0 == 0) & (split == 0) & (kvh == 0);

#if PAGED
  const __global int *btrow = bt + bt_off + (long)s * bt_stride;
  const long k0 = 0;
  long k_len = kinfo[s];
  const long kcap = (long)max_blocks * block_size;
  if ((k_len < 0) | (k_len > kcap)) {
    if (first)
      report_status(st, ST_BAD_SEQ_LEN);
    k_len = clamp(k_len, 0L, kcap);
  }
#else
  const long k0 = kinfo[s], k1 = kinfo[s + 1];
  if ((k0 < 0) | (k1 < k0) | (k1 > total_k)) {
    if (first)
      report_status(st, ST_BAD_CU_SEQLENS);
    return;
  }
  const long k_len = k1 - k0;
#endif
  const long shift = k_len - q_len; // bottom-right alignment: p = t + shift

  // Keys any row of the group can see; tiles outside are never visited.
  const long rlast = min(row0 + BLOCK_M, nrows) - 1;
  const long pf = row0 / G + shift, pl = rlast / G + shift;
  const long lo = wl < 0 ? 0 : max(0L, pf - wl);
  const long hi = wr < 0 ? k_len - 1 : min(k_len - 1, pl + wr);
  const long lo_a = (lo / BLOCK_N) * BLOCK_N;
  const long ntiles = hi >= lo ? (hi - lo_a) / BLOCK_N + 1 : 0;
  const long tps = (ntiles + nsplit - 1) / nsplit;
  const long t_beg = min(ntiles, (long)split * tps);
  const long t_end = min(ntiles, t_beg + tps);

#if CPU
  // One work-item, all BLOCK_M rows at once: every row quantity is a vector
  // of BLOCK_M floats (VR), so S^T = K Q^T and O^T += V^T P^T are rank-1
  // updates of row vectors by broadcast K and V elements, the register
  // blocking of a BLAS micro-kernel, with no horizontal sums.
  // Per-row scalars go through private arrays and VLOAD/VSTORE (taking a
  // vector's address leaves an OpVariable outside the entry block).
  // ot comes last: the memset zeroing it must follow every OpVariable.
  VR sc[BLOCK_N]; // scores, then P, of the tile's keys
  VR qt[D_MAX];   // Q^T: column d of the block's rows
  long rlo_r[BLOCK_M], rhi_r[BLOCK_M];
  float row_f[2][BLOCK_M];
  int row_i[2][BLOCK_M];
  float4 o[CH]; // one row's output, for finish_row
  VR ot[D_MAX]; // O^T
  float *qf = (float *)qt;
  const int d4 = 4 * dch;
  int rr, d;
  for (rr = 0; rr < BLOCK_M; rr++) {
    long t, rlo, rhi;
    int h;
    const int ok = row_of(row0 + rr, nrows, G, kvh, shift, k_len, wl, wr, &t,
                          &h, &rlo, &rhi);
    rlo_r[rr] = rlo;
    rhi_r[rr] = rhi;
    row_f[0][rr] = (alibi && ok) ? alibi[alibi_off + h] : 0.0f;
    row_f[1][rr] = (float)(t + shift - lo_a);
    for (e = 0; e < CH; e++) {
      const float4 x = q_chunk(q, q_dt, (long)q_off, q_s0, q_s1, q0, kvh, G,
                               row0 + rr, nrows, e, dch, head_dim);
      qf[(4 * e) * BLOCK_M + rr] = x.s0;
      qf[(4 * e + 1) * BLOCK_M + rr] = x.s1;
      qf[(4 * e + 2) * BLOCK_M + rr] = x.s2;
      qf[(4 * e + 3) * BLOCK_M + rr] = x.s3;
    }
  }
  const VR slope = VLOAD(0, row_f[0]), pos = VLOAD(0, row_f[1]);
  const int use_alibi = alibi != 0;
  for (d = 0; d < D_MAX; d++)
    ot[d] = (VR)(0.0f);
  int nbad = 0; // keys of the tile on no page (PAGED)
#if PAGED
  if (t_beg < t_end)
    nbad = page_lookup(kblk_s, kslot_s, btrow, lo_a + t_beg * BLOCK_N, k_len,
                       block_size, num_blocks, tid, st);
#endif
  barrier(CLK_LOCAL_MEM_FENCE);

  VR m_run = (VR)(-INFINITY), l_run = (VR)(0.0f);
  const __local float *kvf = (const __local float *)kv_s;
  // One work-item: program order is enough between the tile loads and the
  // reads, so the loop has no barrier (PoCL would otherwise save every live
  // array around each one).
  for (tile = t_beg; tile < t_end; tile++) {
    const long kb = lo_a + tile * BLOCK_N;
    // Rows of K and V in place when they are f32 (unscaled) and every key of
    // the tile exists; staged as f32 otherwise (other dtypes, the last tile,
    // bad pages, a ragged head_dim).
    // (A bad page is counted by page_lookup: a reduction over kblk_s here
    // becomes llvm.vector.reduce.or or a freeze, which llvm-spirv 15 cannot
    // translate.)
    const int full =
        (kb + BLOCK_N <= k_len) & ((head_dim & 3) == 0) & (nbad == 0);
    long ko[BLOCK_N], vo[BLOCK_N], so[BLOCK_N];
    for (j = 0; j < BLOCK_N; j++) {
#if PAGED
      const long pb = kblk_s[j], sl = kslot_s[j];
      ko[j] = (long)k_off + pb * k_s0 + sl * k_s1 + kvh * k_s2;
      vo[j] = (long)v_off + pb * v_s0 + sl * v_s1 + kvh * v_s2;
#else
      ko[j] = (long)k_off + (k0 + kb + j) * k_s0 + kvh * k_s1;
      vo[j] = (long)v_off + (k0 + kb + j) * v_s0 + kvh * v_s1;
#endif
      so[j] = j * D_MAX;
    }
#if CPU_PREFETCH
    // The next tile's rows, while this one computes (cpu_prefetch).
    for (j = 0; j < BLOCK_N; j++) {
      const long kj = kb + BLOCK_N + j;
      long ko1 = -1, vo1 = 0;
#if PAGED
      // page_of without a status word: the tile's own lookup reports.
      int sl = 0;
      const int pe =
          kj < k_len ? page_of(btrow, kj, block_size, num_blocks, 0, &sl) : -1;
      if (pe >= 0) {
        ko1 = (long)k_off + pe * k_s0 + sl * k_s1 + kvh * k_s2;
        vo1 = (long)v_off + pe * v_s0 + sl * v_s1 + kvh * v_s2;
      }
#else
      if (kj < k_len) {
        ko1 = (long)k_off + (k0 + kj) * k_s0 + kvh * k_s1;
        vo1 = (long)v_off + (k0 + kj) * v_s0 + kvh * v_s1;
      }
#endif
      if (ko1 >= 0) {
        cpu_prefetch(k + ko1 * kv_bytes(k_dt), head_dim * kv_bytes(k_dt));
        cpu_prefetch(v + vo1 * kv_bytes(v_dt), head_dim * kv_bytes(v_dt));
      }
    }
#endif
    const int k_in_place = full & (k_dt == DT_F32);
    const int v_in_place = full & (v_dt == DT_F32);
    if (k_in_place) {
      cpu_qk_g(sc, qt, (const __global float *)k, ko, d4);
    } else {
      load_kv_tile(kv_s, k, k_dt, (long)k_off, k_s0, k_s1, k_s2, k_sc, k_sc_s0,
                   k_sc_s1, k_sc_s2, k_sc_mode, kvh, kb, k0, k_len, head_dim,
                   dch, tid, kblk_s, kslot_s);
      cpu_qk_l(sc, qt, kvf, so, d4);
    }
    // Keys j of the tile that row rr sees: vlo[rr] <= j <= vhi[rr].
    for (rr = 0; rr < BLOCK_M; rr++) {
      row_i[0][rr] = (int)clamp(rlo_r[rr] - kb, -1L, (long)BLOCK_N);
      row_i[1][rr] = (int)clamp(rhi_r[rr] - kb, -1L, (long)BLOCK_N);
    }
    const VI vlo = VLOAD(0, row_i[0]), vhi = VLOAD(0, row_i[1]);
    const VR dpos = pos - (float)(tile * BLOCK_N); // p - kb per row
    VR mt = (VR)(-INFINITY);
#pragma unroll
    for (j = 0; j < BLOCK_N; j++) {
      VR x = sc[j] * qk_scale;
      if (softcap > 0.0f)
        x = softcap * tanh(x / softcap);
      if (use_alibi)
        x -= slope * fabs((VR)((float)j) - dpos);
      VI vis = ((VI)(j) >= vlo) & ((VI)(j) <= vhi);
#if PAGED
      vis &= (VI)(kblk_s[j] >= 0 ? -1 : 0);
#endif
      // Operators, not select/fmax: PoCL 6.0 calls those out of line for
      // float16 from SPIR-V. mt never becomes NaN, so max == fmax here.
      sc[j] = vis ? x : (VR)(-INFINITY);
      mt = sc[j] > mt ? sc[j] : mt;
    }
    const VR m_new = mt > m_run ? mt : m_run;
    const VR m_safe = m_new == (VR)(-INFINITY) ? (VR)(0.0f) : m_new;
    const VR alpha = exp(m_run - m_safe);
    VR psum = (VR)(0.0f);
#pragma unroll
    for (j = 0; j < BLOCK_N; j++) {
      sc[j] = exp(sc[j] - m_safe);
      psum += sc[j];
    }
    if (v_in_place) {
      cpu_pv_g(ot, sc, alpha, (const __global float *)v, vo, d4);
    } else {
      load_kv_tile(kv_s, v, v_dt, (long)v_off, v_s0, v_s1, v_s2, v_sc, v_sc_s0,
                   v_sc_s1, v_sc_s2, v_sc_mode, kvh, kb, k0, k_len, head_dim,
                   dch, tid, kblk_s, kslot_s);
      cpu_pv_l(ot, sc, alpha, kvf, so, d4);
    }
    l_run = l_run * alpha + psum;
    m_run = m_new;
#if PAGED
    if (tile + 1 < t_end)
      nbad = page_lookup(kblk_s, kslot_s, btrow, kb + BLOCK_N, k_len,
                         block_size, num_blocks, tid, st);
#endif
  }

  // Rows past the sequence store nothing.
  const float *of = (const float *)ot;
  VSTORE(m_run, 0, row_f[0]);
  VSTORE(l_run, 0, row_f[1]);
  for (rr = 0; rr < BLOCK_M; rr++) {
    long t, rlo, rhi;
    int h;
    if (!row_of(row0 + rr, nrows, G, kvh, shift, k_len, wl, wr, &t, &h, &rlo,
                &rhi))
      continue;
    for (e = 0; e < dch; e++)
      o[e] =
          (float4)(of[(4 * e) * BLOCK_M + rr], of[(4 * e + 1) * BLOCK_M + rr],
                   of[(4 * e + 2) * BLOCK_M + rr],
                   of[(4 * e + 3) * BLOCK_M + rr]);
    finish_row(o, row_f[0][rr], row_f[1][rr], 0, dch, head_dim, nsplit, split,
               total_q, q0 + t, heads, h, ws, out, o_dt, (long)o_off, o_s0,
               o_s1, lse, (long)lse_off, lse_s0, sinks, (long)sinks_off, vs);
  }
#else
  // This work-item's row.
  long t, rlo, rhi;
  int h;
  const int row_ok =
      row_of(row0 + r, nrows, G, kvh, shift, k_len, wl, wr, &t, &h, &rlo, &rhi);
  const long tq = q0 + t;
  const long p = t + shift;
  const float slope = (alibi && row_ok) ? alibi[alibi_off + h] : 0.0f;
  // Rows past the sequence skip the arithmetic (not the barriers or
  // sub-group calls): a whole tile of them is common in decode.
  const int cdots = row_ok ? dch : 0, pv_keys = row_ok ? BLOCK_N : 0;

  // Stage Q (f32, zero past head_dim in the last chunk).
  for (e = tid; e < BLOCK_M * CH; e += WG) {
    const int rr = (int)((uint)e / CH), c = (int)((uint)e % CH);
    q_s[rr * KS4 + c] = q_chunk(q, q_dt, (long)q_off, q_s0, q_s1, q0, kvh, G,
                                row0 + rr, nrows, c, dch, head_dim);
  }
#if PAGED
  if (t_beg < t_end)
    page_lookup(kblk_s, kslot_s, btrow, lo_a + t_beg * BLOCK_N, k_len,
                block_size, num_blocks, tid, st);
#endif
  barrier(CLK_LOCAL_MEM_FENCE);

  float m_run = -INFINITY, l_run = 0.0f;
  float sc[NJ]; // scores, then P, of keys j = lane + i * LANES of a tile
  float4 o[NC]; // output chunks lane + i * LANES
  for (i = 0; i < NC; i++)
    o[i] = (float4)(0.0f);

  for (tile = t_beg; tile < t_end; tile++) {
    const long kb = lo_a + tile * BLOCK_N;
    load_kv_tile(kv_s, k, k_dt, (long)k_off, k_s0, k_s1, k_s2, k_sc, k_sc_s0,
                 k_sc_s1, k_sc_s2, k_sc_mode, kvh, kb, k0, k_len, head_dim, dch,
                 tid, kblk_s, kslot_s);
    barrier(CLK_LOCAL_MEM_FENCE);

    // Scores of this work-item's keys j = lane + i * LANES.
#if NJ <= 8
    {
      float4 acc[NJ];
      int c;
      for (i = 0; i < NJ; i++)
        acc[i] = (float4)(0.0f);
      for (c = 0; c < cdots; c++) {
        const float4 qv = q_s[r * KS4 + c];
        for (i = 0; i < NJ; i++)
          acc[i] += qv * kv_s[(lane + i * LANES) * KS4 + c];
      }
      for (i = 0; i < NJ; i++)
        sc[i] = hsum4(acc[i]);
    }
#else
    for (i = 0; i < NJ; i++) {
      float4 acc = (float4)(0.0f);
      int c;
      for (c = 0; c < cdots; c++)
        acc += q_s[r * KS4 + c] * kv_s[(lane + i * LANES) * KS4 + c];
      sc[i] = hsum4(acc);
    }
#endif
    float pmax = -INFINITY;
    for (i = 0; i < NJ; i++) {
      const int jj = lane + i * LANES;
      const long kj = kb + jj;
      float x = sc[i] * qk_scale;
      if (softcap > 0.0f)
        x = softcap * tanh(x / softcap);
      x -= slope * (float)(kj > p ? kj - p : p - kj);
      int vis = (kj >= rlo) & (kj <= rhi);
#if PAGED
      vis &= kblk_s[jj] >= 0;
#endif
      sc[i] = vis ? x : -INFINITY;
      pmax = fmax(pmax, sc[i]);
    }
#if LANES > 1
    red_s[r * LANES + lane] = pmax;
#endif
    barrier(CLK_LOCAL_MEM_FENCE);

    // V tile into the same buffer; meanwhile, the online softmax update.
    load_kv_tile(kv_s, v, v_dt, (long)v_off, v_s0, v_s1, v_s2, v_sc, v_sc_s0,
                 v_sc_s1, v_sc_s2, v_sc_mode, kvh, kb, k0, k_len, head_dim, dch,
                 tid, kblk_s, kslot_s);
    float mt = pmax;
#if LANES > 1
#if SG > 0
    if (use_sg) {
      mt = sub_group_reduce_max(pmax);
    } else
#endif
    {
      int l;
      for (l = 0; l < LANES; l++)
        mt = fmax(mt, red_s[r * LANES + l]);
    }
#endif
    const float m_new = fmax(m_run, mt);
    const float m_safe = m_new == -INFINITY ? 0.0f : m_new;
    const float alpha = exp(m_run - m_safe);
    float psum = 0.0f;
    for (i = 0; i < NJ; i++) {
      sc[i] = exp(sc[i] - m_safe);
      psum += sc[i];
    }
#if LANES > 1
#if SG > 0
    if (use_sg) {
      psum = sub_group_reduce_add(psum);
    } else
#endif
    {
      for (i = 0; i < NJ; i++)
        s_s[r * SS + lane + i * LANES] = sc[i];
    }
#endif
    barrier(CLK_LOCAL_MEM_FENCE);

    // O = O * alpha + P V over this work-item's column chunks.
    for (i = 0; i < NC; i++)
      o[i] *= alpha;
#if LANES == 1
    for (j = 0; j < BLOCK_N; j++) {
      const float pj = sc[j];
      for (i = 0; i < NC; i++)
        o[i] += pj * kv_s[j * KS4 + i];
    }
#else
#if SG > 0
    if (use_sg) {
      int src;
      for (i = 0; i < NJ; i++) {
        for (src = 0; src < LANES; src++) {
          const float pj = sub_group_broadcast(sc[i], (uint)src);
          const int jj = src + i * LANES;
          int ci;
          for (ci = 0; ci < NC; ci++)
            o[ci] += pj * kv_s[jj * KS4 + lane + ci * LANES];
        }
      }
    } else
#endif
    {
      psum = 0.0f;
      for (j = 0; j < pv_keys; j++) {
        const float pj = s_s[r * SS + j];
        psum += pj;
        for (i = 0; i < NC; i++)
          o[i] += pj * kv_s[j * KS4 + lane + i * LANES];
      }
    }
#endif
    l_run = l_run * alpha + psum;
    m_run = m_new;
#if PAGED
    // Pages of the next tile (the lookup of this one is not read again).
    if (tile + 1 < t_end)
      page_lookup(kblk_s, kslot_s, btrow, kb + BLOCK_N, k_len, block_size,
                  num_blocks, tid, st);
#endif
    barrier(CLK_LOCAL_MEM_FENCE);
  }

  // Rows past the sequence store nothing.
  if (row_ok)
    finish_row(o, m_run, l_run, lane, dch, head_dim, nsplit, split, total_q, tq,
               heads, h, ws, out, o_dt, (long)o_off, o_s0, o_s1, lse,
               (long)lse_off, lse_s0, sinks, (long)sinks_off, vs);
#endif // CPU
  barrier(CLK_LOCAL_MEM_FENCE); // see the code shape rules above
}
#endif // MMA

// Combines the nsplit partials of token get_group_id(1) and writes out and
// lse. MERGE_P work-items share each (head, 4-column chunk) pair, MERGE_WG /
// MERGE_P pairs per work-group along dimension 0: work-item p of a pair
// folds splits p, p + MERGE_P, ... (four loads in flight at a time), and
// the first of the pair adds the others and the sink. One work-item per pair
// walking all splits was a chain of loads: 6-13 us for one token and 66
// splits on the H200 (docs/performance.md). Rows that the main kernel
// skipped (bad cu_seqlens) are left alone here too.
__kernel __attribute__((reqd_work_group_size(MERGE_WG, 1, 1))) void
attention_merge(const __global float *ws, int nsplit, const __global int *cu_q,
                ulong cu_q_off, const __global int *kinfo, ulong kinfo_off,
                __global uchar *out, ulong o_off, long o_s0, long o_s1,
                int o_dt, __global float *lse, ulong lse_off, long lse_s0,
                const __global float *sinks, ulong sinks_off, int batch,
                int heads, int head_dim, long total_q, long total_k) {
  __local int flag_s;
  __local float m_s[MERGE_WG], l_s[MERGE_WG];
  __local float4 acc_s[MERGE_WG];
  int z, u;
  const int tid = (int)get_local_id(0);
  const long tq = get_group_id(1);
  cu_q += cu_q_off;
  kinfo += kinfo_off;
  if (tid == 0)
    flag_s = 1;
  barrier(CLK_LOCAL_MEM_FENCE);
  if (!cu_ok_part(cu_q, batch, total_q, tid, MERGE_WG))
    atomic_and(&flag_s, 0);
  barrier(CLK_LOCAL_MEM_FENCE);
  if (!flag_s)
    return;
  if ((tq < cu_q[0]) | (tq >= cu_q[batch]))
    return;
#if !PAGED
  const int s = seq_of_token(cu_q, batch, tq);
  const long k0 = kinfo[s], k1 = kinfo[s + 1];
  if ((k0 < 0) | (k1 < k0) | (k1 > total_k))
    return;
#endif
  const int dch = (head_dim + 3) >> 2;
  const long rstride = (long)heads * (head_dim + 2);
  const long zstride = total_q * rstride;
  const int pair = (int)(get_global_id(0) / MERGE_P);
  const int p = tid % MERGE_P;
  const int ok = pair < heads * dch;
  const int h = ok ? pair / dch : 0, c = pair - h * dch;
  const __global float *w0 = ws + tq * rstride + (long)h * (head_dim + 2);

  // This work-item's splits, online: (m, l, acc) as in the main kernel.
  float m = -INFINITY, l = 0.0f;
  float4 acc = (float4)(0.0f);
  for (z = ok ? p : nsplit; z < nsplit; z += 4 * MERGE_P) {
    float2 ml[4];
    float4 x[4];
    for (u = 0; u < 4; u++) {
      const int zu = z + u * MERGE_P;
      const __global float *w = w0 + zu * zstride;
      ml[u] = zu < nsplit ? vload2(0, w) : (float2)(-INFINITY, 0.0f);
      x[u] = zu < nsplit ? ldf4_tail(w + 2 + 4 * c, head_dim - 4 * c)
                         : (float4)(0.0f);
    }
    const float mn =
        fmax(fmax(m, fmax(ml[0].x, ml[1].x)), fmax(ml[2].x, ml[3].x));
    const float ms = mn == -INFINITY ? 0.0f : mn;
    const float a = exp(m - ms);
    l *= a;
    acc *= a;
    for (u = 0; u < 4; u++) {
      const float b = exp(ml[u].x - ms);
      l += ml[u].y * b;
      acc += b * x[u];
    }
    m = mn;
  }
  m_s[tid] = m;
  l_s[tid] = l;
  acc_s[tid] = acc;
  barrier(CLK_LOCAL_MEM_FENCE);

  if (ok & (p == 0)) {
    const float sk = sinks ? sinks[sinks_off + h] : -INFINITY;
    float mt = sk;
    for (u = 0; u < MERGE_P; u++)
      mt = fmax(mt, m_s[tid + u]);
    const float ms = mt == -INFINITY ? 0.0f : mt;
    float lt = exp(sk - ms); // 0 without a sink
    float4 at = (float4)(0.0f);
    for (u = 0; u < MERGE_P; u++) {
      const float b = exp(m_s[tid + u] - ms);
      lt += l_s[tid + u] * b;
      at += b * acc_s[tid + u];
    }
    const float inv = lt > 0.0f ? 1.0f / lt : 0.0f;
    st4_tail(out, o_dt, (long)o_off + tq * o_s0 + h * o_s1 + 4 * c,
             head_dim - 4 * c, at * inv);
    if (lse && c == 0)
      lse[lse_off + h * lse_s0 + tq] = lt > 0.0f ? mt + log(lt) : -INFINITY;
  }
  barrier(CLK_LOCAL_MEM_FENCE); // see the code shape rules above
}
