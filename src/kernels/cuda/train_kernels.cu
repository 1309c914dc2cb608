// Row-wise kernels of the training graph (train_kernels.h). Grid-stride loops for elementwise
// work, one block per row for reductions over a row (RMSNorm, the vocabulary-wide loss), one warp
// per score row for the causal softmax.
#include <cfloat>

#include "kernels/cuda/device_utils.cuh"
#include "kernels/cuda/train_kernels.h"

namespace lrkv::cuda {
namespace {

constexpr int kThreads = 256;

int blocks_for(int64_t n) { return dev::grid_stride_blocks(n, kThreads); }

// Sum of v over the block (blockDim.x = kThreads); every thread gets the result.
template <class T>
__device__ T block_sum(T v) {
  __shared__ T part[kThreads / 32];
  for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
  __syncthreads();  // part may still be read by a previous call
  if ((threadIdx.x & 31) == 0) part[threadIdx.x >> 5] = v;
  __syncthreads();
  T s = 0;
  for (int i = 0; i < kThreads / 32; ++i) s += part[i];
  return s;
}

__device__ float block_max(float v) {
  __shared__ float part[kThreads / 32];
  for (int o = 16; o > 0; o >>= 1) v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, o));
  __syncthreads();
  if ((threadIdx.x & 31) == 0) part[threadIdx.x >> 5] = v;
  __syncthreads();
  float m = -FLT_MAX;
  for (int i = 0; i < kThreads / 32; ++i) m = fmaxf(m, part[i]);
  return m;
}

__global__ void rmsnorm_rstd_kernel(const float* xs, const float* g, int64_t d, float eps, float* ys, float* rstd) {
  const float* x = xs + blockIdx.x * d;
  float* y = ys + blockIdx.x * d;
  float ss = 0.0f;
  for (int64_t c = threadIdx.x; c < d; c += blockDim.x) ss += x[c] * x[c];
  const float r = rsqrtf(block_sum(ss) / static_cast<float>(d) + eps);
  for (int64_t c = threadIdx.x; c < d; c += blockDim.x) y[c] = x[c] * r * g[c];
  if (threadIdx.x == 0) rstd[blockIdx.x] = r;
}

__global__ void rmsnorm_backward_kernel(const float* xs, const float* g, const float* rstd, const float* dys,
                                        int64_t d, float* dxs) {
  const float* x = xs + blockIdx.x * d;
  const float* dy = dys + blockIdx.x * d;
  float* dx = dxs + blockIdx.x * d;
  float dot = 0.0f;
  for (int64_t c = threadIdx.x; c < d; c += blockDim.x) dot += x[c] * g[c] * dy[c];
  dot = block_sum(dot);
  const float r = rstd[blockIdx.x], k = r * r * r * dot / static_cast<float>(d);
  for (int64_t c = threadIdx.x; c < d; c += blockDim.x) dx[c] += r * g[c] * dy[c] - x[c] * k;
}

__global__ void swiglu_backward_kernel(const float* gate, const float* up, const float* da, int64_t n, float* dgate,
                                       float* dup) {
  for (int64_t i = blockIdx.x * int64_t{blockDim.x} + threadIdx.x; i < n; i += int64_t{gridDim.x} * blockDim.x) {
    const float x = gate[i], s = 1.0f / (1.0f + expf(-x)), a = da[i];
    dup[i] = a * x * s;
    dgate[i] = a * up[i] * s * (1.0f + x * (1.0f - s));  // silu'(x) = s + x s (1 − s)
  }
}

__global__ void col_sums_kernel(const float* y, int64_t ldy, int64_t T, int64_t n, float alpha, float* out,
                                bool accumulate) {
  for (int64_t c = blockIdx.x * int64_t{blockDim.x} + threadIdx.x; c < n; c += int64_t{gridDim.x} * blockDim.x) {
    double s = 0.0;
    for (int64_t t = 0; t < T; ++t) s += y[t * ldy + c];
    const float v = alpha * static_cast<float>(s);
    out[c] = accumulate ? out[c] + v : v;
  }
}

