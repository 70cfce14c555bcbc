// SPDX-License-Identifier: Apache-2.0
// kv_write: scatters key/value rows [tokens, kv_heads, dim] into paged caches
// through an int64 slot mapping, quantizing into FP8/I8 caches (quant.clh).
// -D VEC=1|4|8 (elements per work-item; dim % VEC == 0 above 1). Launch:
// global (ceil(dim/VEC) * kv_heads, tokens), or (kv_heads, tokens) when `rows`
// is set (one work-item per row: per-token-head scales), any local.
#include "quant.clh"

#ifndef VEC
#define VEC 1
#endif

// Copies one VEC-wide chunk of one row into one cache; same-dtype copies move
// raw bits so that they are exact (NaN payloads and -0 included).
CL_INLINE void write_chunk(const __global uchar *src, int src_dt, long si,
                           __global uchar *dst, int dst_dt, long di) {
#if VEC == 8
  if (src_dt == dst_dt && src_dt != DT_F32) {
    // vload8 only assumes 2-byte alignment, which NVIDIA's compiler serves
    // with narrow loads; 16-byte aligned rows (the usual case) move as uint4.
    if (((si | di) & 7) == 0)
      *(__global uint4 *)(dst + 2 * di) =
          *(const __global uint4 *)(src + 2 * si);
    else
      vstore8(vload8(0, (const __global ushort *)src + si), 0,
              (__global ushort *)dst + di);
    return;
  }
  st4_elem(dst, dst_dt, di, ld4_elem(src, src_dt, si));
  st4_elem(dst, dst_dt, di + 4, ld4_elem(src, src_dt, si + 4));
#elif VEC == 4
  if (src_dt == dst_dt && src_dt != DT_F32) {
    vstore4(vload4(0, (const __global ushort *)src + si), 0,
            (__global ushort *)dst + di);
    return;
  }
  st4_elem(dst, dst_dt, di, ld4_elem(src, src_dt, si));
#else
  if (src_dt == dst_dt && src_dt != DT_F32) {
    ((__global ushort *)dst)[di] = ((const __global ushort *)src)[si];
    return;
  }
  st_elem(dst, dst_dt, di, ld_elem(src, src_dt, si));
#endif
}

// The inverse scale of one (token, head) row of a quantized cache: per
// tensor from the host (inv, already 1/scale) or from scale buffer sc; per
// token-head from the row's absmax over its finite elements, which the
// work-item of chunk 0 also stores at sc + sc_i.
CL_INLINE float row_inv_scale(const __global uchar *src, int src_dt, long si,
                              int dim, int dst_dt, float inv, int mode,
                              __global float *sc, long sc_i, int chunk0) {
  if (mode == SCALE_TENSOR)
    return inv;
  if (mode == SCALE_TENSOR_BUFFER)
    return recip_rn(sc[0]);
  float am = 0.0f;
  int d;
  for (d = 0; d < dim; d++) {
    const float x = ld_elem(src, src_dt, si + d);
    am = fmax(am, isfinite(x) ? fabs(x) : 0.0f);
  }
  const float s = fmax(am * quant_inv_max(dst_dt), FLT_MIN);
  if (chunk0)
    sc[sc_i] = s;
  return recip_rn(s);
}

// One VEC-wide chunk of a row into a quantized cache: code(x * inv).
CL_INLINE void quant_chunk(const __global uchar *src, int src_dt, long si,
                           __global uchar *dst, int dst_dt, long di,
                           float inv) {
#if VEC == 8
  const float4 x = ld4_elem(src, src_dt, si) * inv;
  const float4 y = ld4_elem(src, src_dt, si + 4) * inv;
  vstore8((uchar8)(f32_to_byte(x.s0, dst_dt), f32_to_byte(x.s1, dst_dt),
                   f32_to_byte(x.s2, dst_dt), f32_to_byte(x.s3, dst_dt),
                   f32_to_byte(y.s0, dst_dt), f32_to_byte(y.s1, dst_dt),
                   f32_to_byte(y.s2, dst_dt), f32_to_byte(y.s3, dst_dt)),
          0, dst + di);
#elif VEC == 4
  const float4 x = ld4_elem(src, src_dt, si) * inv;
  vstore4((uchar4)(f32_to_byte(x.s0, dst_dt), f32_to_byte(x.s1, dst_dt),
                   f32_to_byte(x.s2, dst_dt), f32_to_byte(x.s3, dst_dt)),
          0, dst + di);
#else
  dst[di] = f32_to_byte(ld_elem(src, src_dt, si) * inv, dst_dt);
#endif
}

// Chunks c0, c0 + VEC, ... below c_end of one row into one cache, whatever
// its dtype. row_si is the row's first source element (the absmax pass of
// per-token-head scales reads the whole row).
CL_INLINE void put(const __global uchar *src, int src_dt, long row_si, long c0,
                   long c_end, int dim, __global uchar *dst, int dst_dt,
                   long di, float inv, int mode, __global float *sc,
                   long sc_i) {
  long c;
  if (dst_dt <= DT_BF16) {
    for (c = c0; c < c_end; c += VEC)
      write_chunk(src, src_dt, row_si + c, dst, dst_dt, di + c);
    return;
  }
  const float r = row_inv_scale(src, src_dt, row_si, dim, dst_dt, inv, mode, sc,
                                sc_i, c0 == 0);
  for (c = c0; c < c_end; c += VEC)
    quant_chunk(src, src_dt, row_si + c, dst, dst_dt, di + c, r);
}

