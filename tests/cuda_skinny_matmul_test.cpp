// skinny_matmul (kernels/cuda/skinny_matmul.h) against the fp64 reference matmul over the weights
// rounded to their type: m = 1..8, f32/f16/bf16 weights, k from 8 (shorter than one warp's load)
// to past several unrolled passes with a tail (split-K inside a CTA: each split 1, 2, 4 forced in
// turn and the shape's own; 14344: several chunks per warp and a tail), n not a multiple of the
// CTA's rows, three outputs with their own strides (one accumulating), columns beyond each output
// untouched.
#ifdef LRKV_HAVE_CUDA

#include <cmath>

#include "cuda_test_util.h"
#include "kernels/cuda/elementwise.h"
#include "kernels/cuda/skinny_matmul.h"
#include "kernels/matmul.h"

namespace lrkv {
namespace {

using cuda::DeviceBuffer;

// Warps sharing a row inside a CTA, cycled over m: the shape's own choice (0) and each forced one.
constexpr int kSplits[4] = {0, 1, 2, 4};

void run_reference_cases() {
  struct Shape {
    int64_t k, n0, n1, n2;
  };
  for (const Shape& sh : {Shape{8, 3, 0, 0}, Shape{40, 5, 2, 1}, Shape{4104, 37, 11, 9}, Shape{1024, 64, 16, 16},
                        Shape{14344, 21, 0, 0}}) {
    for (DType t : {DType::kF32, DType::kF16, DType::kBF16}) {
      for (int m = 1; m <= cuda::kSkinnyMaxRows; ++m) {
        const int64_t k = sh.k, ldx = k + 4, ldw = k + 8;
        const int64_t ns[3] = {sh.n0, sh.n1, sh.n2};
        const int n_out = sh.n2 ? 3 : (sh.n1 ? 2 : 1);
        const int64_t n_rows = sh.n0 + sh.n1 + sh.n2;
        const auto x = test::randn(size_t(m) * ldx, 3 + m);
        const auto w = test::randn(size_t(n_rows) * ldw, 7 + m, 0.1f);
        const auto wbytes = test::to_dtype(w, t);
        std::vector<float> wr(w.size());  // the weights as the kernel sees them
        load_row(wbytes.data(), t, wr.data(), static_cast<int64_t>(w.size()));
        auto dx = DeviceBuffer::from_host(x);
        auto dw = DeviceBuffer::from_host(wbytes);
        ASSERT_TRUE(dx.ok() && dw.ok());
        cuda::SkinnyMatmulArgs a;
        a.x = dx->as<float>();
        a.ldx = ldx;
        a.m = m;
        a.w = dw->data();
        a.ldw = ldw;
        a.k = k;
        a.n_rows = n_rows;
        a.w_type = t;
        a.n_out = n_out;
        a.split = kSplits[m % 4];
        std::vector<std::vector<float>> ref(n_out), init(n_out);
        std::vector<DeviceBuffer> dy;
        int64_t row0 = 0;
        for (int s = 0; s < n_out; ++s) {
          const int64_t ldy = ns[s] + 3;  // 3 columns past each row stay untouched
          init[s] = test::randn(size_t(m) * ldy, 50 + s);
          ref[s] = init[s];
          const bool acc = s == 1;
          MatmulParams p;  // the oracle: fp64 over the rounded weights
          p.x = x.data();
          p.ldx = ldx;
          p.w = wr.data() + row0 * ldw;
          p.ldw = ldw;
          p.w_type = DType::kF32;
          p.y = ref[s].data();
          p.ldy = ldy;
          p.m = m;
          p.n = ns[s];
          p.k = k;
          p.accumulate = acc;
          ref::matmul(p);
          auto b = DeviceBuffer::from_host(init[s]);
          ASSERT_TRUE(b.ok());
          a.out[s] = cuda::SkinnyOutput{b->as<float>(), ldy, row0, ns[s], acc ? 1 : 0};
          dy.push_back(std::move(*b));
          row0 += ns[s];
        }
        ASSERT_TRUE(cuda::skinny_matmul_fits(a));
        LRKV_ASSERT_OK(cuda::skinny_matmul(a, nullptr));
        for (int s = 0; s < n_out; ++s) {
          std::vector<float> y(ref[s].size());
          LRKV_ASSERT_OK(dy[s].download(y.data(), y.size() * sizeof(float)));
          const int64_t ldy = ns[s] + 3;
          double worst = 0.0;
          for (int r = 0; r < m; ++r) {
            for (int64_t j = 0; j < ldy; ++j) {
              const size_t i = size_t(r) * ldy + j;
              if (j >= ns[s]) {
                ASSERT_EQ(y[i], init[s][i]) << "column past output " << s << " written";
                continue;
              }
              worst = std::max(worst, std::fabs(double(y[i]) - ref[s][i]) / (1.0 + std::fabs(ref[s][i])));
            }
          }
          // f32 accumulation of k exact products of O(0.1) terms: |err| <= k·2⁻²⁴·Σ|x w| ≪ 1e-4.
          EXPECT_LT(worst, 1e-4) << dtype_name(t) << " m " << m << " k " << k << " output " << s;
        }
      }
    }
  }
}

TEST(CudaSkinnyMatmul, MatchesFp64Reference) {
  LRKV_REQUIRE_CUDA();
  run_reference_cases();
}

// W_gate and W_up interleaved row by row (swiglu_pairs): y[t, j] = silu(g) · u with g, u the
// results of rows 2j, 2j + 1, against fp64; m = 1..8 (2 and 4 rows per warp), each split forced in
// turn, an odd pair count. The prompt path's GEMM output (pairs as columns) through swiglu_pairs
// must give the same within f32 rounding.
TEST(CudaSkinnyMatmul, SwigluPairsEpilogue) {
  LRKV_REQUIRE_CUDA();
  const int64_t k = 520, pairs = 333, n = 2 * pairs;
  for (DType t : {DType::kBF16, DType::kF16}) {
    for (int m = 1; m <= cuda::kSkinnyMaxRows; ++m) {
      {
        const auto x = test::randn(size_t(m) * k, 31 + m);
        const auto w = test::randn(size_t(n) * k, 37 + m, 0.1f);
        const auto wb = test::to_dtype(w, t);
        std::vector<float> wr(w.size());
        load_row(wb.data(), t, wr.data(), static_cast<int64_t>(w.size()));
        auto dx = DeviceBuffer::from_host(x);
        auto dw = DeviceBuffer::from_host(wb);
        auto dy = DeviceBuffer::create(size_t(m) * pairs * sizeof(float));
        auto dgu = DeviceBuffer::create(size_t(m) * n * sizeof(float));
        auto dy2 = DeviceBuffer::create(size_t(m) * pairs * sizeof(float));
        ASSERT_TRUE(dx.ok() && dw.ok() && dy.ok() && dgu.ok() && dy2.ok());
        cuda::SkinnyMatmulArgs a;
        a.x = dx->as<float>();
        a.ldx = k;
        a.m = m;
        a.w = dw->data();
        a.ldw = k;
        a.k = k;
        a.n_rows = n;
        a.w_type = t;
        a.n_out = 1;
        a.out[0] = cuda::SkinnyOutput{dy->as<float>(), pairs, 0, pairs, 0};
        a.split = kSplits[m % 4];
        a.swiglu_pairs = 1;
        ASSERT_TRUE(cuda::skinny_matmul_fits(a));
        LRKV_ASSERT_OK(cuda::skinny_matmul(a, nullptr));
        cuda::SkinnyMatmulArgs b = a;  // the plain products, pairs as columns, then swiglu_pairs
        b.swiglu_pairs = 0;
        b.out[0] = cuda::SkinnyOutput{dgu->as<float>(), n, 0, n, 0};
        LRKV_ASSERT_OK(cuda::skinny_matmul(b, nullptr));
        LRKV_ASSERT_OK(cuda::swiglu_pairs(dgu->as<float>(), n, dy2->as<float>(), pairs, m, pairs, nullptr));
        std::vector<float> y(size_t(m) * pairs), y2(y.size());
        LRKV_ASSERT_OK(dy->download(y.data(), y.size() * sizeof(float)));
        LRKV_ASSERT_OK(dy2->download(y2.data(), y2.size() * sizeof(float)));
        double worst = 0.0, worst2 = 0.0;
        for (int r = 0; r < m; ++r) {
          for (int64_t j = 0; j < pairs; ++j) {
            double g = 0.0, u = 0.0;
            for (int64_t i = 0; i < k; ++i) {
              g += double(x[size_t(r) * k + i]) * wr[size_t(2 * j) * k + i];
              u += double(x[size_t(r) * k + i]) * wr[size_t(2 * j + 1) * k + i];
            }
            const double want = g / (1.0 + std::exp(-g)) * u;
            const size_t o = size_t(r) * pairs + j;
            worst = std::max(worst, std::fabs(y[o] - want) / (1.0 + std::fabs(want)));
            worst2 = std::max(worst2, std::fabs(y2[o] - want) / (1.0 + std::fabs(want)));
          }
        }
        // f32 sums as in MatchesFp64Reference, then __expf (a few ulp) and two products.
        EXPECT_LT(worst, 1e-4) << dtype_name(t) << " m " << m;
        EXPECT_LT(worst2, 1e-4) << "swiglu_pairs: " << dtype_name(t) << " m " << m;
      }
    }
  }
}

// Shapes and alignments are checked on the host (no device needed).
TEST(CudaSkinnyMatmul, MisfitsAreNamed) {
  alignas(16) static float buf[64] = {};
  cuda::SkinnyMatmulArgs a;
  a.x = buf;
  a.ldx = 16;
  a.m = 2;
  a.w = buf;
  a.ldw = 16;
  a.k = 16;
  a.n_rows = 4;
  a.w_type = DType::kBF16;
  a.n_out = 1;
  a.out[0] = cuda::SkinnyOutput{buf, 4, 0, 4, 0};
  EXPECT_TRUE(cuda::skinny_matmul_fits(a));
  auto expect_misfit = [&](cuda::SkinnyMatmulArgs b, const char* mentions) {
    EXPECT_FALSE(cuda::skinny_matmul_fits(b)) << mentions;
    const Status s = cuda::skinny_matmul(b, nullptr);
    EXPECT_FALSE(s.ok());
    EXPECT_NE(s.message().find(mentions), std::string::npos) << s.message();
  };
  auto b = a;
  b.m = 9;
  expect_misfit(b, "m 9");
  b = a;
  b.k = 12;
  expect_misfit(b, "k 12");
  b = a;
  b.x = buf + 1;  // 4-byte aligned only
  expect_misfit(b, "x rows");
  b = a;
  b.ldw = 20;  // 40-byte bf16 rows
  expect_misfit(b, "W rows");
  b = a;
  b.w_type = DType::kQ8_0;
  expect_misfit(b, "weights of type");
  b = a;
  b.out[0].n = 3;  // one row of W left over
  expect_misfit(b, "cover 3 of W's 4 rows");
  b = a;
  b.n_out = 2;
  b.out[0].n = 2;
  b.out[1] = cuda::SkinnyOutput{buf, 2, 3, 2, 0};  // gap: rows [2, 3) belong to no output
  expect_misfit(b, "output 1");
  b = a;
  b.split = 3;
  expect_misfit(b, "split 3");
  b = a;  // (gate, up) pairs: one output of n_rows / 2 values
  b.swiglu_pairs = 1;
  b.out[0].n = 2;
  EXPECT_TRUE(cuda::skinny_matmul_fits(b));
  b.out[0].n = 4;
  expect_misfit(b, "output of 4 values");
  b.out[0].n = 2;
  b.out[0].accumulate = 1;
  expect_misfit(b, "accumulating");
}

}  // namespace
}  // namespace lrkv

#endif  // LRKV_HAVE_CUDA
