// SPDX-License-Identifier: Apache-2.0
// kv_write: scatters key/value rows [tokens, kv_heads, dim] into paged caches
// through an int64 slot mapping. -D VEC=1|4 (elements per work-item; 4 needs
// dim % 4 == 0). Launch: global (ceil(dim/VEC) * kv_heads, tokens), any local.
#include "common.clh"

#ifndef VEC
#define VEC 1
#endif

// Copies one VEC-wide chunk of one row into one cache; same-dtype copies move
// raw bits so that they are exact (NaN payloads and -0 included).
CL_INLINE void write_chunk(const __global uchar *src, int src_dt, long si,
                        __global uchar *dst, int dst_dt, long di) {
#if VEC == 4
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

__kernel void kv_write(
    const __global uchar *key, ulong key_off, long key_st_tok, long key_st_head,
    int key_dt, const __global uchar *val, ulong val_off, long val_st_tok,
    long val_st_head, int val_dt, __global uchar *kc, ulong kc_off,
    long kc_sb, long kc_ss, long kc_sh, int kc_dt, __global uchar *vc,
    ulong vc_off, long vc_sb, long vc_ss, long vc_sh, int vc_dt,
    const __global long *slots, ulong slot_off, int heads, int dim,
    int block_size, long num_blocks, __global uint *status, ulong status_off) {
  const long chunks = (dim + VEC - 1) / VEC;
  const long gx = get_global_id(0);
  const long t = get_global_id(1);
  if (gx >= chunks * heads)
    return;
  const long h = gx / chunks;
  const long c = (gx - h * chunks) * VEC;
  const long slot = slots[slot_off + t];
  if (slot < 0)
    return; // padding token
  const long block = slot / block_size;
  if (block >= num_blocks) {
    if (gx == 0)
      report_status(status ? status + status_off : 0, ST_BAD_SLOT);
    return;
  }
  const long off = slot - block * block_size;
  write_chunk(key, key_dt, (long)key_off + t * key_st_tok + h * key_st_head + c,
              kc, kc_dt, (long)kc_off + block * kc_sb + off * kc_ss + h * kc_sh + c);
  if (val)
    write_chunk(val, val_dt,
                (long)val_off + t * val_st_tok + h * val_st_head + c, vc, vc_dt,
                (long)vc_off + block * vc_sb + off * vc_ss + h * vc_sh + c);
}
