// One warp encodes one row's segment into the packed layout of kernels/quant_row.h, bit-identical
// to lrkv::encode_segment (kernels/quant_row.cpp): group ranges, fp16 scale (and minimum) rounded
// outward, codes, packed bits. Used by the encoder kernel (quant_encode.cu) and by the fused
// absorption of segment_project.cu.
#pragma once

#include <cuda_fp16.h>

#include <cstdint>

#include "kernels/cuda/quant_encode_args.h"

namespace lrkv::cuda::dev {

__device__ __forceinline__ uint16_t f16_next_up(uint16_t h) {
  if (h == 0x8000) return 0x0001;
  return (h & 0x8000) ? static_cast<uint16_t>(h - 1) : static_cast<uint16_t>(h + 1);
}
__device__ __forceinline__ uint16_t f16_next_down(uint16_t h) {
  if (h == 0x0000) return 0x8001;
  return (h & 0x8000) ? static_cast<uint16_t>(h + 1) : static_cast<uint16_t>(h - 1);
}
__device__ __forceinline__ float f16_value(uint16_t h) { return __half2float(__ushort_as_half(h)); }
// lrkv::f16_round_down / f16_round_up (kernels/quant_row.cpp).
__device__ __forceinline__ uint16_t f16_round_down(float x) {
  x = fminf(fmaxf(x, -65504.0f), 65504.0f);
  uint16_t h = __half_as_ushort(__float2half_rn(x));
  if (f16_value(h) > x) h = f16_next_down(h);
  return h;
}
__device__ __forceinline__ uint16_t f16_round_up(float x) {
  x = fminf(fmaxf(x, -65504.0f), 65504.0f);
  uint16_t h = __half_as_ushort(__float2half_rn(x));
  if (f16_value(h) < x) h = f16_next_up(h);
  return h;
}

__device__ __forceinline__ float warp_max(float x) {
  for (int o = 16; o > 0; o >>= 1) x = fmaxf(x, __shfl_xor_sync(0xffffffffu, x, o));
  return x;
}
__device__ __forceinline__ float warp_min(float x) {
  for (int o = 16; o > 0; o >>= 1) x = fminf(x, __shfl_xor_sync(0xffffffffu, x, o));
  return x;
}

// Segment s of row r of `e` (sequence e.seq[r], position e.pos[r]; row r itself without them),
// by the calling warp (all 32 lanes); `codes` is scratch for e.seg_len[s] <= kEncodeMaxLen bytes
// (shared memory of this warp). The source is read through L2 (ld.global.cg).
__device__ __forceinline__ void encode_segment_warp(const EncodeArgs& e, int s, int64_t r, uint8_t* codes) {
  __syncwarp();  // a previous call's reads of `codes` (callers loop over rows) before this one's writes
  const int lane = threadIdx.x & 31;
  const int n = e.seg_len[s];
  const float* xs = e.src + r * e.ld_src + e.seg_col[s];
  const auto x = [xs](int i) { return __ldcg(xs + i); };  // L2: the fused path reads other CTAs' outputs
  const int64_t sq = e.seq ? e.seq[r] : 0, ps = e.pos ? e.pos[r] : r;
  const int64_t at = e.maps.paged() ? e.maps.seq(sq)(ps) * e.row_bytes : sq * e.seq_bytes + ps * e.row_bytes;
  uint8_t* dst = e.dst + at + e.seg_dst[s];
  const int gs = e.group > 0 ? e.group : n, ng = (n + gs - 1) / gs;
  const int hdr = ng * (e.sym ? 2 : 4);
  const int q = (1 << (e.bits - 1)) - 1;
  const float levels = static_cast<float>((1 << e.bits) - 1);
  for (int gi = 0; gi < ng; ++gi) {
    const int b0 = gi * gs, b1 = min(n, b0 + gs);
    if (e.sym) {
      float amax = 0.0f;
      for (int i = b0 + lane; i < b1; i += 32) amax = fmaxf(amax, fabsf(x(i)));
      amax = warp_max(amax);
      const uint16_t sh = f16_round_up(amax / static_cast<float>(q));
      const float sf = f16_value(sh);
      if (lane == 0) {
        dst[2 * gi] = static_cast<uint8_t>(sh & 0xFF);
        dst[2 * gi + 1] = static_cast<uint8_t>(sh >> 8);
      }
      for (int i = b0 + lane; i < b1; i += 32) {
        float v = sf > 0.0f ? roundf(x(i) / sf) : 0.0f;
        v = fminf(fmaxf(v, static_cast<float>(-q)), static_cast<float>(q));
        codes[i] = static_cast<uint8_t>(static_cast<int>(v) + q);
      }
    } else {
      float lo = INFINITY, hi = -INFINITY;
      for (int i = b0 + lane; i < b1; i += 32) {
        lo = fminf(lo, x(i));
        hi = fmaxf(hi, x(i));
      }
      lo = warp_min(lo);
      hi = warp_max(hi);
      const uint16_t mh = f16_round_down(lo);
      const float m = f16_value(mh);
      const uint16_t sh = f16_round_up(fmaxf(0.0f, hi - m) / levels);
      const float sf = f16_value(sh);
      if (lane == 0) {
        dst[2 * gi] = static_cast<uint8_t>(sh & 0xFF);
        dst[2 * gi + 1] = static_cast<uint8_t>(sh >> 8);
        dst[2 * (ng + gi)] = static_cast<uint8_t>(mh & 0xFF);
        dst[2 * (ng + gi) + 1] = static_cast<uint8_t>(mh >> 8);
      }
      for (int i = b0 + lane; i < b1; i += 32) {
        float v = 0.0f;
        if (sf > 0.0f) v = fminf(fmaxf(roundf((x(i) - m) / sf), 0.0f), levels);
        codes[i] = static_cast<uint8_t>(v);
      }
    }
  }
  __syncwarp();
  const int nbytes = (n * e.bits + 7) / 8;
  for (int k = lane; k < nbytes; k += 32) {
    const int bit0 = 8 * k;
    uint32_t acc = 0;
    for (int i = bit0 / e.bits; i < n && i * e.bits < bit0 + 8; ++i) {
      const int off = i * e.bits - bit0;
      acc |= off >= 0 ? static_cast<uint32_t>(codes[i]) << off : static_cast<uint32_t>(codes[i]) >> -off;
    }
    dst[hdr + k] = static_cast<uint8_t>(acc & 0xFF);
  }
}

}  // namespace lrkv::cuda::dev
