// Device kernels of GPU calibration (backend/cuda/cuda_calibration.h): fp32 activation rows to a
// dense fp64 matrix (for Dsyrk), and Σ z zᴴ per RoPE frequency across KV heads (calibration.h's
// k_freq). Pointers and shapes only.
#pragma once

#include <cuda_runtime.h>

#include <cstdint>

namespace lrkv::cuda {

// y[r * cols + c] = x[r * ld + c] as double, for rows x cols.
cudaError_t rows_to_f64(const float* x, int64_t rows, int64_t cols, int64_t ld, double* y, cudaStream_t stream);

// m[(i * H + a) * H + b] += Σ_r z_a conj(z_b), z_h = k_h[ia] + j k_h[ib] with k_h = x[r * ld + h * hd]
// and (ia, ib) = (2i, 2i+1) if interleaved else (i, i + hd/2); m holds (re, im) pairs
// ([hd/2, H, H] std::complex<double>). One thread per (i, a, b), looping over the rows.
cudaError_t accumulate_rope_freq_moments(const float* x, int64_t rows, int64_t ld, int n_kv_head, int head_dim,
                                         bool interleaved, double* m, cudaStream_t stream);

}  // namespace lrkv::cuda
