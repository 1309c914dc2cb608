// Device helpers of the cache scatter (CacheWriteParams, elementwise.h cache_write): where row r,
// column c of a scatter lands, and the store in the cache's type. Shared by the cache-write and
// RoPE kernels (elementwise.cu) and the fused absorption of segment_project.cu.
#pragma once

#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include <cstdint>

#include "kernels/cuda/elementwise_kernels.h"

namespace lrkv::cuda::dev {

// p[i] = x in type t (f16/bf16 round to nearest; else f32).
__device__ __forceinline__ void store_from_float(void* p, DType t, int64_t i, float x) {
  switch (t) {
    case DType::kF16: static_cast<__half*>(p)[i] = __float2half_rn(x); break;
    case DType::kBF16: static_cast<__nv_bfloat16*>(p)[i] = __float2bfloat16_rn(x); break;
    default: static_cast<float*>(p)[i] = x;
  }
}

// Element index in p.dst of row r (sequence p.seq[r], position p.pos[r]), column c < p.width.
__device__ __forceinline__ int64_t cache_at(const CacheWriteParams& p, int64_t r, int c) {
  const int64_t row = p.maps.paged() ? p.maps.seq(p.seq[r])(p.pos[r]) * p.row_stride
                                     : int64_t{p.seq[r]} * p.seq_stride + int64_t{p.pos[r]} * p.row_stride;
  return row + int64_t{c / p.seg} * p.seg_stride + c % p.seg;
}

// Element e (row e / width, column e % width) of one scatter.
__device__ __forceinline__ void cache_write_one(const CacheWriteParams& p, int64_t e) {
  const int64_t r = e / p.width;
  const int c = static_cast<int>(e % p.width);
  store_from_float(p.dst, p.type, cache_at(p, r, c), p.src[r * p.ld_src + c]);
}

// Elements [0, p.rows * p.width) of one scatter, from thread index i of n_threads.
__device__ __forceinline__ void cache_write_from(const CacheWriteParams& p, int64_t i, int64_t n_threads) {
  for (; i < p.rows * p.width; i += n_threads) cache_write_one(p, i);
}

}  // namespace lrkv::cuda::dev
