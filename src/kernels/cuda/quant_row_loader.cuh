// Quantized-row pieces of the latent attention kernel (quant_latent_attention.cu):
//  - load_raw_tile: packed bytes of 64 (128) cached rows of one segment into a shared-memory stage
//    (cp.async, completed by the kernel's commit/wait like the 16-bit row loaders; rows past the
//    end are zero-filled, and zero bytes decode to 0);
//  - decode_warp: a warp turns its 16 rows into an f16 tile [16][ld] for the tensor cores.
//    Lane (row0 + k*rstep, 8 columns) decodes 8 values per step. Fast path (2/4/8 bits, the 8
//    values in one quantisation group): the codes are placed into the mantissa of 1024.0 with
//    byte_perm + mask (exact), then per half2  x = (c - (1024 + q)) * s + m  (hsub2 exact, one
//    hfma2 rounding; q = 0 affine, 2^(b-1) - 1 symmetric with m = 0). Other widths and chunks
//    across group edges: f32 per value. Row layout as kernels/quant_row.h.
#pragma once

#include <cuda_fp16.h>

#include <cstdint>

#include "kernels/cuda/device_utils.cuh"
#include "kernels/cuda/quant_attention_args.h"
#include "kernels/row_map.h"

namespace lrkv::cuda::dev {

__host__ __device__ __forceinline__ int quant_seg_groups(int len, int group) {
  return group > 0 ? (len + group - 1) / group : 1;
}
__host__ __device__ __forceinline__ int quant_seg_header(int len, const QuantSide& q) {
  return quant_seg_groups(len, q.group) * (q.sym ? 2 : 4);
}
__host__ __device__ __forceinline__ int quant_seg_bytes(int len, const QuantSide& q) {
  return quant_seg_header(len, q) + (len * q.bits + 7) / 8;
}

// A-byte cp.async (A = 4, 8: .ca; 16: .cg), bytes beyond src_bytes zero-filled.
template <int A>
__device__ __forceinline__ void cp_async_n(void* dst, const void* src, int src_bytes) {
  if constexpr (A == 16) {
    asm volatile("cp.async.cg.shared.global.L2::128B [%0], [%1], 16, %2;\n" ::"r"(smem_addr(dst)), "l"(src),
                 "r"(src_bytes));
  } else {
    asm volatile("cp.async.ca.shared.global.L2::128B [%0], [%1], %2, %3;\n" ::"r"(smem_addr(dst)), "l"(src), "n"(A),
                 "r"(src_bytes));
  }
}

// One thread's share of a tile copy, fixed for a CTA (one segment, one mode): the tile's
// kRows * per_row pieces of A bytes (A = 16/8/4 for the row modes, 1 for bytes) are taken by
// threads i = tid, tid + kCtaThreads, ..., piece i = row i / per_row, piece i % per_row. The
// (row, piece) pairs are stepped without dividing (kCtaThreads pieces = dr rows + dp pieces)
// instead of one runtime division per piece (the engine's token-row latents take this path;
// measured neutral end to end, CUDA_NOTES part 8).
struct RawTileCopy {
  int per_row = 1;      // pieces per row: ceil(seg / A)
  int r0 = 0, p0 = 0;   // this thread's first piece
  int dr = 0, dp = 0;   // kCtaThreads / per_row, kCtaThreads % per_row
};

__device__ __forceinline__ int quant_load_piece_bytes(int mode) {
  return mode == kQLoadRows16 ? 16 : mode == kQLoadRows8 ? 8 : mode == kQLoadRows4 ? 4 : 1;
}

// Once per CTA and side (block copies ignore it).
__device__ __forceinline__ RawTileCopy raw_tile_copy(const QuantSide& q, int seg, int tid) {
  RawTileCopy c;
  const int A = quant_load_piece_bytes(q.mode);
  c.per_row = (seg + A - 1) / A;
  c.r0 = tid / c.per_row;
  c.p0 = tid - c.r0 * c.per_row;
  c.dr = kCtaThreads / c.per_row;
  c.dp = kCtaThreads - c.dr * c.per_row;
  return c;
}

template <int A, int kRows = kTokenTile, bool kPaged = false>
__device__ __forceinline__ void load_rows_async(uint8_t* dst, int raw_ld, const uint8_t* rows, RowMap map, int64_t ld,
                                                int seg, int j0, int nrows, const RawTileCopy& c) {
  // i = r * per_row + p < kRows * per_row  <=>  r < kRows (p < per_row always).
  for (int r = c.r0, p = c.p0; r < kRows;) {
    int b = seg - p * A;
    b = b > A ? A : b;
    if (r >= nrows) b = 0;
    if constexpr (A == 1) {
      dst[r * raw_ld + p] = b > 0 ? rows[(kPaged ? map(j0 + r) : j0 + r) * ld + p] : uint8_t{0};
    } else {
      const uint8_t* s = b > 0 ? rows + (kPaged ? map(j0 + r) : j0 + r) * ld + p * A : rows;
      cp_async_n<A>(dst + r * raw_ld + p * A, s, b);
    }
    r += c.dr;
    p += c.dp;
    if (p >= c.per_row) {  // dp < per_row, so one step back suffices
      p -= c.per_row;
      ++r;
    }
  }
}

// load_rows_async with the table test once per tile (contiguous rows keep the loop without it).
template <int A, int kRows>
__device__ __forceinline__ void load_rows(uint8_t* dst, int raw_ld, const uint8_t* rows, RowMap map, int64_t ld,
                                          int seg, int j0, int nrows, const RawTileCopy& c) {
  if (map.table != nullptr) {
    load_rows_async<A, kRows, true>(dst, raw_ld, rows, map, ld, seg, j0, nrows, c);
  } else {
    load_rows_async<A, kRows, false>(dst, raw_ld, rows, map, ld, seg, j0, nrows, c);
  }
}

// Tile rows j0 .. j0+kRows-1 (valid below je) of the segment whose row 0 is `rows` (seg bytes
// per row, row stride ld; row j at rows + map(j) * ld) into dst (row stride q.raw_ld);
// `c` = raw_tile_copy(q, seg, tid). kRows: tile rows (64, or 128 in the register-fragment
// kernel). kQLoadBlock16 reads the tile as one block: contiguous maps only (the host planner's
// choice).
template <int kRows = kTokenTile>
__device__ __forceinline__ void load_raw_tile(uint8_t* dst, const QuantSide& q, const uint8_t* rows, RowMap map,
                                              int64_t ld, int seg, int j0, int je, int tid, const RawTileCopy& c) {
  const int nrows = min(kRows, je - j0);
  switch (q.mode) {
    case kQLoadBlock16: {
      const uint8_t* src = rows + static_cast<int64_t>(j0) * seg;
      const int valid = nrows * seg, pieces = kRows * seg / 16;
      for (int i = tid; i < pieces; i += kCtaThreads) {
        int b = valid - 16 * i;
        b = b < 0 ? 0 : (b > 16 ? 16 : b);
        cp_async_16<true>(dst + 16 * i, b > 0 ? src + 16 * i : src, b);
      }
      break;
    }
    case kQLoadRows16:
      load_rows<16, kRows>(dst, q.raw_ld, rows, map, ld, seg, j0, nrows, c);
      break;
    case kQLoadRows8:
      load_rows<8, kRows>(dst, q.raw_ld, rows, map, ld, seg, j0, nrows, c);
      break;
    case kQLoadRows4:
      load_rows<4, kRows>(dst, q.raw_ld, rows, map, ld, seg, j0, nrows, c);
      break;
    default:
      load_rows<1, kRows>(dst, q.raw_ld, rows, map, ld, seg, j0, nrows, c);
      break;
  }
}

// 32 bits from any byte address of shared memory (little-endian).
__device__ __forceinline__ uint32_t lds_u32_any(const uint8_t* p) {
  const uintptr_t u = reinterpret_cast<uintptr_t>(p);
  if ((u & 3) == 0) return *reinterpret_cast<const uint32_t*>(p);
  const uint32_t* w = reinterpret_cast<const uint32_t*>(u & ~uintptr_t{3});
  return __funnelshift_r(w[0], w[1], static_cast<uint32_t>(u & 3) * 8);
}
__device__ __forceinline__ uint16_t lds_u16_any(const uint8_t* p) {
  const uintptr_t u = reinterpret_cast<uintptr_t>(p);
  if ((u & 1) == 0) return *reinterpret_cast<const uint16_t*>(p);
  return static_cast<uint16_t>(p[0] | (p[1] << 8));
}

// What one lane decodes of a segment (fixed for a CTA: one cluster, one codec).
struct DecodeLane {
  int row0 = 16, rstep = 1;  // tile rows row0, row0 + rstep, ... < 16
  int col = 0;               // first of the lane's 8 columns
  int kind = 0;              // 0: all 8 columns past the segment (zeros), 1: fast, 2: generic
  int code_off = 0;          // byte offset of the chunk's codes in a row
  int s_off = 0, m_off = 0;  // fast: byte offsets of the chunk's scale and minimum
  int len = 0, ng = 0, gs = 1;
  __half2 off2;              // fast: 1024 + q
};

__device__ __forceinline__ DecodeLane decode_lane(const QuantSide& q, int len, int lane) {
  DecodeLane d;
  const int w8 = ((len + 15) >> 4) * 2;  // 8-column chunks, padded to whole 16-column blocks
  d.rstep = 32 / w8;
  d.row0 = lane < d.rstep * w8 ? lane / w8 : 16;
  d.col = (lane % w8) * 8;
  d.len = len;
  d.gs = q.group > 0 ? q.group : len;
  d.ng = (len + d.gs - 1) / d.gs;
  const int hdr = d.ng * (q.sym ? 2 : 4);
  d.code_off = hdr + ((d.col * q.bits) >> 3);
  const int g0 = d.col / d.gs;
  d.s_off = 2 * g0;
  d.m_off = 2 * (d.ng + g0);
  const bool one_group = d.col + 8 <= len && g0 == (d.col + 7) / d.gs;
  const bool fast_bits = q.bits == 2 || q.bits == 4 || q.bits == 8;
  d.kind = d.col >= len ? 0 : (one_group && fast_bits ? 1 : 2);
  const int qz = q.sym ? (1 << (q.bits - 1)) - 1 : 0;
  d.off2 = __half2half2(__int2half_rn(1024 + qz));
  return d;
}

__device__ __forceinline__ uint32_t h2_bits(__half2 h) { return *reinterpret_cast<uint32_t*>(&h); }
__device__ __forceinline__ __half2 bits_h2(uint32_t u) { return *reinterpret_cast<__half2*>(&u); }

// (c - off) * s + m for the two 1024-biased codes in x.
__device__ __forceinline__ uint32_t affine2(uint32_t x, __half2 off, __half2 s, __half2 m) {
  return h2_bits(__hfma2(__hsub2(bits_h2(x), off), s, m));
}

__device__ __forceinline__ uint4 decode8_fast(const uint8_t* row, const DecodeLane& d, const QuantSide& q) {
  const __half2 s2 = __half2half2(__ushort_as_half(lds_u16_any(row + d.s_off)));
  const __half2 m2 = q.sym ? __half2half2(__ushort_as_half(0)) : __half2half2(__ushort_as_half(lds_u16_any(row + d.m_off)));
  constexpr uint32_t kMagic = 0x64006400u;  // 1024.0 in both halves
  uint4 o;
  if (q.bits == 4) {
    const uint32_t w = lds_u32_any(row + d.code_off), t = w >> 4;
    // byte p of w (low nibble) -> half 0, byte p of w >> 4 (high nibble) -> half 1.
    o.x = affine2((__byte_perm(w, t, 0x0400) & 0x000F000Fu) | kMagic, d.off2, s2, m2);
    o.y = affine2((__byte_perm(w, t, 0x0501) & 0x000F000Fu) | kMagic, d.off2, s2, m2);
    o.z = affine2((__byte_perm(w, t, 0x0602) & 0x000F000Fu) | kMagic, d.off2, s2, m2);
    o.w = affine2((__byte_perm(w, t, 0x0703) & 0x000F000Fu) | kMagic, d.off2, s2, m2);
  } else if (q.bits == 8) {
    const uint32_t w0 = lds_u32_any(row + d.code_off), w1 = lds_u32_any(row + d.code_off + 4);
    // bytes (2p, 2p+1) into the low bytes of the halves, 0x64 above them.
    o.x = affine2(__byte_perm(w0, 0x64646464u, 0x4140), d.off2, s2, m2);
    o.y = affine2(__byte_perm(w0, 0x64646464u, 0x4342), d.off2, s2, m2);
    o.z = affine2(__byte_perm(w1, 0x64646464u, 0x4140), d.off2, s2, m2);
    o.w = affine2(__byte_perm(w1, 0x64646464u, 0x4342), d.off2, s2, m2);
  } else {  // 2 bits: code k at bits 2k of the 16-bit chunk
    const uint32_t w = lds_u32_any(row + d.code_off), a2 = w >> 2, a4 = w >> 4, a6 = w >> 6;
    o.x = affine2((__byte_perm(w, a2, 0x0400) & 0x00030003u) | kMagic, d.off2, s2, m2);
    o.y = affine2((__byte_perm(a4, a6, 0x0400) & 0x00030003u) | kMagic, d.off2, s2, m2);
    o.z = affine2((__byte_perm(w, a2, 0x0501) & 0x00030003u) | kMagic, d.off2, s2, m2);
    o.w = affine2((__byte_perm(a4, a6, 0x0501) & 0x00030003u) | kMagic, d.off2, s2, m2);
  }
  return o;
}

__device__ __forceinline__ uint4 decode8_generic(const uint8_t* row, const DecodeLane& d, const QuantSide& q) {
  const uint32_t lo = lds_u32_any(row + d.code_off), hi = lds_u32_any(row + d.code_off + 4);
  const uint64_t bits = (static_cast<uint64_t>(hi) << 32) | lo;
  const uint32_t mask = (1u << q.bits) - 1u;
  const int qz = (1 << (q.bits - 1)) - 1;
  float v[8];
#pragma unroll
  for (int k = 0; k < 8; ++k) {
    const int c = d.col + k;
    float x = 0.0f;
    if (c < d.len) {
      const uint32_t u = static_cast<uint32_t>(bits >> (k * q.bits)) & mask;
      const int g = c / d.gs;
      const float s = __half2float(__ushort_as_half(lds_u16_any(row + 2 * g)));
      x = q.sym ? s * static_cast<float>(static_cast<int>(u) - qz)
                : fmaf(s, static_cast<float>(u), __half2float(__ushort_as_half(lds_u16_any(row + 2 * (d.ng + g)))));
    }
    v[k] = x;
  }
  uint4 o;
  o.x = h2_bits(__floats2half2_rn(v[0], v[1]));
  o.y = h2_bits(__floats2half2_rn(v[2], v[3]));
  o.z = h2_bits(__floats2half2_rn(v[4], v[5]));
  o.w = h2_bits(__floats2half2_rn(v[6], v[7]));
  return o;
}

// Zero columns past the segment (kind 0); once per CTA, the decodes never write them.
__device__ __forceinline__ void decode_zero_pad(__half* dst, int ld, const DecodeLane& d) {
  if (d.kind != 0) return;
  for (int r = d.row0; r < 16; r += d.rstep) *reinterpret_cast<uint4*>(dst + r * ld + d.col) = make_uint4(0, 0, 0, 0);
}

// The warp's 16 rows (raw: row 0 of them, row stride q.raw_ld) into dst [16][ld] f16.
__device__ __forceinline__ void decode_warp(__half* dst, int ld, const uint8_t* raw, const QuantSide& q,
                                            const DecodeLane& d) {
  if (d.kind == 1) {
    for (int r = d.row0; r < 16; r += d.rstep) {
      *reinterpret_cast<uint4*>(dst + r * ld + d.col) = decode8_fast(raw + r * q.raw_ld, d, q);
    }
  } else if (d.kind == 2) {
    for (int r = d.row0; r < 16; r += d.rstep) {
      *reinterpret_cast<uint4*>(dst + r * ld + d.col) = decode8_generic(raw + r * q.raw_ld, d, q);
    }
  }
}

}  // namespace lrkv::cuda::dev
