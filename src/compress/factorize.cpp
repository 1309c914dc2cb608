#include "compress/factorize.h"

#include <cmath>

namespace lrkv {

namespace {

Status check_rank(int rank, int64_t max_rank, const char* what) {
  if (rank < 1 || rank > max_rank) {
    return make_error(ErrorCode::kInvalidArgument, "{}: rank {} outside [1, {}]", what, rank, max_rank);
  }
  return Status::Ok();
}

// A = sqrt(S_r) V_rᵀ, B = U_r sqrt(S_r) from an SVD. Ranks above min(n, d) (a group wider than
// the model, e.g. joint K of a narrow toy model) are padded with zero directions.
LowRankFactor split_svd(const Svd& s, int r) {
  LowRankFactor f;
  const int64_t n = s.U.rows, d = s.Vt.cols;
  f.down = Mat(r, d);
  f.up = Mat(n, r);
  const int kept = std::min<int>(r, static_cast<int>(s.s.size()));
  for (int i = 0; i < kept; ++i) {
    const double sq = std::sqrt(s.s[i]);
    for (int64_t c = 0; c < d; ++c) f.down(i, c) = sq * s.Vt(i, c);
    for (int64_t c = 0; c < n; ++c) f.up(c, i) = s.U(c, i) * sq;
  }
  f.spectrum = s.s;
  return f;
}

}  // namespace

Result<LowRankFactor> plain_svd_factor(const Mat& W, int rank) {
  LRKV_RETURN_IF_ERROR(check_rank(rank, W.rows, "plain SVD"));
  LRKV_ASSIGN_OR_RETURN(Svd s, svd(W));
  return split_svd(s, rank);
}

Result<LowRankFactor> whitened_svd_factor(const Mat& W, const Mat& xtx, int rank) {
  LRKV_RETURN_IF_ERROR(check_rank(rank, W.rows, "whitened SVD"));
  if (xtx.rows != W.cols || xtx.cols != W.cols) {
    return make_error(ErrorCode::kShapeMismatch, "whitened SVD: XᵀX is {}x{}, expected {}x{}", xtx.rows,
                      xtx.cols, W.cols, W.cols);
  }
  LRKV_ASSIGN_OR_RETURN(Mat L, cholesky_lower(xtx));
  LRKV_ASSIGN_OR_RETURN(Svd s, svd(matmul(W, L)));
  LowRankFactor f = split_svd(s, rank);
  LRKV_ASSIGN_OR_RETURN(Mat Linv, invert_lower(L));
  f.down = matmul(f.down, Linv);  // sqrt(S_r) V_rᵀ L⁻¹
  return f;
}

Result<LowRankFactor> pca_factor(const Mat& cov, const std::vector<double>& mean, int rank, const Mat& W) {
  const int64_t n = cov.rows;
  LRKV_RETURN_IF_ERROR(check_rank(rank, n, "PCA"));
  if (static_cast<int64_t>(mean.size()) != n || (W.rows != 0 && W.rows != n)) {
    return make_error(ErrorCode::kShapeMismatch, "PCA: covariance {}x{}, mean {}, weight rows {}", n, n,
                      mean.size(), W.rows);
  }
  LRKV_ASSIGN_OR_RETURN(Eigh e, eigh(cov));
  LowRankFactor f;
  f.spectrum = e.w;
  f.up = e.V.block(0, n, 0, rank);                     // P_r [n, r]
  // Sign convention: the largest-magnitude entry of each column is positive (deterministic).
  for (int j = 0; j < rank; ++j) {
    int64_t arg = 0;
    for (int64_t i = 1; i < n; ++i) {
      if (std::fabs(f.up(i, j)) > std::fabs(f.up(arg, j))) arg = i;
    }
    if (f.up(arg, j) < 0) {
      for (int64_t i = 0; i < n; ++i) f.up(i, j) = -f.up(i, j);
    }
  }
  const Mat Pt = f.up.transposed();                    // [r, n]
  f.down = W.rows != 0 ? matmul(Pt, W) : Pt;
  f.up_bias = mean;
  f.down_bias.assign(rank, 0.0);
  for (int j = 0; j < rank; ++j) {
    for (int64_t i = 0; i < n; ++i) f.down_bias[j] -= Pt(j, i) * mean[i];
  }
  return f;
}

}  // namespace lrkv
