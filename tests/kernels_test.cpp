// Each CPU kernel against its fp64 scalar reference on awkward shapes. Tolerances follow the
// standard floating-point error bound of a length-k dot product, gamma_k * sum |x_i w_i|.
#include <cmath>
#include <random>
#include <vector>

#include "kernels/attention.h"
#include "kernels/elem.h"
#include "kernels/matmul.h"
#include "kernels/rmsnorm.h"
#include "kernels/rope.h"
#include "kernels/swiglu.h"
#include "test_util.h"

namespace lrkv {
namespace {

constexpr double kEps = 5.96e-8;  // f32 unit roundoff (2^-24)

using test::randn;

// Row-major buffer of dtype t holding `v` (rounded to t).
std::vector<uint8_t> as_dtype(const std::vector<float>& v, DType t) {
  std::vector<uint8_t> out(dtype_bytes(t, v.size()));
  store_row(out.data(), t, v.data(), static_cast<int64_t>(v.size()));
  return out;
}

struct MatmulCase {
  int64_t m, n, k;
  DType t;
  bool accumulate;
};

class MatmulTest : public ::testing::TestWithParam<MatmulCase> {};

TEST_P(MatmulTest, MatchesReference) {
  const MatmulCase c = GetParam();
  const int64_t ldx = c.k + 3, ldw = c.k + (c.t == DType::kF32 ? 5 : 0), ldy = c.n + 2;
  auto x = randn(c.m * ldx, 1);
  auto wf = randn(c.n * ldw, 2, 0.3f);
  auto w = as_dtype(wf, c.t);
  auto y0 = randn(c.m * ldy, 3);
  std::vector<float> y_ref = y0, y_cpu = y0;
  MatmulParams p{x.data(), ldx, w.data(), ldw, c.t, nullptr, ldy, c.m, c.n, c.k, c.accumulate};
  p.y = y_ref.data();
  ref::matmul(p);
  p.y = y_cpu.data();
  cpu::matmul(p);
  for (int64_t i = 0; i < c.m; ++i) {
    for (int64_t j = 0; j < c.n; ++j) {
      double mag = c.accumulate ? std::fabs(y0[i * ldy + j]) : 0.0;
      for (int64_t q = 0; q < c.k; ++q) mag += std::fabs(x[i * ldx + q] * load_elem(w.data(), c.t, j * ldw + q));
      const double tol = 2.0 * (c.k + 2) * kEps * mag + 1e-30;
      ASSERT_NEAR(y_cpu[i * ldy + j], y_ref[i * ldy + j], tol) << "at (" << i << ", " << j << ")";
    }
  }
}

INSTANTIATE_TEST_SUITE_P(
    Shapes, MatmulTest,
    ::testing::Values(MatmulCase{1, 37, 29, DType::kF32, false}, MatmulCase{5, 64, 100, DType::kF32, true},
                      MatmulCase{1, 33, 70, DType::kF16, false}, MatmulCase{7, 19, 13, DType::kF16, true},
                      MatmulCase{9, 41, 75, DType::kF16, false}, MatmulCase{40, 300, 129, DType::kF16, true},
                      MatmulCase{3, 17, 23, DType::kBF16, false}, MatmulCase{33, 50, 40, DType::kBF16, false}));

TEST(RmsNormTest, MatchesReference) {
  for (int64_t cols : {1, 7, 64, 257}) {
    const int64_t rows = 5;
    auto x = randn(rows * cols, 4, 3.0f);
    auto w = randn(cols, 5);
    std::vector<float> a(rows * cols), b(rows * cols);
    RmsNormParams p{x.data(), w.data(), a.data(), rows, cols, cols, 1e-5f};
    ref::rmsnorm(p);
    p.y = b.data();
    cpu::rmsnorm(p);
    for (size_t i = 0; i < a.size(); ++i) {
      ASSERT_NEAR(b[i], a[i], (cols + 4) * 4 * kEps * std::fabs(a[i]) + 1e-7) << "cols " << cols << " i " << i;
    }
  }
}

TEST(RopeTest, MatchesReferenceBothLayoutsAndInverts) {
  LlamaConfig cfg = test::tiny_config();
  for (int head_dim : {2, 6, 64}) {
    cfg.head_dim = head_dim;
    std::vector<float> inv(head_dim / 2);
    rope_inverse_frequencies(cfg, inv.data());
    for (RopeLayout layout : {RopeLayout::kInterleaved, RopeLayout::kHalfSplit}) {
      const int rows = 4, heads = 3, ld = heads * head_dim + 1;
      std::vector<int> pos = {0, 1, 517, 100003};
      auto x = randn(rows * ld, 6);
      std::vector<float> a = x, b = x;
      RopeParams p{a.data(), rows, ld, heads, head_dim, pos.data(), inv.data(), layout, false};
      ref::rope(p);
      p.x = b.data();
      cpu::rope(p);
      for (size_t i = 0; i < a.size(); ++i) ASSERT_NEAR(b[i], a[i], 1e-5 * (1 + std::fabs(a[i])));
      p.inverse = true;
      cpu::rope(p);  // RoPE(-a) after RoPE(a) is the identity up to rounding
      for (size_t i = 0; i < x.size(); ++i) ASSERT_NEAR(b[i], x[i], 1e-5 * (1 + std::fabs(x[i])));
    }
  }
}

TEST(RopeTest, PositionZeroIsIdentityAndNormPreserved) {
  LlamaConfig cfg = test::tiny_config();
  cfg.head_dim = 8;
  std::vector<float> inv(4);
  rope_inverse_frequencies(cfg, inv.data());
  auto x = randn(8, 7);
  std::vector<float> y = x;
  int pos = 0;
  RopeParams p{y.data(), 1, 8, 1, 8, &pos, inv.data(), RopeLayout::kHalfSplit, false};
  cpu::rope(p);
  EXPECT_EQ(y, x);
  pos = 12345;
  cpu::rope(p);
  double nx = 0, ny = 0;
  for (int i = 0; i < 8; ++i) {
    nx += x[i] * x[i];
    ny += y[i] * y[i];
  }
  EXPECT_NEAR(ny, nx, 1e-5 * nx);
}

TEST(SwigluTest, MatchesReference) {
  const int64_t rows = 3, cols = 37;
  auto g = randn(rows * cols, 8, 4.0f), u = randn(rows * cols, 9);
  std::vector<float> a(rows * cols), b(rows * cols);
  SwigluParams p{g.data(), u.data(), a.data(), rows, cols, cols};
  ref::swiglu(p);
  p.out = b.data();
  cpu::swiglu(p);
  for (size_t i = 0; i < a.size(); ++i) ASSERT_NEAR(b[i], a[i], 1e-6 * (1 + std::fabs(a[i])));
}

struct AttnCase {
  int n_head, n_kv_head, head_dim, n_q, start;
  DType t;
};
class AttentionTest : public ::testing::TestWithParam<AttnCase> {};

TEST_P(AttentionTest, MatchesReference) {
  const AttnCase c = GetParam();
  const int n_kv = c.start + c.n_q;
  const int64_t ldq = c.n_head * c.head_dim + 2, ldkv = c.n_kv_head * c.head_dim, ldo = ldq + 1;
  auto q = randn(c.n_q * ldq, 10, 2.0f);
  auto k = as_dtype(randn(n_kv * ldkv, 11), c.t);
  auto v = as_dtype(randn(n_kv * ldkv, 12), c.t);
  std::vector<int> pos(c.n_q);
  for (int i = 0; i < c.n_q; ++i) pos[i] = c.start + i;
  std::vector<float> a(c.n_q * ldo, 0.0f), b(c.n_q * ldo, 0.0f);
  AttentionParams p;
  p.q = q.data();
  p.ldq = ldq;
  p.q_pos = pos.data();
  p.n_q = c.n_q;
  p.k = k.data();
  p.v = v.data();
  p.ldkv = ldkv;
  p.kv_type = c.t;
  p.n_kv = n_kv;
  p.n_head = c.n_head;
  p.n_kv_head = c.n_kv_head;
  p.head_dim = c.head_dim;
  p.scale = 1.0f / std::sqrt(static_cast<float>(c.head_dim));
  p.out = a.data();
  p.ldo = ldo;
  ref::attention(p);
  p.out = b.data();
  cpu::attention(p);
  // Output is a convex combination of V rows (|v| <~ 5): absolute tolerance from the softmax and
  // dot-product error bounds.
  const double tol = 64 * (c.head_dim + n_kv) * kEps * 10.0;
  for (size_t i = 0; i < a.size(); ++i) ASSERT_NEAR(b[i], a[i], tol) << "element " << i;
}

INSTANTIATE_TEST_SUITE_P(
    Shapes, AttentionTest,
    ::testing::Values(AttnCase{4, 4, 8, 5, 0, DType::kF32}, AttnCase{6, 2, 6, 1, 40, DType::kF32},
                      AttnCase{8, 1, 64, 3, 17, DType::kF16}, AttnCase{3, 3, 10, 9, 2, DType::kBF16},
                      AttnCase{4, 2, 128, 1, 300, DType::kF16}));

}  // namespace
}  // namespace lrkv
