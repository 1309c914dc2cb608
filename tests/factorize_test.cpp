// Properties of the factorisations: Eckart–Young (the truncation error equals the discarded
// spectrum), error non-increasing in rank, exact reconstruction at full rank, and the whitened
// SVD minimising the error on calibration outputs ||(W - W_r) Xᵀ|| better than plain SVD.
#include <cmath>
#include <random>

#include "compress/factorize.h"
#include "test_util.h"

namespace lrkv {
namespace {

// Calibration inputs with strongly correlated, unequal-variance columns (like real activations).
Mat correlated_inputs(int64_t n, int64_t d, uint32_t seed) {
  Mat z = test::randn_mat(n, d, seed);
  Mat mix = test::randn_mat(d, d, seed + 1);
  for (int64_t i = 0; i < d; ++i) {
    for (int64_t j = 0; j < d; ++j) mix(i, j) *= std::pow(0.7, j);  // decaying scales
  }
  return matmul(z, mix);
}

Mat reconstruct(const LowRankFactor& f) {
  Mat y = matmul(f.up, f.down);
  return y;
}

double tail_energy(const std::vector<double>& s, int r, bool squared = true) {
  double e = 0.0;
  for (size_t i = r; i < s.size(); ++i) e += squared ? s[i] * s[i] : s[i];
  return e;
}

TEST(FactorizeTest, PlainSvdErrorIsTheTailSpectrum) {
  const Mat W = test::randn_mat(24, 40, 1);
  double prev = INFINITY;
  for (int r = 1; r <= 24; ++r) {
    auto f = plain_svd_factor(W, r);
    ASSERT_TRUE(f.ok()) << f.status().to_string();
    const double err = std::pow((W - reconstruct(*f)).frobenius(), 2);
    EXPECT_NEAR(err, tail_energy(f->spectrum, r), 1e-9 * (1 + err)) << "rank " << r;
    EXPECT_LE(err, prev + 1e-12) << "error grew at rank " << r;
    prev = err;
  }
  EXPECT_LT(prev, 1e-18 * std::pow(W.frobenius(), 2) + 1e-20);  // full rank is exact
}

TEST(FactorizeTest, WhitenedSvdErrorIsTheWhitenedTailAndBeatsPlainSvd) {
  const int64_t d = 32, n_out = 16;
  const Mat W = test::randn_mat(n_out, d, 3);
  const Mat X = correlated_inputs(400, d, 4);  // [tokens, d]
  const Mat xtx = matmul(X, X, true, false);   // Σ x xᵀ
  double prev = INFINITY;
  for (int r = 1; r <= n_out; ++r) {
    auto fw = whitened_svd_factor(W, xtx, r);
    auto fp = plain_svd_factor(W, r);
    ASSERT_TRUE(fw.ok() && fp.ok());
    // ||(W - W_r) Xᵀ||_F² over the calibration tokens.
    const double ew = std::pow(matmul(W - reconstruct(*fw), X, false, true).frobenius(), 2);
    const double ep = std::pow(matmul(W - reconstruct(*fp), X, false, true).frobenius(), 2);
    EXPECT_NEAR(ew, tail_energy(fw->spectrum, r), 1e-7 * (1 + ew)) << "rank " << r;
    EXPECT_LE(ew, ep * (1 + 1e-9) + 1e-9) << "whitened worse than plain SVD at rank " << r;
    EXPECT_LE(ew, prev * (1 + 1e-9) + 1e-12);
    prev = ew;
    if (r == n_out / 4) EXPECT_LT(ew, 0.9 * ep) << "no benefit from whitening on correlated inputs";
  }
}

TEST(FactorizeTest, WhitenedSvdRegularisesSingularInputs) {
  const int64_t d = 12;
  Mat X = test::randn_mat(5, d, 5);  // 5 tokens < d: XᵀX is singular
  auto f = whitened_svd_factor(test::randn_mat(6, d, 6), matmul(X, X, true, false), 3);
  ASSERT_TRUE(f.ok()) << f.status().to_string();
  for (double v : f->down.a) ASSERT_TRUE(std::isfinite(v));
}

TEST(FactorizeTest, PcaErrorIsTheTailEigenvaluesWithMean) {
  const int64_t d = 10, n = 8, T = 3000;
  const Mat W = test::randn_mat(n, d, 7);
  Mat X = correlated_inputs(T, d, 8);
  for (int64_t t = 0; t < T; ++t) X(t, 0) += 3.0;  // non-zero mean
  const Mat Y = matmul(X, W, false, true);          // [T, n] outputs
  std::vector<double> mean(n, 0.0);
  for (int64_t t = 0; t < T; ++t) {
    for (int64_t i = 0; i < n; ++i) mean[i] += Y(t, i) / T;
  }
  Mat cov(n, n);
  for (int64_t t = 0; t < T; ++t) {
    for (int64_t i = 0; i < n; ++i) {
      for (int64_t j = 0; j < n; ++j) cov(i, j) += (Y(t, i) - mean[i]) * (Y(t, j) - mean[j]) / T;
    }
  }
  for (int r : {1, 3, 8}) {
    auto f = pca_factor(cov, mean, r, W);
    ASSERT_TRUE(f.ok());
    double err = 0.0;  // mean squared error of y ≈ B (A x + a) + b over the tokens
    for (int64_t t = 0; t < T; ++t) {
      for (int64_t i = 0; i < n; ++i) {
        double y = f->up_bias[i];
        for (int j = 0; j < r; ++j) {
          double c = f->down_bias[j];
          for (int64_t k = 0; k < d; ++k) c += f->down(j, k) * X(t, k);
          y += f->up(i, j) * c;
        }
        err += (Y(t, i) - y) * (Y(t, i) - y) / T;
      }
    }
    EXPECT_NEAR(err, tail_energy(f->spectrum, r, /*squared=*/false), 1e-8 * (1 + err)) << "rank " << r;
    // Columns orthonormal.
    const Mat PtP = matmul(f->up, f->up, true, false);
    for (int i = 0; i < r; ++i) {
      for (int j = 0; j < r; ++j) EXPECT_NEAR(PtP(i, j), i == j ? 1.0 : 0.0, 1e-12);
    }
  }
}

TEST(FactorizeTest, BadRanksAndShapesAreErrors) {
  const Mat W = test::randn_mat(4, 6, 9);
  EXPECT_FALSE(plain_svd_factor(W, 0).ok());
  EXPECT_FALSE(plain_svd_factor(W, 5).ok());  // more than the 4 output rows
  auto wide =
      plain_svd_factor(test::randn_mat(8, 3, 10), 6);  // rank 6 > min(8, 3): zero-padded, exact
  ASSERT_TRUE(wide.ok());
  EXPECT_EQ(wide->rank(), 6);
  EXPECT_FALSE(whitened_svd_factor(W, Mat::identity(5), 2).ok());
  Mat nan = W;
  nan(1, 1) = NAN;
  EXPECT_FALSE(plain_svd_factor(nan, 2).ok());
}

}  // namespace
}  // namespace lrkv
