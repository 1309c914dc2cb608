#include "compress/linalg.h"

#include <cblas.h>
#include <lapacke.h>

#include <algorithm>
#include <cmath>

#include "core/thread_pool.h"

namespace lrkv {

namespace {
Status check_finite(const std::vector<double>& a, const char* what) {
  for (double v : a) {
    if (!std::isfinite(v)) return make_error(ErrorCode::kInvalidArgument, "{}: matrix has non-finite entries", what);
  }
  return Status::Ok();
}
}  // namespace

Mat Mat::identity(int64_t n) {
  Mat m(n, n);
  for (int64_t i = 0; i < n; ++i) m(i, i) = 1.0;
  return m;
}

Mat Mat::transposed() const {
  Mat t(cols, rows);
  for (int64_t i = 0; i < rows; ++i) {
    for (int64_t j = 0; j < cols; ++j) t(j, i) = (*this)(i, j);
  }
  return t;
}

Mat Mat::block(int64_t r0, int64_t nr, int64_t c0, int64_t nc) const {
  LRKV_CHECK(r0 >= 0 && c0 >= 0 && r0 + nr <= rows && c0 + nc <= cols, "block out of range");
  Mat b(nr, nc);
  for (int64_t i = 0; i < nr; ++i) std::copy_n(row(r0 + i) + c0, nc, b.row(i));
  return b;
}

void Mat::set_block(int64_t r0, int64_t c0, const Mat& b) {
  LRKV_CHECK(r0 + b.rows <= rows && c0 + b.cols <= cols, "set_block out of range");
  for (int64_t i = 0; i < b.rows; ++i) std::copy_n(b.row(i), b.cols, row(r0 + i) + c0);
}

double Mat::frobenius() const {
  double s = 0.0;
  for (double v : a) s += v * v;
  return std::sqrt(s);
}

Mat matmul(const Mat& A, const Mat& B, bool ta, bool tb) {
  const int64_t m = ta ? A.cols : A.rows, k = ta ? A.rows : A.cols;
  const int64_t kb = tb ? B.cols : B.rows, n = tb ? B.rows : B.cols;
  LRKV_CHECK(k == kb, "matmul inner dims {} vs {}", k, kb);
  Mat C(m, n);
  if (m == 0 || n == 0 || k == 0) return C;
  cblas_dgemm(CblasRowMajor, ta ? CblasTrans : CblasNoTrans, tb ? CblasTrans : CblasNoTrans,
              static_cast<int>(m), static_cast<int>(n), static_cast<int>(k), 1.0, A.a.data(),
              static_cast<int>(A.cols), B.a.data(), static_cast<int>(B.cols), 0.0, C.a.data(),
              static_cast<int>(n));
  return C;
}

Mat operator-(const Mat& A, const Mat& B) {
  LRKV_CHECK(A.rows == B.rows && A.cols == B.cols, "shape");
  Mat C = A;
  for (size_t i = 0; i < C.a.size(); ++i) C.a[i] -= B.a[i];
  return C;
}

Result<Svd> svd(const Mat& A) {
  LRKV_RETURN_IF_ERROR(check_finite(A.a, "svd"));
  const int64_t m = A.rows, n = A.cols, k = std::min(m, n);
  Svd r{Mat(m, k), std::vector<double>(k), Mat(k, n)};
  Mat work = A;
  const lapack_int info = LAPACKE_dgesdd(LAPACK_ROW_MAJOR, 'S', static_cast<lapack_int>(m),
                                         static_cast<lapack_int>(n), work.a.data(),
                                         static_cast<lapack_int>(n), r.s.data(), r.U.a.data(),
                                         static_cast<lapack_int>(k), r.Vt.a.data(),
                                         static_cast<lapack_int>(n));
  if (info != 0) return make_error(ErrorCode::kInternal, "SVD of a {}x{} matrix failed (info {})", m, n, info);
  return r;
}

Result<Eigh> eigh(const Mat& A) {
  LRKV_CHECK(A.rows == A.cols, "eigh of non-square");
  LRKV_RETURN_IF_ERROR(check_finite(A.a, "eigh"));
  const int64_t n = A.rows;
  Eigh r{std::vector<double>(n), A};
  const lapack_int info = LAPACKE_dsyevd(LAPACK_ROW_MAJOR, 'V', 'U', static_cast<lapack_int>(n),
                                         r.V.a.data(), static_cast<lapack_int>(n), r.w.data());
  if (info != 0) return make_error(ErrorCode::kInternal, "eigendecomposition of {}x{} failed (info {})", n, n, info);
  // LAPACK returns ascending order: reverse columns and values.
  std::reverse(r.w.begin(), r.w.end());
  for (int64_t i = 0; i < n; ++i) std::reverse(r.V.row(i), r.V.row(i) + n);
  return r;
}

Result<EighComplex> eigh_complex(const std::vector<std::complex<double>>& A, int64_t n) {
  LRKV_CHECK(static_cast<int64_t>(A.size()) == n * n, "eigh_complex size");
  EighComplex r{std::vector<double>(n), A};
  const lapack_int info = LAPACKE_zheevd(LAPACK_ROW_MAJOR, 'V', 'U', static_cast<lapack_int>(n),
                                         reinterpret_cast<lapack_complex_double*>(r.V.data()),
                                         static_cast<lapack_int>(n), r.w.data());
  if (info != 0) return make_error(ErrorCode::kInternal, "Hermitian eigendecomposition failed (info {})", info);
  std::reverse(r.w.begin(), r.w.end());
  for (int64_t i = 0; i < n; ++i) std::reverse(r.V.begin() + i * n, r.V.begin() + (i + 1) * n);
  return r;
}

Result<Mat> cholesky_lower(const Mat& A, double eps, double* shift) {
  LRKV_CHECK(A.rows == A.cols, "cholesky of non-square");
  LRKV_RETURN_IF_ERROR(check_finite(A.a, "cholesky"));
  const int64_t n = A.rows;
  if (shift) *shift = 0.0;
  for (int attempt = 0; attempt < 2; ++attempt) {
    Mat L = A;
    if (attempt == 1) {
      LRKV_ASSIGN_OR_RETURN(Eigh e, eigh(A));
      const double add = std::fabs(e.w.back()) + eps;
      for (int64_t i = 0; i < n; ++i) L(i, i) += add;
      if (shift) *shift = add;
    }
    const lapack_int info = LAPACKE_dpotrf(LAPACK_ROW_MAJOR, 'L', static_cast<lapack_int>(n), L.a.data(),
                                           static_cast<lapack_int>(n));
    if (info == 0) {
      for (int64_t i = 0; i < n; ++i) std::fill(L.row(i) + i + 1, L.row(i) + n, 0.0);
      return L;
    }
  }
  return make_error(ErrorCode::kInternal, "Cholesky of a {}x{} matrix failed even after regularisation", n, n);
}

Result<Mat> invert_lower(const Mat& L) {
  Mat inv = L;
  const lapack_int info = LAPACKE_dtrtri(LAPACK_ROW_MAJOR, 'L', 'N', static_cast<lapack_int>(L.rows),
                                         inv.a.data(), static_cast<lapack_int>(L.rows));
  if (info != 0) return make_error(ErrorCode::kInternal, "triangular inverse failed (info {})", info);
  return inv;
}

void parallel_small_linalg(int64_t n, const std::function<void(int64_t)>& fn) {
  const int threads = openblas_get_num_threads();
  openblas_set_num_threads(1);
  global_pool().parallel_for(n, 1, [&](int64_t i0, int64_t i1) {
    for (int64_t i = i0; i < i1; ++i) fn(i);
  });
  openblas_set_num_threads(threads);
}

}  // namespace lrkv