// One warp per row of n scores.
__global__ void causal_softmax_kernel(float* s, int64_t rows, int64_t n) {
  const int64_t row = blockIdx.x * int64_t{blockDim.x / 32} + threadIdx.x / 32;
  if (row >= rows) return;
  const int lane = threadIdx.x & 31;
  const int64_t i = row % n;
  float* x = s + row * n;
  float m = -FLT_MAX;
  for (int64_t j = lane; j <= i; j += 32) m = fmaxf(m, x[j]);
  for (int o = 16; o > 0; o >>= 1) m = fmaxf(m, __shfl_xor_sync(0xffffffffu, m, o));
  float sum = 0.0f;
  for (int64_t j = lane; j <= i; j += 32) sum += expf(x[j] - m);
  for (int o = 16; o > 0; o >>= 1) sum += __shfl_xor_sync(0xffffffffu, sum, o);
  const float inv = 1.0f / sum;
  for (int64_t j = lane; j < n; j += 32) x[j] = j <= i ? expf(x[j] - m) * inv : 0.0f;
}

// One warp per (row i, head h).
__global__ void head_row_dots_kernel(const float* dz, const float* z, int64_t ld, int64_t n, int n_head, int hd,
                                     float* D) {
  const int64_t w = blockIdx.x * int64_t{blockDim.x / 32} + threadIdx.x / 32;
  if (w >= n * n_head) return;
  const int64_t i = w / n_head;
  const int h = static_cast<int>(w % n_head);
  const float* a = dz + i * ld + int64_t{h} * hd;
  const float* b = z + i * ld + int64_t{h} * hd;
  float s = 0.0f;
  for (int c = threadIdx.x & 31; c < hd; c += 32) s += a[c] * b[c];
  for (int o = 16; o > 0; o >>= 1) s += __shfl_xor_sync(0xffffffffu, s, o);
  if ((threadIdx.x & 31) == 0) D[int64_t{h} * n + i] = s;
}

__global__ void softmax_backward_kernel(const float* p, float* dp, const float* D, int64_t total, int64_t n) {
  for (int64_t e = blockIdx.x * int64_t{blockDim.x} + threadIdx.x; e < total; e += int64_t{gridDim.x} * blockDim.x) {
    const int64_t j = e % n, row = e / n, i = row % n;
    dp[e] = j <= i ? p[e] * (dp[e] - D[row]) : 0.0f;
  }
}

// One block per row. Softmax sums in double, as the CPU loss (losses.cpp).
__global__ void next_token_loss_kernel(float* logits, const float* teacher, int64_t V, const int* target,
                                       const uint8_t* kl, double a, double b, double* ce_out, double* kl_out) {
  const int64_t t = blockIdx.x;
  float* x = logits + t * V;
  const int tg = target[t];
  const bool has_kl = kl[t] != 0;
  if (tg < 0 && !has_kl) {
    for (int64_t v = threadIdx.x; v < V; v += blockDim.x) x[v] = 0.0f;
    if (threadIdx.x == 0) ce_out[t] = kl_out[t] = 0.0;
    return;
  }
  const float* tx = has_kl ? teacher + t * V : nullptr;
  float mx = -FLT_MAX, tmx = -FLT_MAX;
  for (int64_t v = threadIdx.x; v < V; v += blockDim.x) {
    mx = fmaxf(mx, x[v]);
    if (tx) tmx = fmaxf(tmx, tx[v]);
  }
  mx = block_max(mx);
  tmx = block_max(tmx);
  double s = 0.0, ts = 0.0;
  for (int64_t v = threadIdx.x; v < V; v += blockDim.x) {
    s += expf(x[v] - mx);
    if (tx) ts += expf(tx[v] - tmx);
  }
  s = block_sum(s);
  ts = block_sum(ts);
  const double lse = mx + log(s), tlse = tx ? tmx + log(ts) : 0.0;
  const float inv_s = static_cast<float>(1.0 / s), inv_t = tx ? static_cast<float>(1.0 / ts) : 0.0f;
  const float xt = tg >= 0 ? x[tg] : 0.0f;
  __syncthreads();  // x[tg] is read by all before anyone overwrites it
  const float fa = static_cast<float>(tg >= 0 ? a : 0.0), fb = static_cast<float>(b);
  double k = 0.0;
  for (int64_t v = threadIdx.x; v < V; v += blockDim.x) {
    const float ps = expf(x[v] - mx) * inv_s;
    if (tx) {
      const float pt = expf(tx[v] - tmx) * inv_t;
      k += static_cast<double>(pt) * ((tx[v] - tlse) - (x[v] - lse));
      x[v] = fa * ps + fb * (ps - pt);
    } else {
      x[v] = fa * ps;
    }
  }
  k = block_sum(k);  // also orders every write above before the fix-up below
  if (threadIdx.x == 0) {
    if (tg >= 0) x[tg] -= fa;
    ce_out[t] = tg >= 0 ? lse - xt : 0.0;
    kl_out[t] = tx ? k : 0.0;
  }
}

}  // namespace

