#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
# Writes the seed corpus of tests/fuzz/fuzz_ops.c into tests/fuzz/corpus: one
# valid call per op, and per op one seed for each validation branch (a valid
# call with one argument made bad). The encoding mirrors fuzz_ops.c's decoder.
import math
import os
import struct
import sys

INTS = [0, 1, 2, 3, 4, 7, 8, 16, 32, 64, 128, 255, 256, 257, 1024, -1, -2,
        2**31 - 1, -2**31, 2**63 - 1, -2**63, 5, 6, 12]
FLOATS = [0.0, 1.0, 0.125, -1.0, 30.0, 1e-30]
BUF_SIZES = [4, 64, 256, 1024, 4096, 65536]
NULL_MEM, OTHER_MEM = 6, 7
F32, F16, BF16, FP8, I8, I32 = 0, 1, 2, 3, 5, 6
PARAM_BYTES = 96  # fuzz_ops.c: the payload starts after these


def enc_int(v):
    if v in INTS:
        return bytes([INTS.index(v)])
    if -2**31 <= v < 2**31:
        return bytes([240]) + struct.pack('<i', v)
    return bytes([241]) + struct.pack('<q', v)


def enc_float(f):
    if isinstance(f, str):
        return bytes([{'nan': 6, 'inf': 7, '-inf': 8}[f]])
    if f in FLOATS:
        return bytes([FLOATS.index(f)])
    return bytes([9]) + struct.pack('<f', f)


def enc_tensor(t):
    if t is None:
        return bytes([0])
    mem, off, s0, s1, dt = t
    return (bytes([1, mem]) + enc_int(off) + enc_int(s0) + enc_int(s1) +
            bytes([dt & 0xff]))


def enc_buffer(b):
    mem, off = b
    return bytes([mem]) + enc_int(off)


def enc_cache(c):
    if c is None:
        return bytes([0])
    return (bytes([1, c['mem']]) + enc_int(c['off']) + enc_int(c['sb']) +
            enc_int(c['ss']) + enc_int(c['sh']) + bytes([c['dt'] & 0xff]) +
            enc_int(c['bs']) + enc_int(c['nb']) + enc_float(c['scale']))


def header(op, s):
    ctx = {'ok': 2, 'null': 0, 'released': 1}[s.get('ctx', 'ok')]
    q = {'ok': 2, 'null': 0, 'other': 1}[s.get('queue', 'ok')]
    w = s.get('wait', 0)  # wsel byte, see fuzz_ops.c
    return bytes([op, ctx | (q << 3), w])


def kv_write(s):
    b = header(0, s)
    b += enc_int(s['T']) + enc_int(s['H']) + enc_int(s['D'])
    b += bytes([1 if s.get('status') else 0])
    if s.get('status'):
        b += enc_buffer(s['status'])
    b += enc_tensor(s['key']) + enc_tensor(s['value'])
    b += enc_buffer(s['slots'])
    b += enc_cache(s['kc']) + enc_cache(s['vc'])
    b += bytes([0 if s.get('no_params') else 1])
    return b


def attention(s, paged):
    b = header(2 if paged else 1, s)
    for k in ('batch', 'H', 'KH', 'D', 'tq', 'tk', 'msq', 'msk'):
        b += enc_int(s[k])
    b += enc_float(s['scale']) + enc_int(s['causal'])
    b += enc_int(s['wl']) + enc_int(s['wr']) + enc_float(s['softcap'])
    opt = (1 if s.get('alibi') else 0) | (2 if s.get('sinks') else 0) | \
        (4 if s.get('status') else 0)
    b += bytes([opt])
    for k in ('alibi', 'sinks', 'status'):
        if s.get(k):
            b += enc_buffer(s[k])
    b += enc_int(s['mbps']) + enc_int(s['bts']) + enc_int(s['splits'])
    b += bytes([0 if s.get('no_params') else 1])
    b += enc_tensor(s['q']) + enc_tensor(s['out'])
    b += bytes([1 if s.get('lse') else 0])
    if s.get('lse'):
        b += enc_tensor(s['lse'])
    b += enc_buffer(s['a']) + enc_buffer(s['b'])
    if not paged:
        b += enc_tensor(s['k']) + enc_tensor(s['v'])
    else:
        b += enc_cache(s['kc']) + enc_cache(s['vc']) + enc_buffer(s['bt'])
    return b


def finish(params, tail_ints):
    assert len(params) <= PARAM_BYTES, len(params)
    tail = b''.join(struct.pack('<i', v) for v in tail_ints)
    return params + bytes(PARAM_BYTES - len(params)) + tail


# ---- the valid calls (buffer sizes: fuzz_ops.c buf_sizes) ---------------------
KV = dict(T=4, H=2, D=8, key=(2, 0, 16, 8, F32), value=(2, 0, 16, 8, F32),
          slots=(1, 0),
          kc=dict(mem=3, off=0, sb=64, ss=16, sh=8, dt=F32, bs=4, nb=2,
                  scale=0.0),
          vc=dict(mem=4, off=0, sb=64, ss=16, sh=8, dt=F32, bs=4, nb=2,
                  scale=0.0))
