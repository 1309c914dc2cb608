// Pieces shared by the decode-sized projection kernels (skinny_matmul.cu, stream_matmul.cu):
// 16 bytes of weights as f32, and the dispatch from (weight type, activation rows) to the
// kernels' template arguments.
#pragma once

#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include "core/dtype.h"
#include "kernels/cuda/skinny_matmul_args.h"

namespace lrkv::cuda::dev {

// 16 bytes of weights (4 f32, or 8 f16 / bf16) into f[0 .. 16 / sizeof(W)).
__device__ __forceinline__ void unpack16(const uint4& u, const float*, float* f) {
  f[0] = __uint_as_float(u.x);
  f[1] = __uint_as_float(u.y);
  f[2] = __uint_as_float(u.z);
  f[3] = __uint_as_float(u.w);
}
__device__ __forceinline__ void unpack16(const uint4& u, const __half*, float* f) {
  const __half2* h = reinterpret_cast<const __half2*>(&u);
#pragma unroll
  for (int i = 0; i < 4; ++i) {
    const float2 v = __half22float2(h[i]);
    f[2 * i] = v.x;
    f[2 * i + 1] = v.y;
  }
}
__device__ __forceinline__ void unpack16(const uint4& u, const __nv_bfloat16*, float* f) {
  const __nv_bfloat162* h = reinterpret_cast<const __nv_bfloat162*>(&u);
#pragma unroll
  for (int i = 0; i < 4; ++i) {
    const float2 v = __bfloat1622float2(h[i]);
    f[2 * i] = v.x;
    f[2 * i + 1] = v.y;
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
