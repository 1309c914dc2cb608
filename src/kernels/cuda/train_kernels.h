// Launchers of the training graph's row-wise kernels (backend/cuda/cuda_train_graph.h), fp32,
// device pointers, asynchronous on `stream`. Plain types only (nvcc cannot include
// core/status.h); train_ops.h and losses.h give the CPU definitions they mirror.
#pragma once

#include <cuda_runtime.h>

#include <cstdint>

namespace lrkv::cuda {

// y[T, d] = x · r · g, rstd[t] = r = 1/sqrt(mean(x[t]²) + eps); x, y contiguous.
cudaError_t launch_rmsnorm_rstd(const float* x, const float* g, int64_t T, int64_t d, float eps, float* y,
                                float* rstd, cudaStream_t stream);
// dx[T, d] += r·(g⊙dy) − x·r³·⟨x, g⊙dy⟩/d.
cudaError_t launch_rmsnorm_backward(const float* x, const float* g, const float* rstd, const float* dy, int64_t T,
                                    int64_t d, float* dx, cudaStream_t stream);
// dgate = da ⊙ up ⊙ silu'(gate), dup = da ⊙ silu(gate); n elements; dgate may alias da.
cudaError_t launch_swiglu_backward(const float* gate, const float* up, const float* da, int64_t n, float* dgate,
                                   float* dup, cudaStream_t stream);
// out[:n] = (accumulate ? out : 0) + alpha · Σ_t y[t, :n]  (y row stride ldy; double sums).
cudaError_t launch_col_sums(const float* y, int64_t ldy, int64_t T, int64_t n, float alpha, float* out,
                            bool accumulate, cudaStream_t stream);
// Causal softmax in place over `mats` square [n, n] score matrices (row i keeps j ≤ i, the rest
// becomes 0): s[m, i, j] = exp(s − max) / Σ.
cudaError_t launch_causal_softmax(float* s, int64_t mats, int64_t n, cudaStream_t stream);
// D[h, i] = Σ_c dz[i, h·hd + c] · z[i, h·hd + c] for rows i < n, heads h < n_head (row stride ld).
cudaError_t launch_head_row_dots(const float* dz, const float* z, int64_t ld, int64_t n, int n_head, int hd,
                                 float* D, cudaStream_t stream);
// Softmax backward in place: dp[m, i, j] = p[m, i, j] · (dp[m, i, j] − D[m, i]) (0 above the
// diagonal), m < mats.
cudaError_t launch_softmax_backward(const float* p, float* dp, const float* D, int64_t mats, int64_t n,
                                    cudaStream_t stream);

// Next-token loss rows (losses.h): for each row t of logits [T, V] with target[t] ≥ 0 (CE term)
// or kl[t] != 0 (KL term, teacher row required), writes ce[t] = lse − x[target], kl_out[t] =
// KL(p_T ‖ p_S) and overwrites the row with a·(p_S − onehot) + b·(p_S − p_T); other rows become 0.
cudaError_t launch_next_token_loss(float* logits, const float* teacher, int64_t T, int64_t V, const int* target,
                                   const uint8_t* kl, double a, double b, double* ce, double* kl_out,
                                   cudaStream_t stream);

}  // namespace lrkv::cuda