KV_TAIL = [0, 0, 1, 0, 2, 0, 3, 0]  # slot_mapping i64 0, 1, 2, 3

ATT = dict(batch=2, H=4, KH=2, D=8, tq=4, tk=4, msq=2, msk=2, scale=0.0,
           causal=0, wl=-1, wr=-1, softcap=0.0, mbps=1, bts=1, splits=0,
           q=(3, 0, 32, 8, F32), out=(5, 0, 32, 8, F32),
           k=(2, 0, 16, 8, F32), v=(2, 0, 16, 8, F32), a=(4, 0), b=(4, 0))
ATT_TAIL = [0, 2, 4, 4, 6, 8, 8]  # cu_seqlens 0, 2, 4

PAGED = dict(ATT, tq=2, msq=1, msk=2, q=(5, 1024, 32, 8, F32),
             out=(2, 0, 32, 8, F32), a=(4, 0), b=(4, 1), bt=(4, 3),
             mbps=1, bts=1,
             kc=dict(mem=3, off=0, sb=64, ss=16, sh=8, dt=F32, bs=4, nb=4,
                     scale=0.0),
             vc=dict(mem=5, off=0, sb=64, ss=16, sh=8, dt=F32, bs=4, nb=4,
                     scale=0.0))
PAGED_TAIL = [0, 1, 2, 2, 1, 0, 0]  # cu_q 0,1,2; seq_lens 1,2; table 2,1


def cache(base, **kw):
    c = dict(base)
    c.update(kw)
    return c


COMMON = {  # call-level rows every op has
    'ctx_null': dict(ctx='null'), 'ctx_released': dict(ctx='released'),
    'params_null': dict(no_params=1), 'queue_null': dict(queue='null'),
    'queue_other_context': dict(queue='other'),
    'wait_count_no_list': dict(wait=1 | 4), 'wait_list_no_count': dict(wait=18),
    'wait_entry_null': dict(wait=8), 'valid_with_event': dict(wait=32 | 1),
}

KV_ROWS = {
    'num_tokens_neg': dict(T=-1), 'num_tokens_zero': dict(T=0),
    'num_kv_heads_zero': dict(H=0), 'head_dim_zero': dict(D=0),
    'head_dim_257': dict(D=257), 'value_without_cache': dict(vc=None),
    'key_null': dict(key=None), 'key_buffer_null': dict(key=(6, 0, 16, 8, F32)),
    'key_dtype_i8': dict(key=(2, 0, 16, 8, I8)),
    'key_dtype_enum_out': dict(key=(2, 0, 16, 8, 9)),
    'key_stride_neg': dict(key=(2, 0, 16, -1, F32)),
    'key_other_context': dict(key=(OTHER_MEM, 0, 16, 8, F32)),
    'key_too_small': dict(key=(1, 0, 16, 8, F32)),
    'key_offset_huge': dict(key=(2, 2**63 - 1, 16, 8, F32)),
    'key_stride_huge': dict(key=(2, 0, 2**63 - 1, 8, F32)),
    'key_cache_null': dict(kc=None),
    'key_cache_fp8': dict(kc=cache(KV['kc'], dt=FP8)),
    'key_cache_block_size_zero': dict(kc=cache(KV['kc'], bs=0)),
    'key_cache_num_blocks_zero': dict(kc=cache(KV['kc'], nb=0)),
    'key_cache_stride_neg': dict(kc=cache(KV['kc'], ss=-1)),
    'key_cache_too_small': dict(kc=cache(KV['kc'], mem=1)),
    'key_f16_into_f32': dict(key=(2, 0, 16, 8, F16)),
    'value_cache_geometry': dict(vc=cache(KV['vc'], nb=1)),
    'slots_null': dict(slots=(NULL_MEM, 0)),
    'slots_too_small': dict(slots=(0, 0)),
    'status_too_small': dict(status=(0, 1)),
    'status_ok': dict(status=(0, 0)),
    'key_only': dict(value=None, vc=None),
}

