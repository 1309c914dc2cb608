#include "compress/tune/cayley.h"

#include <lapacke.h>

#include <cmath>
#include <vector>

namespace lrkv {

namespace {

// X = S⁻¹ B for square S [n, n], B [n, m] (LAPACKE_dgesv; S and B copied).
Result<Mat> solve(Mat S, Mat B) {
  if (S.rows != S.cols || B.rows != S.rows) {
    return make_error(ErrorCode::kShapeMismatch, "solve: {}x{} system with a {}x{} right-hand side",
                      S.rows, S.cols, B.rows, B.cols);
  }
  std::vector<lapack_int> piv(static_cast<size_t>(S.rows));
  const lapack_int info =
      LAPACKE_dgesv(LAPACK_ROW_MAJOR, static_cast<lapack_int>(S.rows),
                    static_cast<lapack_int>(B.cols), S.a.data(), static_cast<lapack_int>(S.cols),
                    piv.data(), B.a.data(), static_cast<lapack_int>(B.cols));
  if (info != 0)
    return make_error(ErrorCode::kInvalidArgument, "solve: singular or bad system (dgesv info {})",
                      info);
  return B;
}

// I + s·A
Mat identity_plus(const Mat& A, double s) {
  Mat out = Mat::identity(A.rows);
  for (size_t i = 0; i < A.a.size(); ++i) out.a[i] += s * A.a[i];
  return out;
}

Status check_square(const Mat& A, const char* what) {
  if (A.rows != A.cols || A.rows == 0) {
    return make_error(ErrorCode::kShapeMismatch,
                      "{}: expected a non-empty square matrix, got {}x{}", what, A.rows, A.cols);
  }
  for (double v : A.a) {
    if (!std::isfinite(v))
      return make_error(ErrorCode::kInvalidArgument, "{}: non-finite entry", what);
  }
  return Status::Ok();
}

}  // namespace

Result<Mat> cayley(const Mat& A) {
  LRKV_RETURN_IF_ERROR(check_square(A, "cayley"));
  return solve(identity_plus(A, -0.5), identity_plus(A, 0.5));  // (I − A/2)⁻¹ (I + A/2)
}

Result<Mat> cayley_backward(const Mat& A, const Mat& C, const Mat& G) {
  LRKV_RETURN_IF_ERROR(check_square(A, "cayley backward"));
  if (C.rows != A.rows || C.cols != A.cols || G.rows != A.rows || G.cols != A.cols) {
    return make_error(ErrorCode::kShapeMismatch, "cayley backward: A {}x{}, C {}x{}, G {}x{}",
                      A.rows, A.cols, C.rows, C.cols, G.rows, G.cols);
  }
  // Mᵀ G = ((I − A/2)ᵀ)⁻¹ G = (I + A/2)⁻¹ G  (A skew)
  LRKV_ASSIGN_OR_RETURN(Mat MtG, solve(identity_plus(A, 0.5), G));
  Mat X = matmul(MtG, identity_plus(C, 1.0), false, true);  // Mᵀ G (C + I)ᵀ
  for (double& v : X.a) v *= 0.5;
  return skew_part(X);
}

Mat skew_part(const Mat& X) {
  Mat S(X.rows, X.cols);
  for (int64_t i = 0; i < X.rows; ++i) {
    for (int64_t j = 0; j < X.cols; ++j) S(i, j) = 0.5 * (X(i, j) - X(j, i));
  }
  return S;
}

double orthogonality_error(const Mat& U) {
  const Mat UtU = matmul(U, U, true, false);
  double worst = 0.0;
  for (int64_t i = 0; i < UtU.rows; ++i) {
    for (int64_t j = 0; j < UtU.cols; ++j)
      worst = std::max(worst, std::fabs(UtU(i, j) - (i == j ? 1.0 : 0.0)));
  }
  return worst;
}

Result<double> determinant(const Mat& A) {
  LRKV_RETURN_IF_ERROR(check_square(A, "determinant"));
  Mat lu = A;
  std::vector<lapack_int> piv(static_cast<size_t>(A.rows));
  const lapack_int n = static_cast<lapack_int>(A.rows);
  const lapack_int info = LAPACKE_dgetrf(LAPACK_ROW_MAJOR, n, n, lu.a.data(), n, piv.data());
  if (info < 0) return make_error(ErrorCode::kInvalidArgument, "determinant: dgetrf info {}", info);
  if (info > 0) return 0.0;  // exactly singular
  double det = 1.0;
  for (lapack_int i = 0; i < n; ++i) det *= (piv[i] != i + 1 ? -1.0 : 1.0) * lu(i, i);
  return det;
}

}  // namespace lrkv
