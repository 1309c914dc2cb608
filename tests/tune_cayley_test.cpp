// The Cayley map of MatryoshkaKV tuning: outputs are rotations (orthogonal, det +1) for skew
// inputs of any scale, C(0) = I, and the skew gradient dL/dA matches central finite differences
// of a fp64 loss along skew perturbations (A_ij += e, A_ji -= e).
#include <cmath>
#include <random>

#include "compress/tune/cayley.h"
#include "test_util.h"

namespace lrkv {
namespace {

Mat random_skew(int64_t n, double scale, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::normal_distribution<double> nd(0.0, scale);
  Mat A(n, n);
  for (int64_t i = 0; i < n; ++i) {
    for (int64_t j = i + 1; j < n; ++j) {
      A(i, j) = nd(rng);
      A(j, i) = -A(i, j);
    }
  }
  return A;
}

Mat random_mat(int64_t n, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::normal_distribution<double> nd(0.0, 1.0);
  Mat A(n, n);
  for (double& v : A.a) v = nd(rng);
  return A;
}

TEST(TuneCayley, OutputIsOrthogonalWithDetOne) {
  for (int64_t n : {2, 5, 16, 64}) {
    for (double scale : {1e-3, 0.3, 3.0, 30.0}) {
      const Mat A = random_skew(n, scale, 7 * n + 1);
      auto C = cayley(A);
      ASSERT_TRUE(C.ok()) << C.status().to_string();
      const double err = orthogonality_error(*C);
      EXPECT_LT(err, 1e-13 * n * (1.0 + scale * scale)) << "n " << n << " scale " << scale;
      auto det = determinant(*C);
      ASSERT_TRUE(det.ok());
      EXPECT_NEAR(*det, 1.0, 1e-10 * n * (1.0 + scale * scale)) << "n " << n << " scale " << scale;
    }
  }
}

TEST(TuneCayley, ZeroMapsToIdentity) {
  auto C = cayley(Mat(6, 6));
  ASSERT_TRUE(C.ok());
  for (int64_t i = 0; i < 6; ++i) {
    for (int64_t j = 0; j < 6; ++j) EXPECT_EQ((*C)(i, j), i == j ? 1.0 : 0.0);
  }
}

TEST(TuneCayley, BadShapesAreErrors) {
  EXPECT_FALSE(cayley(Mat(3, 4)).ok());
  EXPECT_FALSE(cayley(Mat()).ok());
  Mat A(3, 3);
  A(0, 1) = NAN;
  EXPECT_FALSE(cayley(A).ok());
  EXPECT_FALSE(cayley_backward(Mat(3, 3), Mat(3, 3), Mat(2, 2)).ok());
}

// L(C) = Σ W∘C + ½ Σ B∘C∘C, dL/dC = W + B∘C; through U = U0·C as the tuner uses it:
// L(U0·C) with G_C = U0ᵀ dL/dU.
TEST(TuneCayley, GradientMatchesFiniteDifferences) {
  for (int64_t n : {3, 8, 17}) {
    const Mat W = random_mat(n, 11 + n), B = random_mat(n, 12 + n), U0 = random_mat(n, 13 + n);
    auto loss = [&](const Mat& A) {
      const Mat U = matmul(U0, cayley(A).value());
      double l = 0.0;
      for (size_t i = 0; i < U.a.size(); ++i) l += W.a[i] * U.a[i] + 0.5 * B.a[i] * U.a[i] * U.a[i];
      return l;
    };
    const Mat A = random_skew(n, 0.7, 3 * n);
    const Mat C = cayley(A).value();
    const Mat U = matmul(U0, C);
    Mat dU(n, n);
    for (size_t i = 0; i < dU.a.size(); ++i) dU.a[i] = W.a[i] + B.a[i] * U.a[i];
    auto dA = cayley_backward(A, C, matmul(U0, dU, true));
    ASSERT_TRUE(dA.ok()) << dA.status().to_string();
    double num = 0.0, den = 0.0, worst = 0.0;
    const double eps = 1e-6;
    for (int64_t i = 0; i < n; ++i) {
      EXPECT_EQ((*dA)(i, i), 0.0);
      for (int64_t j = i + 1; j < n; ++j) {
        EXPECT_NEAR((*dA)(i, j), -(*dA)(j, i), 1e-14);
        Mat Ap = A, Am = A;
        Ap(i, j) += eps, Ap(j, i) -= eps;
        Am(i, j) -= eps, Am(j, i) += eps;
        const double fd = (loss(Ap) - loss(Am)) / (2 * eps);  // d/de = dA_ij − dA_ji = 2 dA_ij
        const double g = 2.0 * (*dA)(i, j);
        num += (g - fd) * (g - fd);
        den += fd * fd;
        worst = std::max(worst, std::fabs(g - fd));
      }
    }
    const double rel = std::sqrt(num / den);
    std::printf("[ fd       ] cayley n=%lld: rel err %.3g, worst |diff| %.3g\n",
                static_cast<long long>(n), rel, worst);
    EXPECT_LT(rel, 1e-7) << "n " << n << " worst " << worst;
  }
}

}  // namespace
}  // namespace lrkv
