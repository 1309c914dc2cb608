#include "kernels/cuda/moments.h"

#include <algorithm>

namespace lrkv::cuda {
namespace {

__global__ void rows_to_f64_kernel(const float* x, int64_t rows, int64_t cols, int64_t ld, double* y) {
  const int64_t n = rows * cols;
  for (int64_t i = blockIdx.x * int64_t{blockDim.x} + threadIdx.x; i < n; i += int64_t{gridDim.x} * blockDim.x) {
    const int64_t r = i / cols, c = i - r * cols;
    y[i] = static_cast<double>(x[r * ld + c]);
  }
}

__global__ void freq_moments_kernel(const float* x, int64_t rows, int64_t ld, int H, int hd, bool inter, double* m) {
  const int half = hd / 2;
  const int t = blockIdx.x * blockDim.x + threadIdx.x;
  if (t >= half * H * H) return;
  const int i = t / (H * H), a = (t / H) % H, b = t % H;
  const int ia = inter ? 2 * i : i, ib = inter ? 2 * i + 1 : i + half;
  double re = 0.0, im = 0.0;
  for (int64_t r = 0; r < rows; ++r) {
    const float* k = x + r * ld;
    const double ar = k[a * hd + ia], ai = k[a * hd + ib], br = k[b * hd + ia], bi = k[b * hd + ib];
    re += ar * br + ai * bi;  // z_a conj(z_b)
    im += ai * br - ar * bi;
  }
  m[2 * t] += re;
  m[2 * t + 1] += im;
}

}  // namespace

cudaError_t rows_to_f64(const float* x, int64_t rows, int64_t cols, int64_t ld, double* y, cudaStream_t stream) {
  const int64_t n = rows * cols;
  if (n == 0) return cudaSuccess;
  const int threads = 256;
  const int blocks = static_cast<int>(std::min<int64_t>((n + threads - 1) / threads, 65536));
  rows_to_f64_kernel<<<blocks, threads, 0, stream>>>(x, rows, cols, ld, y);
  return cudaGetLastError();
}

cudaError_t accumulate_rope_freq_moments(const float* x, int64_t rows, int64_t ld, int n_kv_head, int head_dim,
                                         bool interleaved, double* m, cudaStream_t stream) {
  const int n = head_dim / 2 * n_kv_head * n_kv_head;
  if (n == 0 || rows == 0) return cudaSuccess;
  const int threads = 128;
  freq_moments_kernel<<<(n + threads - 1) / threads, threads, 0, stream>>>(x, rows, ld, n_kv_head, head_dim,
                                                                         interleaved, m);
  return cudaGetLastError();
}

}  // namespace lrkv::cuda