cudaError_t launch_rmsnorm_rstd(const float* x, const float* g, int64_t T, int64_t d, float eps, float* y,
                                float* rstd, cudaStream_t stream) {
  if (T == 0) return cudaSuccess;
  rmsnorm_rstd_kernel<<<static_cast<unsigned>(T), kThreads, 0, stream>>>(x, g, d, eps, y, rstd);
  return cudaGetLastError();
}

cudaError_t launch_rmsnorm_backward(const float* x, const float* g, const float* rstd, const float* dy, int64_t T,
                                    int64_t d, float* dx, cudaStream_t stream) {
  if (T == 0) return cudaSuccess;
  rmsnorm_backward_kernel<<<static_cast<unsigned>(T), kThreads, 0, stream>>>(x, g, rstd, dy, d, dx);
  return cudaGetLastError();
}

cudaError_t launch_swiglu_backward(const float* gate, const float* up, const float* da, int64_t n, float* dgate,
                                   float* dup, cudaStream_t stream) {
  if (n == 0) return cudaSuccess;
  swiglu_backward_kernel<<<blocks_for(n), kThreads, 0, stream>>>(gate, up, da, n, dgate, dup);
  return cudaGetLastError();
}

cudaError_t launch_col_sums(const float* y, int64_t ldy, int64_t T, int64_t n, float alpha, float* out,
                            bool accumulate, cudaStream_t stream) {
  if (n == 0) return cudaSuccess;
  col_sums_kernel<<<blocks_for(n), kThreads, 0, stream>>>(y, ldy, T, n, alpha, out, accumulate);
  return cudaGetLastError();
}

cudaError_t launch_causal_softmax(float* s, int64_t mats, int64_t n, cudaStream_t stream) {
  const int64_t rows = mats * n;
  if (rows == 0) return cudaSuccess;
  causal_softmax_kernel<<<static_cast<unsigned>((rows + 7) / 8), kThreads, 0, stream>>>(s, rows, n);
  return cudaGetLastError();
}

cudaError_t launch_head_row_dots(const float* dz, const float* z, int64_t ld, int64_t n, int n_head, int hd,
                                 float* D, cudaStream_t stream) {
  const int64_t warps = n * n_head;
  if (warps == 0) return cudaSuccess;
  head_row_dots_kernel<<<static_cast<unsigned>((warps + 7) / 8), kThreads, 0, stream>>>(dz, z, ld, n, n_head, hd,
                                                                                         D);
  return cudaGetLastError();
}

cudaError_t launch_softmax_backward(const float* p, float* dp, const float* D, int64_t mats, int64_t n,
                                    cudaStream_t stream) {
  const int64_t total = mats * n * n;
  if (total == 0) return cudaSuccess;
  softmax_backward_kernel<<<blocks_for(total), kThreads, 0, stream>>>(p, dp, D, total, n);
  return cudaGetLastError();
}

cudaError_t launch_next_token_loss(float* logits, const float* teacher, int64_t T, int64_t V, const int* target,
                                   const uint8_t* kl, double a, double b, double* ce, double* kl_out,
                                   cudaStream_t stream) {
  if (T == 0) return cudaSuccess;
  next_token_loss_kernel<<<static_cast<unsigned>(T), kThreads, 0, stream>>>(logits, teacher, V, target, kl, a, b,
                                                                            ce, kl_out);
  return cudaGetLastError();
}

}  // namespace lrkv::cuda
