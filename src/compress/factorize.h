// Low-rank factorisations of one group's K or V projection W_g [n = s*head_dim, d]:
//   latent  c = A x + a        (A: "down" [r, d], a: down_bias [r] or empty)
//   rebuild y ≈ B c + b        (B: "up" [n, r],   b: up_bias [n] or empty)
// so that W_g x ≈ B (A x + a) + b.
//  - plain SVD (LoRC):   W = U S Vᵀ, A = sqrt(S_r) V_rᵀ, B = U_r sqrt(S_r); minimises ||W - BA||_F.
//  - whitened SVD (Palu): S = XᵀX = L Lᵀ, U S Vᵀ = svd(W L), A = sqrt(S_r) V_rᵀ L⁻¹,
//    B = U_r sqrt(S_r); minimises ||(W - BA) Xᵀ||_F (the error on the calibration outputs).
//  - activation PCA: eigenvectors P_r of the centred output covariance C = cov(W x),
//    c = P_rᵀ (y - mu), y ≈ P_r c + mu; for a linear output y = W x this is A = P_rᵀ W,
//    a = -P_rᵀ mu, B = P_r, b = mu. Minimises the expected squared output error.
// Every result also carries the full spectrum so truncation errors can be checked
// (Eckart–Young: error² = sum of the discarded squared singular values / eigenvalues).
#pragma once

#include <vector>

#include "compress/linalg.h"

namespace lrkv {

struct LowRankFactor {
  Mat down;                        // A [r, d]
  std::vector<double> down_bias;   // a [r] (empty = 0)
  Mat up;                          // B [n, r]
  std::vector<double> up_bias;     // b [n] (empty = 0)
  std::vector<double> spectrum;    // singular values (SVD) or eigenvalues (PCA), descending
  int rank() const { return static_cast<int>(down.rows); }
};

Result<LowRankFactor> plain_svd_factor(const Mat& W, int rank);
// `xtx` = Σ x xᵀ over calibration inputs [d, d]; regularised per Palu if not positive definite.
Result<LowRankFactor> whitened_svd_factor(const Mat& W, const Mat& xtx, int rank);
// PCA of outputs with covariance `cov` [n, n] and mean `mean` [n]. When `W` is non-empty the
// outputs are y = W x and A, a map from x (A = P_rᵀ W); otherwise A = P_rᵀ maps y itself.
Result<LowRankFactor> pca_factor(const Mat& cov, const std::vector<double>& mean, int rank,
                                 const Mat& W = Mat());

}  // namespace lrkv
