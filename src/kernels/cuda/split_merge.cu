// Combines the split-K partial results of the attention kernels: for each row and column,
//   m = max_s m_s,  l = Σ_s l_s 2^(m_s - m),  z = Σ_s O_s 2^(m_s - m) / l
// skipping splits that saw no visible row (m_s = -inf; their O_s was never written). One CTA
// per (row of a unit, sequence): the split weights are computed once into shared memory; then
// `groups` thread groups of `cols` threads each sum every groups-th split of one column, eight
// loads in flight per thread (a chain of one L2 load per split made this kernel 7.5 us at 4K,
// bench/CUDA_NOTES.md part 10), and the groups' sums are added through shared memory.
#include "kernels/cuda/attention_cta.cuh"
#include "kernels/cuda/pdl.cuh"
#include "kernels/cuda/split_attention_args.h"

namespace lrkv::cuda {
namespace {

constexpr int kMergeThreads = 256;
constexpr int kMaxSplits = 256;  // plan_splits caps n_splits here
constexpr int kMergeUnroll = 8;

__global__ void __launch_bounds__(kMergeThreads) split_merge_kernel(const __grid_constant__ SplitAttentionArgs a, int R) {
  dev::pdl_trigger();  // launched with launch_pdl (pdl.cuh): wait for the splits
  dev::pdl_wait();
  const int unit = blockIdx.x / kRowsPerCta, r = blockIdx.x % kRowsPerCta, seq = blockIdx.y;
  const int n_units = gridDim.x / kRowsPerCta;
  const ClusterDesc& cl = a.clusters[unit / a.n_row_tiles];
  int t, head;
  dev::cta_row(cl, unit % a.n_row_tiles, r, &t, &head);
  if (t >= a.n_q) return;
  __shared__ float w_s[kMaxSplits];
  __shared__ float part_s[kMergeThreads];
  __shared__ float inv_l;
  const int n = a.n_splits;
  const size_t base = (static_cast<size_t>(seq) * n_units + unit) * n;
  if (threadIdx.x < 32) {
    float m = -INFINITY;
    for (int s = threadIdx.x; s < n; s += 32) m = fmaxf(m, a.ws_ml[(base + s) * 2 * kRowsPerCta + 2 * r]);
    for (int o = 16; o > 0; o >>= 1) m = fmaxf(m, __shfl_xor_sync(0xffffffffu, m, o));
    float l = 0.0f;
    for (int s = threadIdx.x; s < n; s += 32) {
      const float ms = a.ws_ml[(base + s) * 2 * kRowsPerCta + 2 * r];
      const float f = ms == -INFINITY ? 0.0f : dev::exp2_approx(ms - m);
      w_s[s] = f;
      l += f * a.ws_ml[(base + s) * 2 * kRowsPerCta + 2 * r + 1];
    }
    for (int o = 16; o > 0; o >>= 1) l += __shfl_xor_sync(0xffffffffu, l, o);
    if (threadIdx.x == 0) inv_l = 1.0f / l;
  }
  __syncthreads();
  float* z = a.z + static_cast<int64_t>(seq) * a.z_seq + static_cast<int64_t>(t) * a.ldz + a.z_off[head];
  const int cols = min(cl.v_len, kMergeThreads), groups = kMergeThreads / cols;
  const int grp = threadIdx.x / cols, cc = threadIdx.x % cols;
  const size_t step = static_cast<size_t>(kRowsPerCta) * R;  // one split further in ws_o
  for (int c0 = 0; c0 < cl.v_len; c0 += cols) {
    const int c = c0 + cc;
    float o = 0.0f;
    if (grp < groups && c < cl.v_len) {
      const float* src = a.ws_o + (base * kRowsPerCta + r) * R + c;
      int s = grp;
      // Splits whose weight is 0 are selected away, not multiplied (their O_s may be anything).
      for (; s + (kMergeUnroll - 1) * groups < n; s += kMergeUnroll * groups) {
        float x[kMergeUnroll];
#pragma unroll
        for (int k = 0; k < kMergeUnroll; ++k) x[k] = src[(s + k * groups) * step];
#pragma unroll
        for (int k = 0; k < kMergeUnroll; ++k) {
          const float w = w_s[s + k * groups];
          o += w != 0.0f ? x[k] * w : 0.0f;
        }
      }
      for (; s < n; s += groups) {
        const float w = w_s[s];
        if (w != 0.0f) o += src[s * step] * w;
      }
    }
    part_s[threadIdx.x] = o;
    __syncthreads();
    if (threadIdx.x < cols && c < cl.v_len) {
      float sum = 0.0f;
      for (int g = 0; g < groups; ++g) sum += part_s[g * cols + threadIdx.x];
      z[c] = sum * inv_l;
    }
    __syncthreads();
  }
}

}  // namespace

cudaError_t launch_split_merge(const SplitAttentionArgs& a, int n_seq, int R, cudaStream_t stream) {
  if (a.n_splits > kMaxSplits) return cudaErrorInvalidValue;
  return launch_pdl(split_merge_kernel, dim3(a.n_clusters * a.n_row_tiles * kRowsPerCta, n_seq), kMergeThreads, 0,
                    stream, a, R);
}

}  // namespace lrkv::cuda
