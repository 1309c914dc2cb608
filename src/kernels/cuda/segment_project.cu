#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include <algorithm>

#include "kernels/cuda/cache_store.cuh"
#include "kernels/cuda/device_utils.cuh"
#include "kernels/cuda/pdl.cuh"
#include "kernels/cuda/quant_encode.cuh"
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

// Rows t0 .. t0 + nt of segment s's inputs into xs [nt][n_in]: as they are, or rotated (RoPE at
// each row's position, minus the mean on the first pair) when p.rope.pos is set.
__device__ __forceinline__ void stage_inputs(const SegmentProjectParams& p, int s, int64_t t0, int nt, float* xs) {
  const bool second = p.pair[s] != 0;
  const float* x = second ? p.x2 : p.x;
  const int64_t ldx = second ? p.ldx2 : p.ldx;
  const int n_in = p.in_len[s];
  if (p.rope.pos == nullptr) {
    for (int e = threadIdx.x; e < nt * n_in; e += blockDim.x) {
      const int t = e / n_in, i = e - t * n_in;
      xs[e] = x[(t0 + t) * ldx + p.x_off[s] + i];
    }
    return;
  }
  // Pair q of the segment = pair pr of its head hs (segments hold whole heads), as rope_qk does.
  const int hd = p.rope.head_dim, half = hd / 2, n_pairs = n_in / 2;
  const float* mean = second ? nullptr : p.rope.x_mean;
  for (int e = threadIdx.x; e < nt * n_pairs; e += blockDim.x) {
    const int t = e / n_pairs, q = e - t * n_pairs, hs = q / half, pr = q - hs * half, h0 = hs * hd;
    int i0, i1;
    float y0, y1;
    dev::rope_pair(x + (t0 + t) * ldx + p.x_off[s] + h0, pr, half, p.rope.half_split != 0, p.rope.pos[t0 + t],
                   p.rope.inv_freq[pr], false, &i0, &i1, &y0, &y1);
    if (mean) {
      y0 -= mean[p.x_off[s] + h0 + i0];
      y1 -= mean[p.x_off[s] + h0 + i1];
    }
    xs[t * n_in + h0 + i0] = y0;
    xs[t * n_in + h0 + i1] = y1;
  }
}

// This warp's outputs j0 .. j0 + kOutPerWarp - 1 (< n_out) of segment s for rows t0 .. t0 + nt,
// from the staged inputs; also into y_cache for the first pair when it is set.
template <class W>
__device__ __forceinline__ void project_warp(const SegmentProjectParams& p, int s, int j0, int64_t t0, int nt,
                                             const float* xs) {
  const int lane = threadIdx.x & 31, n_in = p.in_len[s], n_out = p.out_len[s];
  const bool second = p.pair[s] != 0;
  float* y = second ? p.y2 : p.y;
  const int64_t ldy = second ? p.ldy2 : p.ldy;
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

// Whether this CTA is the last of segment s's CTAs over row tile blockIdx.z to get here (their y
// stores visible to it then); the counter is reset for the next launch by that CTA. Every thread
// of the CTA calls it.
__device__ __forceinline__ bool last_of_segment(const SegmentProjectParams& p, int s) {
  __shared__ bool last;
  __threadfence();  // this thread's y stores, before the count that publishes them
  __syncthreads();
  if (threadIdx.x == 0) {
    const unsigned n_cta = (p.out_len[s] + kOutPerCta - 1) / kOutPerCta;
    unsigned* c = p.counters + int64_t{s} * gridDim.z + blockIdx.z;
    last = atomicAdd(c, 1u) == n_cta - 1;
    if (last) *c = 0u;  // every other CTA of (s, tile) has counted already
  }
  __syncthreads();
  if (last) __threadfence();
  return last;
}

template <class W>
__global__ void __launch_bounds__(32 * kWarps, 4) segment_project_kernel(const __grid_constant__ SegmentProjectParams p) {
  dev::pdl_trigger();  // launched with launch_pdl (pdl.cuh)
  dev::pdl_wait();
  extern __shared__ float xs[];  // [kRowsPerCta][in_len]; encoders: kEncodeMaxLen bytes per warp
  const int s = blockIdx.x, n_out = p.out_len[s], warp = threadIdx.x >> 5;
  uint8_t* codes = reinterpret_cast<uint8_t*>(xs) + warp * kEncodeMaxLen;
  // Value latents, spread over the whole grid: copied into the cache, or encoded a warp per
  // (row, segment).
  const int64_t cta = blockIdx.x + int64_t{gridDim.x} * (blockIdx.y + int64_t{gridDim.y} * blockIdx.z);
  const int64_t n_cta = int64_t{gridDim.x} * gridDim.y * gridDim.z;
  if (p.v_cache.dst) dev::cache_write_from(p.v_cache, cta * blockDim.x + threadIdx.x, n_cta * blockDim.x);
  if (p.v_enc.dst) {
    for (int64_t task = cta * kWarps + warp; task < p.rows * p.v_enc.n_seg; task += n_cta * kWarps) {
      dev::encode_segment_warp(p.v_enc, static_cast<int>(task % p.v_enc.n_seg), task / p.v_enc.n_seg, codes);
    }
    __syncthreads();  // `codes` overlaps the staged inputs
  }
  const int j_cta = blockIdx.y * kOutPerCta;
  if (j_cta >= n_out) return;  // segments shorter than the longest one
  const int64_t t0 = int64_t{blockIdx.z} * kRowsPerCta;
  const int64_t left = p.rows - t0;
  const int nt = left < kRowsPerCta ? static_cast<int>(left) : kRowsPerCta;
  stage_inputs(p, s, t0, nt, xs);
  __syncthreads();
  const int j0 = j_cta + warp * kOutPerWarp;
  if (j0 < n_out) project_warp<W>(p, s, j0, t0, nt, xs);
  // Key latents into a quantized cache: the CTA that completes segment s of this row tile
  // encodes it, a warp per row.
  if (p.k_enc.dst && s < p.k_enc.n_seg && last_of_segment(p, s)) {
    for (int t = warp; t < nt; t += kWarps) dev::encode_segment_warp(p.k_enc, s, t0 + t, codes);
  }
}

template <class W>
cudaError_t launch(const SegmentProjectParams& p, int max_in, int max_out, cudaStream_t stream) {
  size_t smem = sizeof(float) * kRowsPerCta * static_cast<size_t>(max_in);
  if (p.k_enc.dst || p.v_enc.dst) smem = std::max(smem, size_t{kWarps} * kEncodeMaxLen);  // encoders' scratch
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
