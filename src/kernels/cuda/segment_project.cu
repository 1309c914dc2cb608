#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include "kernels/cuda/segment_project_args.h"

namespace lrkv::cuda {
namespace {

constexpr int kRowsPerCta = 8;   // rows of x sharing one read of W_s
constexpr int kWarps = 4;

__device__ __forceinline__ float load_w(const float* w, int64_t i) { return w[i]; }
__device__ __forceinline__ float load_w(const __half* w, int64_t i) { return __half2float(w[i]); }
__device__ __forceinline__ float load_w(const __nv_bfloat16* w, int64_t i) { return __bfloat162float(w[i]); }

// Grid (n_seg, ceil(rows / 8)); the CTA stages its x rows of segment s in shared memory, then
// each warp takes outputs j = warp, warp + 4, ...: lanes stride over i (coalesced row j of W_s),
// 8 row accumulators, warp reduction.
template <class W>
__global__ void __launch_bounds__(32 * kWarps) segment_project_kernel(const __grid_constant__ SegmentProjectParams p) {
  extern __shared__ float xs[];  // [kRowsPerCta][in_len]
  const int s = blockIdx.x, n_in = p.in_len[s], n_out = p.out_len[s];
  const int64_t t0 = int64_t{blockIdx.y} * kRowsPerCta;
  const int64_t left = p.rows - t0;
  const int nt = left < kRowsPerCta ? static_cast<int>(left) : kRowsPerCta;
  for (int e = threadIdx.x; e < nt * n_in; e += blockDim.x) {
    const int t = e / n_in, i = e - t * n_in;
    xs[e] = p.x[(t0 + t) * p.ldx + p.x_off[s] + i];
  }
  __syncthreads();
  const W* w = static_cast<const W*>(p.w[s]);
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  for (int j = warp; j < n_out; j += kWarps) {
    float acc[kRowsPerCta];
#pragma unroll
    for (int t = 0; t < kRowsPerCta; ++t) acc[t] = 0.0f;
    const int64_t row = int64_t{j} * p.ldw[s];
    for (int i = lane; i < n_in; i += 32) {
      const float wv = load_w(w, row + i);
#pragma unroll
      for (int t = 0; t < kRowsPerCta; ++t) {
        if (t < nt) acc[t] = fmaf(xs[t * n_in + i], wv, acc[t]);
      }
    }
#pragma unroll
    for (int t = 0; t < kRowsPerCta; ++t) {
      float v = acc[t];
      for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
      if (lane == 0 && t < nt) p.y[(t0 + t) * p.ldy + p.y_off[s] + j] = v;
    }
  }
}

template <class W>
cudaError_t launch(const SegmentProjectParams& p, int max_in, cudaStream_t stream) {
  const size_t smem = sizeof(float) * kRowsPerCta * static_cast<size_t>(max_in);
  if (smem > 48 * 1024) {
    const cudaError_t e = cudaFuncSetAttribute(segment_project_kernel<W>, cudaFuncAttributeMaxDynamicSharedMemorySize,
                                               static_cast<int>(smem));
    if (e != cudaSuccess) return e;
  }
  const dim3 grid(p.n_seg, static_cast<unsigned>((p.rows + kRowsPerCta - 1) / kRowsPerCta));
  segment_project_kernel<W><<<grid, 32 * kWarps, smem, stream>>>(p);
  return cudaGetLastError();
}

}  // namespace

cudaError_t launch_segment_project(const SegmentProjectParams& p, int max_in, cudaStream_t stream) {
  switch (p.w_type) {
    case DType::kF32: return launch<float>(p, max_in, stream);
    case DType::kF16: return launch<__half>(p, max_in, stream);
    case DType::kBF16: return launch<__nv_bfloat16>(p, max_in, stream);
    default: return cudaErrorInvalidValue;
  }
}

}  // namespace lrkv::cuda
