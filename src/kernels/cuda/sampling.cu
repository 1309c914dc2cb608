#include <cstdint>

#include "kernels/cuda/pdl.cuh"
#include "kernels/cuda/sampling_args.h"

namespace lrkv::cuda {
namespace {

constexpr int kThreads = 1024;
constexpr int kWarps = kThreads / 32;

// Order-preserving key: a > b as floats  <=>  key(a) > key(b) as unsigned (NaN-free input; rows
// with a NaN get some order and are reported through `bad`).
__device__ __forceinline__ uint32_t float_key(float x) {
  const uint32_t u = __float_as_uint(x);
  return (u & 0x80000000u) ? ~u : (u | 0x80000000u);
}

// Block reduction of one int per thread by `op` (all threads get it); `identity` pads the lanes
// past kWarps. `red` holds kWarps ints.
template <class Op>
__device__ __forceinline__ int block_reduce(int v, int* red, int identity, Op op) {
  for (int o = 16; o > 0; o >>= 1) v = op(v, __shfl_xor_sync(0xffffffffu, v, o));
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  __syncthreads();
  if (lane == 0) red[warp] = v;
  __syncthreads();
  int t = lane < kWarps ? red[lane] : identity;
  for (int o = 16; o > 0; o >>= 1) t = op(t, __shfl_xor_sync(0xffffffffu, t, o));
  return t;
}
struct IntAdd {
  __device__ int operator()(int a, int b) const { return a + b; }
};
struct IntMin {
  __device__ int operator()(int a, int b) const { return min(a, b); }
};
__device__ __forceinline__ int block_sum(int v, int* red) { return block_reduce(v, red, 0, IntAdd{}); }

// Thread 0 stores the row's first non-finite column (nf: this thread's first, 0x7fffffff for
// none) or -1.
__device__ __forceinline__ void store_first_bad(int nf, int* red, int* bad) {
  nf = block_reduce(nf, red, 0x7fffffff, IntMin{});
  if (bad != nullptr && threadIdx.x == 0) bad[blockIdx.x] = nf == 0x7fffffff ? -1 : nf;
}

// Block exclusive prefix sum of one int per thread (in thread order); *total = the sum.
__device__ __forceinline__ int block_exclusive_scan(int v, int* red, int* total) {
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  int incl = v;
  for (int o = 1; o < 32; o <<= 1) {
    const int y = __shfl_up_sync(0xffffffffu, incl, o);
    if (lane >= o) incl += y;
  }
  __syncthreads();
  if (lane == 31) red[warp] = incl;
  __syncthreads();
  if (warp == 0) {
    int w = lane < kWarps ? red[lane] : 0;
    for (int o = 1; o < 32; o <<= 1) {
      const int y = __shfl_up_sync(0xffffffffu, w, o);
      if (lane >= o) w += y;
    }
    if (lane < kWarps) red[lane] = w;  // inclusive warp totals
  }
  __syncthreads();
  const int before = warp > 0 ? red[warp - 1] : 0;
  *total = red[kWarps - 1];
  return before + incl - v;
}

__global__ void __launch_bounds__(kThreads) argmax_kernel(const SampleRows p, int* ids, int* bad) {
  dev::pdl_trigger();  // launched with launch_pdl (pdl.cuh)
  dev::pdl_wait();
  __shared__ float sv[kWarps];
  __shared__ int si[kWarps];
  __shared__ int red[kWarps];
  const float* x = p.logits + int64_t{blockIdx.x} * p.ld;
  float best = -INFINITY;
  int bi = 0x7fffffff, nf = 0x7fffffff;
  for (int i = threadIdx.x; i < p.n; i += kThreads) {
    const float v = x[i];
    if (!isfinite(v) && nf == 0x7fffffff) nf = i;  // ascending i: the thread's first
    if (v > best) {  // strided scan: the first (smallest) index of a maximum within the thread
      best = v;
      bi = i;
    }
  }
  for (int o = 16; o > 0; o >>= 1) {
    const float ov = __shfl_xor_sync(0xffffffffu, best, o);
    const int oi = __shfl_xor_sync(0xffffffffu, bi, o);
    if (ov > best || (ov == best && oi < bi)) {
      best = ov;
      bi = oi;
    }
  }
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  if (lane == 0) {
    sv[warp] = best;
    si[warp] = bi;
  }
  __syncthreads();
  if (warp == 0) {
    best = sv[lane];
    bi = si[lane];
    for (int o = 16; o > 0; o >>= 1) {
      const float ov = __shfl_xor_sync(0xffffffffu, best, o);
      const int oi = __shfl_xor_sync(0xffffffffu, bi, o);
      if (ov > best || (ov == best && oi < bi)) {
        best = ov;
        bi = oi;
      }
    }
    if (lane == 0) ids[blockIdx.x] = bi == 0x7fffffff ? 0 : bi;
  }
  store_first_bad(nf, red, bad);
}

// Sorts (value desc, id asc) pairs of length P (a power of two) in shared memory.
__device__ void bitonic_sort_desc(float* v, int* id, int P) {
  for (int size = 2; size <= P; size <<= 1) {
    for (int stride = size >> 1; stride > 0; stride >>= 1) {
      __syncthreads();
      for (int i = threadIdx.x; i < P; i += kThreads) {
        const int j = i ^ stride;
        if (j > i) {
          const bool before = (i & size) == 0;  // this half ends up descending
          const bool i_first = v[i] > v[j] || (v[i] == v[j] && id[i] < id[j]);
          if (i_first != before) {
            const float tv = v[i];
            v[i] = v[j];
            v[j] = tv;
            const int ti = id[i];
            id[i] = id[j];
            id[j] = ti;
          }
        }
      }
    }
  }
  __syncthreads();
}

__global__ void __launch_bounds__(kThreads)
    top_k_kernel(const SampleRows p, int k, float* values, int* ids, int* bad) {
  dev::pdl_trigger();  // launched with launch_pdl (pdl.cuh)
  dev::pdl_wait();
  __shared__ int red[kWarps];
  __shared__ float cv[kTopKMax];
  __shared__ int ci[kTopKMax];
  const float* x = p.logits + int64_t{blockIdx.x} * p.ld;
  // 1. t = key of the k-th largest value: the largest t with #{key >= t} >= k, bit by bit.
  uint32_t t = 0;
  for (int bit = 31; bit >= 0; --bit) {
    const uint32_t cand = t | (1u << bit);
    int c = 0;
    for (int i = threadIdx.x; i < p.n; i += kThreads) c += float_key(x[i]) >= cand;
    if (block_sum(c, red) >= k) t = cand;
  }
  // 2. Gather keys > t, then the first (k - #greater) keys == t, in index order: contiguous
  //    chunks per thread and block prefix sums of the per-thread counts.
  const int chunk = (p.n + kThreads - 1) / kThreads;
  const int i0 = min(p.n, static_cast<int>(threadIdx.x) * chunk), i1 = min(p.n, i0 + chunk);
  int gt = 0, eq = 0, nf = 0x7fffffff;
  for (int i = i0; i < i1; ++i) {
    const float v = x[i];
    if (!isfinite(v) && nf == 0x7fffffff) nf = i;
    const uint32_t key = float_key(v);
    gt += key > t;
    eq += key == t;
  }
  store_first_bad(nf, red, bad);
  int n_gt = 0, n_eq = 0;
  int at_gt = block_exclusive_scan(gt, red, &n_gt);
  int at_eq = block_exclusive_scan(eq, red, &n_eq);
  const int take_eq = k - n_gt;  // 1 <= take_eq <= n_eq by the choice of t
  for (int i = i0; i < i1; ++i) {
    const float v = x[i];
    const uint32_t key = float_key(v);
    if (key > t) {
      cv[at_gt] = v;
      ci[at_gt] = i;
      ++at_gt;
    } else if (key == t) {
      if (at_eq < take_eq) {
        cv[n_gt + at_eq] = v;
        ci[n_gt + at_eq] = i;
      }
      ++at_eq;
    }
  }
  // 3. Sort the k candidates (padded to a power of two with -inf).
  int P = 1;
  while (P < k) P <<= 1;
  for (int i = k + threadIdx.x; i < P; i += kThreads) {
    cv[i] = -INFINITY;
    ci[i] = 0x7fffffff;
  }
  bitonic_sort_desc(cv, ci, P);
  for (int i = threadIdx.x; i < k; i += kThreads) {
    values[int64_t{blockIdx.x} * k + i] = cv[i];
    ids[int64_t{blockIdx.x} * k + i] = ci[i];
  }
}

}  // namespace

cudaError_t launch_argmax_rows(const SampleRows& p, int* ids, int* bad, cudaStream_t stream) {
  return launch_pdl(argmax_kernel, p.rows, kThreads, 0, stream, p, ids, bad);
}

cudaError_t launch_top_k_rows(const SampleRows& p, int k, float* values, int* ids, int* bad, cudaStream_t stream) {
  return launch_pdl(top_k_kernel, p.rows, kThreads, 0, stream, p, k, values, ids, bad);
}

}  // namespace lrkv::cuda