// Where token t goes: its block and the slot within it. Returns 0 for a
// padding slot (< 0) and for a slot past the cache, which `report` work-items
// flag in the status word. A 64-bit division is a long software sequence on
// GPUs, done by every work-item; slots below 2^31 divide in 32 bits.
CL_INLINE int slot_place(const __global long *slots, ulong slot_off, long t,
                         int block_size, long num_blocks, __global uint *status,
                         ulong status_off, int report, long *block, long *off) {
  const long slot = slots[slot_off + t];
  if (slot < 0)
    return 0; // padding token: nothing written, scales included
  *block = slot <= INT_MAX ? (long)((uint)slot / (uint)block_size)
                           : slot / block_size;
  if (*block >= num_blocks) {
    if (report)
      report_status(status ? status + status_off : 0, ST_BAD_SLOT);
    return 0;
  }
  *off = slot - *block * block_size;
  return 1;
}

// Both kernels take the same arguments (the host sets them once). Per
// cache: kc_inv is 1/scale of SCALE_TENSOR, kc_sc (with its offset and
// block/slot/head strides) the scale buffer of the other modes.
#define KV_WRITE_PARAMS                                                        \
  const __global uchar *key, ulong key_off, long key_st_tok, long key_st_head, \
      int key_dt, const __global uchar *val, ulong val_off, long val_st_tok,   \
      long val_st_head, int val_dt, __global uchar *kc, ulong kc_off,          \
      long kc_sb, long kc_ss, long kc_sh, int kc_dt, float kc_inv,             \
      __global float *kc_sc, ulong kc_sc_off, long kc_sc_sb, long kc_sc_ss,    \
      long kc_sc_sh, int kc_mode, __global uchar *vc, ulong vc_off,            \
      long vc_sb, long vc_ss, long vc_sh, int vc_dt, float vc_inv,             \
      __global float *vc_sc, ulong vc_sc_off, long vc_sc_sb, long vc_sc_ss,    \
      long vc_sc_sh, int vc_mode, const __global long *slots, ulong slot_off,  \
      int heads, int dim, int block_size, long num_blocks,                     \
      __global uint *status, ulong status_off, int rows

// Float caches: one chunk per work-item, nothing else. A kernel of its own:
// the quantizing code in the same kernel cost the H200 30% of its bandwidth
// (more registers, fewer loads in flight).
__kernel void kv_write(KV_WRITE_PARAMS) {
  const int chunks = (dim + VEC - 1) / VEC;
  const int gx = (int)get_global_id(0);
  const long t = get_global_id(1);
  (void)kc_inv, (void)kc_sc, (void)kc_sc_off, (void)kc_sc_sb, (void)kc_sc_ss;
  (void)kc_sc_sh, (void)kc_mode, (void)vc_inv, (void)vc_sc, (void)vc_sc_off;
  (void)vc_sc_sb, (void)vc_sc_ss, (void)vc_sc_sh, (void)vc_mode, (void)rows;
  if (gx >= chunks * heads)
    return;
  const int h = gx / chunks;
  const int c = (gx - h * chunks) * VEC;
  long block, off;
  if (!slot_place(slots, slot_off, t, block_size, num_blocks, status,
                  status_off, gx == 0, &block, &off))
    return;
  write_chunk(key, key_dt, (long)key_off + t * key_st_tok + h * key_st_head + c,
              kc, kc_dt,
              (long)kc_off + block * kc_sb + off * kc_ss + h * kc_sh + c);
  if (val)
    write_chunk(val, val_dt,
                (long)val_off + t * val_st_tok + h * val_st_head + c, vc, vc_dt,
                (long)vc_off + block * vc_sb + off * vc_ss + h * vc_sh + c);
}

// Quantized caches (either cache FP8/I8), or per-token-head scales (`rows`).
__kernel void kv_write_quant(KV_WRITE_PARAMS) {
  const long chunks = rows ? 1 : (dim + VEC - 1) / VEC;
  const long gx = get_global_id(0);
  const long t = get_global_id(1);
  if (gx >= chunks * heads)
    return;
  const long h = gx / chunks;
  const long c = (gx - h * chunks) * VEC;
  const long c_end = rows ? dim : c + VEC;
  long block, off;
  if (!slot_place(slots, slot_off, t, block_size, num_blocks, status,
                  status_off, gx == 0, &block, &off))
    return;
  const long ks = (long)key_off + t * key_st_tok + h * key_st_head;
  const long kd = (long)kc_off + block * kc_sb + off * kc_ss + h * kc_sh;
  const long vs = (long)val_off + t * val_st_tok + h * val_st_head;
  const long vd = (long)vc_off + block * vc_sb + off * vc_ss + h * vc_sh;
  if (kc_sc)
    kc_sc += kc_sc_off;
  put(key, key_dt, ks, c, c_end, dim, kc, kc_dt, kd, kc_inv, kc_mode, kc_sc,
      block * kc_sc_sb + off * kc_sc_ss + h * kc_sc_sh);
  if (val) {
    if (vc_sc)
      vc_sc += vc_sc_off;
    put(val, val_dt, vs, c, c_end, dim, vc, vc_dt, vd, vc_inv, vc_mode, vc_sc,
        block * vc_sc_sb + off * vc_sc_ss + h * vc_sc_sh);
  }
}
