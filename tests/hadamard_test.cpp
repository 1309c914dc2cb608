// Walsh-Hadamard rotation (kernels/hadamard.h, model/latent_hadamard.h): the fast transform equals
// the dense matrix of its definition; the matrix is symmetric and orthonormal for every size
// (block diagonal when not a power of two); folding it into the factors of a compressed model
// leaves unquantised logits unchanged (to rounding) in both key modes, and it lowers the
// quantisation error of latents with an outlier channel.
#include "kernels/hadamard.h"

#include <cmath>
#include <random>
#include <vector>

#include "kernels/quant_row.h"
#include "latent_test_model.h"
#include "model/engine.h"
#include "model/latent_hadamard.h"
#include "test_util.h"

namespace lrkv {
namespace {

const int kSizes[] = {1, 2, 3, 4, 7, 8, 24, 32, 48, 64, 96, 100, 128, 160};

using test::randn;

TEST(Hadamard, BlocksFollowTheBinaryExpansion) {
  EXPECT_EQ(hadamard_blocks(96), (std::vector<int64_t>{64, 32}));
  EXPECT_EQ(hadamard_blocks(100), (std::vector<int64_t>{64, 32, 4}));
  EXPECT_EQ(hadamard_blocks(128), (std::vector<int64_t>{128}));
  EXPECT_EQ(hadamard_blocks(7), (std::vector<int64_t>{4, 2, 1}));
}

TEST(Hadamard, MatrixIsSymmetricOrthonormal) {
  for (int n : kSizes) {
    const auto h = ref::hadamard_matrix(n);
    for (int i = 0; i < n; ++i) {
      for (int j = 0; j < n; ++j) {
        ASSERT_EQ(h[i * n + j], h[j * n + i]) << n;
        double dot = 0.0;
        for (int k = 0; k < n; ++k) dot += h[i * n + k] * h[j * n + k];
        ASSERT_NEAR(dot, i == j ? 1.0 : 0.0, 1e-12) << "n " << n << " (" << i << ", " << j << ")";
      }
    }
  }
}

TEST(Hadamard, FastTransformMatchesTheMatrix) {
  for (int n : kSizes) {
    const auto h = ref::hadamard_matrix(n);
    auto x = randn(n, n);
    std::vector<float> y = x;
    hadamard_transform(y.data(), n);
    double norm = 0.0;
    for (float v : x) norm += static_cast<double>(v) * v;
    for (int i = 0; i < n; ++i) {
      double want = 0.0;
      for (int k = 0; k < n; ++k) want += h[i * n + k] * x[k];
      // log2(n) butterfly levels plus the scale, each a float rounding of a value <= ||x||.
      ASSERT_NEAR(y[i], want, (std::log2(n) + 2) * 1.2e-7 * std::sqrt(norm) * 2)
          << "n " << n << " i " << i;
    }
    hadamard_transform(y.data(), n);  // H H = I
    for (int i = 0; i < n; ++i)
      ASSERT_NEAR(y[i], x[i], 2 * (std::log2(n) + 2) * 1.2e-7 * std::sqrt(norm) * 2);
  }
}

TEST(Hadamard, FoldKeepsTheProductOfTheFactors) {
  const int64_t r = 96, d = 40, rows = 24, ld_down = d + 3, ld_up = r + 5;
  auto down = randn(r * ld_down, 1), up = randn(rows * ld_up, 2), bias = randn(r, 3);
  const auto down0 = down, up0 = up, bias0 = bias;
  fold_hadamard(down.data(), ld_down, r, d, bias.data(), up.data(), ld_up, rows);
  for (int64_t i = 0; i < rows; ++i) {
    for (int64_t j = 0; j < d; ++j) {
      double a = 0, b = 0, mag = 0;
      for (int64_t k = 0; k < r; ++k) {
        a += static_cast<double>(up0[i * ld_up + k]) * down0[k * ld_down + j];
        b += static_cast<double>(up[i * ld_up + k]) * down[k * ld_down + j];
        mag += std::fabs(up0[i * ld_up + k] * down0[k * ld_down + j]);
      }
      ASSERT_NEAR(a, b, 1e-5 * mag) << i << ", " << j;
    }
    double a = 0, b = 0;  // B bias unchanged too
    for (int64_t k = 0; k < r; ++k) {
      a += static_cast<double>(up0[i * ld_up + k]) * bias0[k];
      b += static_cast<double>(up[i * ld_up + k]) * bias[k];
    }
    ASSERT_NEAR(a, b, 1e-4);
  }
  // Strides: padding untouched.
  for (int64_t k = 0; k < r; ++k) {
    for (int64_t j = d; j < ld_down; ++j) ASSERT_EQ(down[k * ld_down + j], down0[k * ld_down + j]);
  }
}

using test::logits_of;

double max_abs(const std::vector<float>& v) {
  double m = 0;
  for (float x : v) m = std::max(m, static_cast<double>(std::fabs(x)));
  return m;
}

struct FoldCase {
  const char* name;
  const char* method;
  const char* granularity;
  int n_head, n_kv_head, head_dim;
  double budget;
};

class HadamardFold : public ::testing::TestWithParam<FoldCase> {};

TEST_P(HadamardFold, LeavesUnquantisedLogitsUnchanged) {
  const FoldCase c = GetParam();
  LlamaConfig cfg = test::tiny_config(2, c.n_head, c.n_kv_head, c.head_dim);
  test::LatentModelOptions o;
  o.method = c.method;
  o.granularity = c.granularity;
  o.budget = c.budget;
  Model m = test::make_latent_test_model(cfg, o);
  std::vector<int> tokens(23);
  for (int i = 0; i < 23; ++i) tokens[i] = (i * 37 + 3) % cfg.n_vocab;
  const auto before = logits_of(m, tokens);
  ASSERT_TRUE(fold_hadamard_factors(m).ok());
  EXPECT_TRUE(has_hadamard(m));
  const auto after = logits_of(m, tokens);
  const auto d = test::max_abs_diff(before, after);
  EXPECT_LT(d.value, 1e-4 * max_abs(before))
      << c.name << ": worst at " << d.index << " " << before[d.index] << " vs " << after[d.index];
  // f16 latents too (the rotation changes rounding only).
  const auto f16 = logits_of(m, tokens, DType::kF16);
  EXPECT_LT(test::max_abs_diff(before, f16).value, 2e-2 * max_abs(before)) << c.name;
  EXPECT_FALSE(fold_hadamard_factors(m).ok());  // a second fold would undo the first
}

INSTANTIATE_TEST_SUITE_P(
    Models, HadamardFold,
    ::testing::Values(FoldCase{"palu_head", "palu", "head", 4, 2, 8, 0.5},
                      FoldCase{"palu_joint_odd_rank", "palu", "joint", 4, 2, 6, 0.6},
                      FoldCase{"mkv_head", "mkv-pca", "head", 4, 4, 8, 0.5},
                      FoldCase{"mkv_group", "mkv-pca", "group:2", 6, 2, 6, 0.7}),
    [](const auto& info) { return std::string(info.param.name); });

TEST(Hadamard, SpreadsAnOutlierChannelAndLowersQuantisationError) {
  // Latent rows of 64 with channel 0 twenty times larger: 3-bit, one scale per row.
  const int n = 64, rows = 200;
  const QuantFormat f{QuantScheme::kAffine, 3, 0};
  std::vector<uint8_t> enc(segment_bytes(f, n));
  std::vector<float> dec(n);
  double err_plain = 0, err_rot = 0;
  for (int r = 0; r < rows; ++r) {
    auto x = randn(n, 1000 + r);
    x[0] *= 20.0f;
    encode_segment(f, x.data(), n, enc.data());
    cpu::decode_segment(f, enc.data(), n, dec.data());
    for (int i = 0; i < n; ++i) err_plain += (dec[i] - x[i]) * (dec[i] - x[i]);
    std::vector<float> y = x;
    hadamard_transform(y.data(), n);
    encode_segment(f, y.data(), n, enc.data());
    cpu::decode_segment(f, enc.data(), n, dec.data());
    hadamard_transform(dec.data(), n);  // back to the original basis (H⁻¹ = H)
    for (int i = 0; i < n; ++i) err_rot += (dec[i] - x[i]) * (dec[i] - x[i]);
  }
  EXPECT_LT(err_rot, 0.5 * err_plain) << "rotated " << err_rot << " plain " << err_plain;
}

}  // namespace
}  // namespace lrkv
