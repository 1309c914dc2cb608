#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include "kernels/cuda/fill.h"

namespace lrkv::cuda {
namespace {

__device__ __forceinline__ float hash_uniform(uint64_t seed, int64_t i) {
  uint64_t x = seed * 0x9E3779B97F4A7C15ull + static_cast<uint64_t>(i);
  x ^= x >> 33;
  x *= 0xff51afd7ed558ccdull;
  x ^= x >> 33;
  x *= 0xc4ceb9fe1a85ec53ull;
  x ^= x >> 33;
  return static_cast<float>(x >> 40) * (2.0f / 16777216.0f) - 1.0f;
}

template <class T>
__global__ void fill_kernel(T* dst, int64_t n, uint64_t seed, float scale) {
  for (int64_t i = blockIdx.x * int64_t{blockDim.x} + threadIdx.x; i < n; i += int64_t{gridDim.x} * blockDim.x) {
    dst[i] = static_cast<T>(scale * hash_uniform(seed, i));
  }
}

__global__ void read_kernel(const uint4* src, int64_t n, float* sink) {
  uint32_t acc = 0;
  for (int64_t i = blockIdx.x * int64_t{blockDim.x} + threadIdx.x; i < n; i += int64_t{gridDim.x} * blockDim.x) {
    const uint4 v = __ldcs(src + i);
    acc ^= v.x ^ v.y ^ v.z ^ v.w;
  }
  if (acc == 0x12345678u) atomicAdd(sink, 1.0f);  // keeps the loads; almost never taken
}

int grid_for(int64_t n) {
  int dev = 0, sms = 132;
  cudaGetDevice(&dev);
  cudaDeviceGetAttribute(&sms, cudaDevAttrMultiProcessorCount, dev);
  const int64_t blocks = (n + 255) / 256;
  return static_cast<int>(blocks < int64_t{sms} * 8 ? (blocks > 0 ? blocks : 1) : int64_t{sms} * 8);
}

}  // namespace

cudaError_t fill_uniform(void* dst, FillType t, int64_t n, uint64_t seed, float scale, cudaStream_t stream) {
  const int grid = grid_for(n);
  switch (t) {
    case FillType::kF32: fill_kernel<<<grid, 256, 0, stream>>>(static_cast<float*>(dst), n, seed, scale); break;
    case FillType::kF16: fill_kernel<<<grid, 256, 0, stream>>>(static_cast<__half*>(dst), n, seed, scale); break;
    case FillType::kBF16:
      fill_kernel<<<grid, 256, 0, stream>>>(static_cast<__nv_bfloat16*>(dst), n, seed, scale);
      break;
  }
  return cudaGetLastError();
}

cudaError_t read_probe(const void* src, int64_t bytes, float* sink, cudaStream_t stream) {
  const int64_t n = bytes / 16;
  read_kernel<<<grid_for(n), 256, 0, stream>>>(static_cast<const uint4*>(src), n, sink);
  return cudaGetLastError();
}

}  // namespace lrkv::cuda