ATT_ROWS = {
    'batch_neg': dict(batch=-1), 'batch_zero': dict(batch=0),
    'num_kv_heads_zero': dict(KH=0), 'num_heads_zero': dict(H=0),
    'num_heads_not_multiple': dict(H=3), 'head_dim_zero': dict(D=0),
    'head_dim_257': dict(D=257), 'total_q_neg': dict(tq=-1),
    'max_seqlen_q_neg': dict(msq=-1), 'max_seqlen_k_neg': dict(msk=-1),
    'window_left_neg2': dict(wl=-2), 'window_right_neg2': dict(wr=-2),
    'scale_nan': dict(scale='nan'), 'scale_inf': dict(scale='inf'),
    'softcap_neg': dict(softcap=-1.0), 'softcap_inf': dict(softcap='inf'),
    'num_splits_257': dict(splits=257), 'num_splits_4': dict(splits=4),
    'causal': dict(causal=1), 'window': dict(wl=1, wr=0), 'softcap': dict(softcap=30.0),
    'q_null': dict(q=None), 'q_dtype_i8': dict(q=(3, 0, 32, 8, I8)),
    'q_stride_neg': dict(q=(3, 0, -1, 8, F32)),
    'q_other_context': dict(q=(OTHER_MEM, 0, 32, 8, F32)),
    'q_too_small': dict(q=(1, 0, 32, 8, F32)), 'out_null': dict(out=None),
    'out_dtype_differs': dict(out=(5, 0, 32, 8, F16)),
    'out_too_small': dict(out=(1, 0, 32, 8, F32)),
    'lse_f16': dict(lse=(5, 8192, 4, 0, F16)),
    'lse_ok': dict(lse=(5, 8192, 4, 0, F32)),
    'lse_too_small': dict(lse=(0, 0, 4, 0, F32)),
    'alibi_too_small': dict(alibi=(0, 0)), 'alibi_ok': dict(alibi=(5, 0)),
    'sinks_too_small': dict(sinks=(0, 0)), 'sinks_ok': dict(sinks=(5, 0)),
    'status_too_small': dict(status=(0, 1)), 'status_ok': dict(status=(0, 0)),
    'cu_q_null': dict(a=(NULL_MEM, 0)), 'cu_q_too_small': dict(a=(0, 0)),
}
ATT_ONLY = {
    'total_k_neg': dict(tk=-1), 'k_null': dict(k=None),
    'k_dtype_differs': dict(k=(2, 0, 16, 8, F16)),
    'k_too_small': dict(k=(1, 0, 16, 8, F32)), 'v_null': dict(v=None),
    'v_buffer_null': dict(v=(NULL_MEM, 0, 16, 8, F32)),
    'cu_k_null': dict(b=(NULL_MEM, 0)), 'cu_k_too_small': dict(b=(0, 0)),
    'cu_seqlens_past_total': dict(tk=2),
}
PAGED_ONLY = {
    'max_blocks_per_seq_zero': dict(mbps=0), 'block_table_stride_neg': dict(bts=-1),
    'key_cache_null': dict(kc=None), 'value_cache_null': dict(vc=None),
    'key_cache_i32': dict(kc=cache(PAGED['kc'], dt=I32)),
    'key_cache_block_size_zero': dict(kc=cache(PAGED['kc'], bs=0)),
    'key_cache_stride_neg': dict(kc=cache(PAGED['kc'], sb=-1)),
    'key_cache_too_small': dict(kc=cache(PAGED['kc'], mem=2)),
    'value_cache_dtype_differs': dict(vc=cache(PAGED['vc'], dt=F16)),
    'value_cache_geometry': dict(vc=cache(PAGED['vc'], nb=2)),
    'cache_scale_neg': dict(kc=cache(PAGED['kc'], scale=-1.0)),
    'cache_scale_nan': dict(vc=cache(PAGED['vc'], scale='nan')),
    'seq_lens_null': dict(b=(NULL_MEM, 0)), 'seq_lens_too_small': dict(b=(0, 1)),
    'block_table_null': dict(bt=(NULL_MEM, 0)),
    'block_table_too_small': dict(bt=(0, 0), bts=2),
    'block_table_out_of_range': dict(kc=cache(PAGED['kc'], nb=2),
                                     vc=cache(PAGED['vc'], nb=2)),
    'fp8_cache': dict(kc=cache(PAGED['kc'], dt=FP8), vc=cache(PAGED['vc'], dt=FP8)),
}


def main():
    out = sys.argv[1] if len(sys.argv) > 1 else os.path.join(
        os.path.dirname(os.path.abspath(__file__)), 'corpus')
    os.makedirs(out, exist_ok=True)
    seeds = {}
    for op, base, rows, enc, tail in (
            ('kv_write', KV, {**COMMON, **KV_ROWS}, kv_write, KV_TAIL),
            ('attention', ATT, {**COMMON, **ATT_ROWS, **ATT_ONLY},
             lambda s: attention(s, 0), ATT_TAIL),
            ('paged_attention', PAGED, {**COMMON, **ATT_ROWS, **PAGED_ONLY},
             lambda s: attention(s, 1), PAGED_TAIL)):
        seeds[op + '-valid'] = finish(enc(base), tail)
        for name, change in rows.items():
            s = dict(base)
            s.update(change)
            seeds[op + '-' + name] = finish(enc(s), tail)
    for name, data in seeds.items():
        with open(os.path.join(out, name), 'wb') as f:
            f.write(data)
    print(f'{len(seeds)} seeds in {out}')


if __name__ == '__main__':
    main()
