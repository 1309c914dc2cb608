#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include "kernels/cuda/cache_store.cuh"
#include "kernels/cuda/device_utils.cuh"
#include "kernels/cuda/pdl.cuh"
#include "kernels/cuda/segment_project_args.h"

namespace lrkv::cuda {
namespace {

// Decode-sized work: a few rows, ~100 outputs of ~128 inputs per segment, so the kernel is
// latency-bound, not bandwidth-bound (the weights are a few hundred KB). It keeps many loads in
// flight per lane and spreads outputs over many CTAs instead of walking them one after another:
// grid (n_seg, ceil(max_out / kOutPerCta), ceil(rows / kRowsPerCta)); warp w of a CTA owns
// kOutPerWarp consecutive outputs; lanes stride the inputs i (coalesced along row j of W_s),
// kUnroll strides per batch of loads, so kOutPerWarp * kUnroll independent loads per lane.
constexpr int kRowsPerCta = 8;  // rows of x sharing one read of W_s (staged in shared memory)
constexpr int kWarps = 4;
constexpr int kOutPerWarp = 4;
constexpr int kOutPerCta = kWarps * kOutPerWarp;
constexpr int kUnroll = 4;

__device__ __forceinline__ float load_w(const float* w, int64_t i) { return __ldg(w + i); }
__device__ __forceinline__ float load_w(const __half* w, int64_t i) { return __half2float(w[i]); }
__device__ __forceinline__ float load_w(const __nv_bfloat16* w, int64_t i) { return __bfloat162float(w[i]); }

template <class W>
__global__ void __launch_bounds__(32 * kWarps) segment_project_kernel(const __grid_constant__ SegmentProjectParams p) {
  dev::pdl_trigger();  // launched with launch_pdl (pdl.cuh)
  dev::pdl_wait();
  extern __shared__ float xs[];  // [kRowsPerCta][in_len]
  const int s = blockIdx.x, n_in = p.in_len[s], n_out = p.out_len[s];
  const bool second = p.pair[s] != 0;
  const float* x = second ? p.x2 : p.x;
  float* y = second ? p.y2 : p.y;
  const int64_t ldx = second ? p.ldx2 : p.ldx, ldy = second ? p.ldy2 : p.ldy;
  if (p.v_cache.dst) {  // the value latents' cache write, spread over the whole grid
    const int64_t cta = blockIdx.x + int64_t{gridDim.x} * (blockIdx.y + int64_t{gridDim.y} * blockIdx.z);
    dev::cache_write_from(p.v_cache, cta * blockDim.x + threadIdx.x,
                          int64_t{gridDim.x} * gridDim.y * gridDim.z * blockDim.x);
  }
  const int j_cta = blockIdx.y * kOutPerCta;
  if (j_cta >= n_out) return;  // segments shorter than the longest one
  const int64_t t0 = int64_t{blockIdx.z} * kRowsPerCta;
  const int64_t left = p.rows - t0;
  const int nt = left < kRowsPerCta ? static_cast<int>(left) : kRowsPerCta;
  if (p.rope.pos == nullptr) {
    for (int e = threadIdx.x; e < nt * n_in; e += blockDim.x) {
      const int t = e / n_in, i = e - t * n_in;
      xs[e] = x[(t0 + t) * ldx + p.x_off[s] + i];
    }
  } else {  // pair q of the segment = pair pr of its head hs (segments hold whole heads)
    const int hd = p.rope.head_dim, half = hd / 2, n_pairs = n_in / 2;
    const float* mean = second ? nullptr : p.rope.x_mean;
    for (int e = threadIdx.x; e < nt * n_pairs; e += blockDim.x) {
      const int t = e / n_pairs, q = e - t * n_pairs, hs = q / half, pr = q - hs * half;
      const int i0 = hs * hd + (p.rope.half_split ? pr : 2 * pr), i1 = i0 + (p.rope.half_split ? half : 1);
      const float* xr = x + (t0 + t) * ldx + p.x_off[s];
      float c, sn, y0, y1;
      dev::rope_sincos(p.rope.pos[t0 + t], p.rope.inv_freq[pr], &c, &sn);
      dev::rope_rotate(xr[i0], xr[i1], c, sn, &y0, &y1);
      if (mean) {
        y0 -= mean[p.x_off[s] + i0];
        y1 -= mean[p.x_off[s] + i1];
      }
      xs[t * n_in + i0] = y0;
      xs[t * n_in + i1] = y1;
    }
  }
  __syncthreads();
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  const int j0 = j_cta + warp * kOutPerWarp;
  if (j0 >= n_out) return;
  const W* w = static_cast<const W*>(p.w[s]);
  const int64_t ldw = p.ldw[s];
  float acc[kOutPerWarp][kRowsPerCta];
#pragma unroll
  for (int o = 0; o < kOutPerWarp; ++o) {
#pragma unroll
    for (int t = 0; t < kRowsPerCta; ++t) acc[o][t] = 0.0f;
  }
  // Rows past n_out read row n_out - 1 again (in bounds) and are not written.
  int64_t row[kOutPerWarp];
#pragma unroll
  for (int o = 0; o < kOutPerWarp; ++o) row[o] = int64_t{min(j0 + o, n_out - 1)} * ldw;
  for (int i0 = lane; i0 < n_in; i0 += 32 * kUnroll) {
    float wv[kOutPerWarp][kUnroll];
#pragma unroll
    for (int u = 0; u < kUnroll; ++u) {
      const int i = i0 + 32 * u;
#pragma unroll
      for (int o = 0; o < kOutPerWarp; ++o) wv[o][u] = i < n_in ? load_w(w, row[o] + i) : 0.0f;
    }
#pragma unroll
    for (int u = 0; u < kUnroll; ++u) {
      const int i = i0 + 32 * u;
      if (i >= n_in) break;
#pragma unroll
      for (int t = 0; t < kRowsPerCta; ++t) {
        if (t >= nt) break;
        const float xv = xs[t * n_in + i];
#pragma unroll
        for (int o = 0; o < kOutPerWarp; ++o) acc[o][t] = fmaf(xv, wv[o][u], acc[o][t]);
      }
    }
  }
  // nt is uniform over the warp, so every lane takes part in the shuffles it reaches.
#pragma unroll
  for (int t = 0; t < kRowsPerCta; ++t) {
    if (t >= nt) break;
#pragma unroll
    for (int o = 0; o < kOutPerWarp; ++o) {
      float v = acc[o][t];
#pragma unroll
      for (int m = 16; m > 0; m >>= 1) v += __shfl_xor_sync(0xffffffffu, v, m);
      if (lane == o && j0 + o < n_out) {
        y[(t0 + t) * ldy + p.y_off[s] + j0 + o] = v;
        if (!second && p.y_cache.dst) {
          dev::store_from_float(p.y_cache.dst, p.y_cache.type, dev::cache_at(p.y_cache, t0 + t, p.y_off[s] + j0 + o), v);
        }
      }
    }
  }
}

template <class W>
cudaError_t launch(const SegmentProjectParams& p, int max_in, int max_out, cudaStream_t stream) {
  const size_t smem = sizeof(float) * kRowsPerCta * static_cast<size_t>(max_in);
  if (smem > 48 * 1024) {
    const cudaError_t e = cudaFuncSetAttribute(segment_project_kernel<W>, cudaFuncAttributeMaxDynamicSharedMemorySize,
                                               static_cast<int>(smem));
    if (e != cudaSuccess) return e;
  }
  const dim3 grid(p.n_seg, static_cast<unsigned>((max_out + kOutPerCta - 1) / kOutPerCta),
                  static_cast<unsigned>((p.rows + kRowsPerCta - 1) / kRowsPerCta));
  return launch_pdl(segment_project_kernel<W>, grid, 32 * kWarps, smem, stream, p);
}

}  // namespace

cudaError_t launch_segment_project(const SegmentProjectParams& p, int max_in, int max_out, cudaStream_t stream) {
  switch (p.w_type) {
    case DType::kF32: return launch<float>(p, max_in, max_out, stream);
    case DType::kF16: return launch<__half>(p, max_in, max_out, stream);
    case DType::kBF16: return launch<__nv_bfloat16>(p, max_in, max_out, stream);
    default: return cudaErrorInvalidValue;
  }
}

}  // namespace lrkv::cuda
