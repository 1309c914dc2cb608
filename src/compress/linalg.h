// Dense fp64 linear algebra for compression (row-major matrices, LAPACKE/CBLAS underneath).
// Factorisations return Status on failure (non-finite input, no convergence) instead of aborting.
#pragma once

#include <functional>

#include <complex>
#include <cstdint>
#include <vector>

#include "core/status.h"

namespace lrkv {

// Row-major fp64 matrix [rows, cols].
struct Mat {
  int64_t rows = 0, cols = 0;
  std::vector<double> a;
  Mat() = default;
  Mat(int64_t r, int64_t c) : rows(r), cols(c), a(static_cast<size_t>(r * c), 0.0) {}
  double& operator()(int64_t i, int64_t j) { return a[i * cols + j]; }
  double operator()(int64_t i, int64_t j) const { return a[i * cols + j]; }
  double* row(int64_t i) { return a.data() + i * cols; }
  const double* row(int64_t i) const { return a.data() + i * cols; }
  static Mat identity(int64_t n);
  Mat transposed() const;
  // Rows [r0, r0+nr) and columns [c0, c0+nc).
  Mat block(int64_t r0, int64_t nr, int64_t c0, int64_t nc) const;
  void set_block(int64_t r0, int64_t c0, const Mat& b);
  double frobenius() const;
};

// C = op(A) · op(B) with op = transpose when the flag is set (cblas_dgemm).
Mat matmul(const Mat& A, const Mat& B, bool trans_a = false, bool trans_b = false);

// fn(i) for every i in [0, n) on the thread pool, BLAS/LAPACK single-threaded meanwhile (OpenBLAS
// threads under every pool thread oversubscribe the cores: measured 1000x slower for per-head
// 128 x 128 Cayley maps on 16 cores). For many small independent factorisations. Restores the
// BLAS thread count afterwards.
void parallel_small_linalg(int64_t n, const std::function<void(int64_t)>& fn);
Mat operator-(const Mat& A, const Mat& B);

// Thin SVD A = U diag(s) Vᵀ, k = min(m, n), s descending (LAPACKE_dgesdd).
struct Svd {
  Mat U;   // [m, k]
  std::vector<double> s;  // [k]
  Mat Vt;  // [k, n]
};
Result<Svd> svd(const Mat& A);

// Symmetric eigendecomposition A = V diag(w) Vᵀ, w descending, V columns (LAPACKE_dsyevd).
struct Eigh {
  std::vector<double> w;
  Mat V;  // [n, n], column j is the eigenvector of w[j]
};
Result<Eigh> eigh(const Mat& A);

// Hermitian eigendecomposition of a complex n x n matrix (row-major), w descending
// (LAPACKE_zheevd). V column j is the eigenvector of w[j].
struct EighComplex {
  std::vector<double> w;
  std::vector<std::complex<double>> V;  // [n, n] row-major
};
Result<EighComplex> eigh_complex(const std::vector<std::complex<double>>& A, int64_t n);

// Lower Cholesky factor L (A = L Lᵀ). If A is not positive definite, retries with
// A + (|lambda_min| + eps) I (Palu's fallback); *shift reports the added diagonal (0 if none).
Result<Mat> cholesky_lower(const Mat& A, double eps = 1e-3, double* shift = nullptr);
// Inverse of a lower-triangular matrix (LAPACKE_dtrtri).
Result<Mat> invert_lower(const Mat& L);

}  // namespace lrkv
