// Pieces of the decode-sized projection kernel (skinny_matmul.cu), kept apart from its launch logic:
// 16 bytes of weights as f32, the dot-product step, the result store, and the dispatch from
// (weight type, activation rows) to the kernels' template arguments.
#pragma once

#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include "core/dtype.h"
#include "kernels/cuda/cache_store.cuh"
#include "kernels/cuda/device_utils.cuh"
#include "kernels/cuda/skinny_matmul_args.h"

namespace lrkv::cuda::dev {

// 16 bytes of weights (4 f32, or 8 f16 / bf16) into f[0 .. 16 / sizeof(W)).
__device__ __forceinline__ void unpack16(const uint4& u, const float*, float* f) {
  f[0] = __uint_as_float(u.x);
  f[1] = __uint_as_float(u.y);
  f[2] = __uint_as_float(u.z);
  f[3] = __uint_as_float(u.w);
}
template <class T>  // __half or __nv_bfloat16 (exact widening, Elem<T>::to_float)
__device__ __forceinline__ void unpack16(const uint4& u, const T*, float* f) {
  const T* h = reinterpret_cast<const T*>(&u);
#pragma unroll
  for (int i = 0; i < 8; ++i) f[i] = Elem<T>::to_float(h[i]);
}

// s + x · w[0..4), the four products added in order.
__device__ __forceinline__ float fma4(const float4& x, const float* w, float s) {
  s = fmaf(x.x, w[0], s);
  s = fmaf(x.y, w[1], s);
  s = fmaf(x.z, w[2], s);
  return fmaf(x.w, w[3], s);
}

// The results v[t] (t < M) of row `row` of W into the output whose row range holds it, added
// when that output accumulates.
template <int M>
__device__ __forceinline__ void store_results(const SkinnyMatmulArgs& a, int64_t row, const float* v) {
  int s = 0;
  while (s + 1 < a.n_out && row >= a.out[s + 1].row0) ++s;
  const SkinnyOutput& o = a.out[s];
  float* y = o.y + (row - o.row0);
#pragma unroll
  for (int t = 0; t < M; ++t) {
    float* yt = y + t * o.ldy;
    *yt = o.accumulate ? *yt + v[t] : v[t];
  }
}

// Rows row, row + 1 of W a (gate, up) pair (SkinnyMatmulArgs::swiglu_pairs): y[t, row / 2] =
// silu(g) · u (the expression of the swiglu kernel).
template <int M>
__device__ __forceinline__ void store_swiglu(const SkinnyMatmulArgs& a, int64_t row, const float* g, const float* u) {
  const SkinnyOutput& o = a.out[0];
  float* y = o.y + row / 2;
#pragma unroll
  for (int t = 0; t < M; ++t) y[t * o.ldy] = g[t] / (1.0f + __expf(-g[t])) * u[t];
}

// Rows row, row + 1 (row even) of a q|k|v projection with SkinnyMatmulArgs::rope: a q or k pair
// rotated (the arithmetic of rope_pair), stored, and k / v also into their cache.
template <int M>
__device__ __forceinline__ void store_rope(const SkinnyMatmulArgs& a, int64_t row, const float* v0, const float* v1) {
  const int s = row < a.out[1].row0 ? 0 : (row < a.out[2].row0 ? 1 : 2);
  const SkinnyOutput& o = a.out[s];
  const int col = static_cast<int>(row - o.row0);
  const SkinnyRope& rp = a.rope;
  const CacheWriteParams* cw = s == 1 ? &rp.k_cache : (s == 2 ? &rp.v_cache : nullptr);
  const float f = s < 2 ? rp.inv_freq[(col % rp.head_dim) / 2] : 0.0f;
#pragma unroll
  for (int t = 0; t < M; ++t) {
    float y0 = v0[t], y1 = v1[t];
    if (s < 2) {
      float c, sn;
      rope_sincos(rp.positions[t], f, &c, &sn);
      y0 = __fsub_rn(__fmul_rn(v0[t], c), __fmul_rn(v1[t], sn));
      y1 = __fadd_rn(__fmul_rn(v0[t], sn), __fmul_rn(v1[t], c));
    }
    float* y = o.y + t * o.ldy + col;
    y[0] = y0;
    y[1] = y1;
    if (cw != nullptr && cw->dst != nullptr) {
      store_from_float(cw->dst, cw->type, cache_at(*cw, t, col), y0);
      store_from_float(cw->dst, cw->type, cache_at(*cw, t, col + 1), y1);
    }
  }
}

// f.template operator()<W, M>() for W the storage type of `type` (f32, f16, bf16) and M = m
// (1..kSkinnyMaxRows); cudaErrorInvalidValue for anything else.
template <class F>
cudaError_t dispatch_skinny(DType type, int m, F&& f) {
  const auto rows = [&]<class W>() -> cudaError_t {
    switch (m) {
      case 1: return f.template operator()<W, 1>();
      case 2: return f.template operator()<W, 2>();
      case 3: return f.template operator()<W, 3>();
      case 4: return f.template operator()<W, 4>();
      case 5: return f.template operator()<W, 5>();
      case 6: return f.template operator()<W, 6>();
      case 7: return f.template operator()<W, 7>();
      case 8: return f.template operator()<W, 8>();
      default: return cudaErrorInvalidValue;
    }
  };
  static_assert(kSkinnyMaxRows == 8, "the switch above covers 1..kSkinnyMaxRows");
  switch (type) {
    case DType::kF32: return rows.template operator()<float>();
    case DType::kF16: return rows.template operator()<__half>();
    case DType::kBF16: return rows.template operator()<__nv_bfloat16>();
    default: return cudaErrorInvalidValue;
  }
}

}  // namespace lrkv::cuda::dev
