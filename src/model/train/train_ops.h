// Building blocks of the training forward/backward (fp32): BLAS products in the three shapes
// backprop needs, RMSNorm forward/backward, SwiGLU backward, column sums. Not part of the public
// API. Matrices are row-major; every pointer comes with its row stride (ld, in elements). GEMMs run
// on the calling thread (OpenBLAS threads them itself); row loops use global_pool().
#pragma once

#include <cstdint>

namespace lrkv::train_ops {

// C[m, n] = alpha · op(A) · op(B) + beta · C, op = transpose when the flag is set.
// A is [m, k] (or [k, m] when trans_a), B is [k, n] (or [n, k] when trans_b).
void gemm(bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, float alpha, const float* a,
          int64_t lda, const float* b, int64_t ldb, float beta, float* c, int64_t ldc);

// Forward projection y[T, n] (+)= x[T, k] · W[n, k]ᵀ.
void linear(const float* x, int64_t ldx, int64_t T, const float* w, int64_t n, int64_t k, float* y,
            int64_t ldy, bool accumulate = false);
// Input gradient dx[T, k] (+)= dy[T, n] · W[n, k].
void linear_dx(const float* dy, int64_t ldy, int64_t T, const float* w, int64_t n, int64_t k,
               float* dx, int64_t ldx, bool accumulate);
// Weight gradient dW[n, k] (+)= dy[T, n]ᵀ · x[T, k].
void linear_dw(const float* dy, int64_t ldy, const float* x, int64_t ldx, int64_t T, int64_t n,
               int64_t k, float* dw, bool accumulate);

// y[t, :n] += b (b may be null).
void add_bias(float* y, int64_t ldy, int64_t T, const float* b, int64_t n);
// out[:n] (+)= Σ_t y[t, :n] (column sums, accumulated in double per column).
void col_sums(const float* y, int64_t ldy, int64_t T, int64_t n, float* out, bool accumulate);

// y = x · r · g with r[t] = 1/sqrt(mean(x[t]²) + eps); x, y [T, d] contiguous, rstd [T] saved.
void rmsnorm_forward(const float* x, const float* g, int64_t T, int64_t d, float eps, float* y,
                     float* rstd);
// dx[T, d] += dL/dx given dy = dL/dy: dx = r·(g⊙dy) − x·r³·⟨x, g⊙dy⟩/d.
void rmsnorm_backward(const float* x, const float* g, const float* rstd, const float* dy, int64_t T,
                      int64_t d, float* dx);

// a[T, f] = silu(gate) ⊙ up.
void swiglu_forward(const float* gate, const float* up, int64_t n, float* a);
// Given da, writes dgate = da ⊙ up ⊙ silu'(gate) and dup = da ⊙ silu(gate) (n elements).
// dgate may alias da.
void swiglu_backward(const float* gate, const float* up, const float* da, int64_t n, float* dgate,
                     float* dup);

}  // namespace lrkv::train_ops
