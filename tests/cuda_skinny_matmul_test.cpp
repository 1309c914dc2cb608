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

// A projection into the residual stream that also leaves the next RMSNorm (SkinnyNormOut), and
// the projection after it taking h with row_scale = rs, against fp64: y = y0 + x·Wᵀ,
// h = y ∘ g, rs = (Σ y² / n + eps)^-1/2, then rmsnorm(y)·Vᵀ = rs · (h·Vᵀ). Many CTAs (n = 4096) and
// a few with a partial last team (n = 37); each split forced in turn (1 becomes 2); two launches
// in a row (the ticket counter must come back to 0).
TEST(CudaSkinnyMatmul, NormOfResultsFeedsTheNextProjection) {
  LRKV_REQUIRE_CUDA();
  for (const int64_t n : {int64_t{4096}, int64_t{37}}) {
    for (DType t : {DType::kBF16, DType::kF16}) {
      for (int m : {1, 3, 8}) {
        const int64_t k = 1032, n2 = 72;
        const float eps = 1e-5f;
        const auto x = test::randn(size_t(m) * k, 11 + m);
        const auto w = test::randn(size_t(n) * k, 13 + m, 0.05f);
        const auto g = test::randn(size_t(n), 17 + m);
        const auto v = test::randn(size_t(n2) * n, 19 + m, 0.05f);
        const auto wb = test::to_dtype(w, t), vb = test::to_dtype(v, t);
        std::vector<float> wr(w.size()), vr(v.size());
        load_row(wb.data(), t, wr.data(), static_cast<int64_t>(w.size()));
        load_row(vb.data(), t, vr.data(), static_cast<int64_t>(v.size()));
        auto dx = DeviceBuffer::from_host(x);
        auto dw = DeviceBuffer::from_host(wb);
        auto dv = DeviceBuffer::from_host(vb);
        auto dg = DeviceBuffer::from_host(g);
        auto dh = DeviceBuffer::create(size_t(m) * n * sizeof(float));
        auto drs = DeviceBuffer::create(size_t(m) * sizeof(float));
        auto dpart = DeviceBuffer::create(size_t((n + 1) / 2) * m * sizeof(float));
        auto dcount = DeviceBuffer::from_host(std::vector<unsigned>{0u});
        auto dz = DeviceBuffer::create(size_t(m) * n2 * sizeof(float));
        ASSERT_TRUE(dx.ok() && dw.ok() && dv.ok() && dg.ok() && dh.ok() && drs.ok() && dpart.ok() && dcount.ok() &&
                    dz.ok());
        for (int launch = 0; launch < 2; ++launch) {
          const int split = kSplits[(m + launch) % 4];
          const auto y0 = test::randn(size_t(m) * n, 23 + m + launch);
          auto dy = DeviceBuffer::from_host(y0);
          ASSERT_TRUE(dy.ok());
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
          a.out[0] = cuda::SkinnyOutput{dy->as<float>(), n, 0, n, 1};
          a.split = split;
          a.norm = cuda::SkinnyNormOut{dh->as<float>(), n, dg->as<float>(), eps, drs->as<float>(),
                                       dpart->as<float>(), (n + 1) / 2, dcount->as<unsigned>()};
          LRKV_ASSERT_OK(cuda::skinny_matmul(a, nullptr));
          cuda::SkinnyMatmulArgs b;  // z = rs · (h · Vᵀ)
          b.x = dh->as<float>();
          b.ldx = n;
          b.m = m;
          b.w = dv->data();
          b.ldw = n;
          b.k = n;
          b.n_rows = n2;
          b.w_type = t;
          b.n_out = 1;
          b.out[0] = cuda::SkinnyOutput{dz->as<float>(), n2, 0, n2, 0};
          b.row_scale = drs->as<float>();
          const bool fits = cuda::skinny_matmul_fits(b);
          if (fits) LRKV_ASSERT_OK(cuda::skinny_matmul(b, nullptr));
          std::vector<float> y(size_t(m) * n), h(size_t(m) * n), rs(m), z(size_t(m) * n2);
          unsigned counter = 1;
          LRKV_ASSERT_OK(dy->download(y.data(), y.size() * sizeof(float)));
          LRKV_ASSERT_OK(dh->download(h.data(), h.size() * sizeof(float)));
          LRKV_ASSERT_OK(drs->download(rs.data(), rs.size() * sizeof(float)));
          LRKV_ASSERT_OK(dz->download(z.data(), z.size() * sizeof(float)));
          LRKV_ASSERT_OK(dcount->download(&counter, sizeof counter));
          EXPECT_EQ(counter, 0u) << "the last CTA resets the ticket counter";
          double worst_y = 0.0, worst_h = 0.0, worst_rs = 0.0, worst_z = 0.0;
          for (int r = 0; r < m; ++r) {
            std::vector<double> yr(n);
            double ss = 0.0;
            for (int64_t j = 0; j < n; ++j) {
              double acc = y0[size_t(r) * n + j];
              for (int64_t i = 0; i < k; ++i) acc += double(x[size_t(r) * k + i]) * wr[size_t(j) * k + i];
              yr[j] = acc;
              ss += acc * acc;
              const size_t o = size_t(r) * n + j;
              worst_y = std::max(worst_y, std::fabs(y[o] - acc) / (1.0 + std::fabs(acc)));
              // h is the stored y times g (one f32 rounding)
              worst_h = std::max(worst_h, std::fabs(h[o] - double(y[o]) * g[j]) / (1e-30 + std::fabs(double(y[o]) * g[j])));
            }
            const double rs_ref = 1.0 / std::sqrt(ss / double(n) + eps);
            worst_rs = std::max(worst_rs, std::fabs(rs[r] - rs_ref) / rs_ref);
            if (!fits) continue;
            for (int64_t j = 0; j < n2; ++j) {
              double acc = 0.0;
              for (int64_t i = 0; i < n; ++i) acc += double(vr[size_t(j) * n + i]) * yr[i] * rs_ref * g[i];
              worst_z = std::max(worst_z, std::fabs(z[size_t(r) * n2 + j] - acc) / (1.0 + std::fabs(acc)));
            }
          }
          const std::string what = fmt::format("{} n {} m {} split {} launch {}", dtype_name(t), n, m, split, launch);
          EXPECT_LT(worst_y, 1e-4) << what;
          EXPECT_LT(worst_h, 1e-6) << what;
          // Σ y² of positive terms, at most ~30 f32 additions deep (8 rows per team, teams, 8 per
          // thread, the warp and block trees): relative error ~30·2⁻²⁴ on top of y's own.
          EXPECT_LT(worst_rs, 1e-5) << what;
          if (n % 8 == 0) {
            EXPECT_TRUE(fits) << what;
            EXPECT_LT(worst_z, 1e-4) << what;
          }
        }
      }
    }
  }
}

// W_gate and W_up interleaved row by row (swiglu_pairs): y[t, j] = silu(s_t g) · s_t u with g, u
// the results of rows 2j, 2j + 1 and s_t = row_scale[t] (or 1), against fp64; m = 1..8 (2 and 4
// rows per warp), each split forced in turn, an odd pair count. The prompt path's GEMM output
// (pairs as columns) through swiglu_pairs must give the same within f32 rounding.
TEST(CudaSkinnyMatmul, SwigluPairsEpilogue) {
  LRKV_REQUIRE_CUDA();
  const int64_t k = 520, pairs = 333, n = 2 * pairs;
  for (DType t : {DType::kBF16, DType::kF16}) {
    for (int m = 1; m <= cuda::kSkinnyMaxRows; ++m) {
      for (bool scaled : {false, true}) {
        const auto x = test::randn(size_t(m) * k, 31 + m);
        const auto w = test::randn(size_t(n) * k, 37 + m, 0.1f);
        const auto sc = test::randn(size_t(m), 41 + m);
        const auto wb = test::to_dtype(w, t);
        std::vector<float> wr(w.size());
        load_row(wb.data(), t, wr.data(), static_cast<int64_t>(w.size()));
        auto dx = DeviceBuffer::from_host(x);
        auto dw = DeviceBuffer::from_host(wb);
        auto ds = DeviceBuffer::from_host(sc);
        auto dy = DeviceBuffer::create(size_t(m) * pairs * sizeof(float));
        auto dgu = DeviceBuffer::create(size_t(m) * n * sizeof(float));
        auto dy2 = DeviceBuffer::create(size_t(m) * pairs * sizeof(float));
        ASSERT_TRUE(dx.ok() && dw.ok() && ds.ok() && dy.ok() && dgu.ok() && dy2.ok());
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
        a.row_scale = scaled ? ds->as<float>() : nullptr;
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
          const double s_r = scaled ? sc[r] : 1.0;
          for (int64_t j = 0; j < pairs; ++j) {
            double g = 0.0, u = 0.0;
            for (int64_t i = 0; i < k; ++i) {
              g += double(x[size_t(r) * k + i]) * wr[size_t(2 * j) * k + i];
              u += double(x[size_t(r) * k + i]) * wr[size_t(2 * j + 1) * k + i];
            }
            g *= s_r;
            u *= s_r;
            const double want = g / (1.0 + std::exp(-g)) * u;
            const size_t o = size_t(r) * pairs + j;
            worst = std::max(worst, std::fabs(y[o] - want) / (1.0 + std::fabs(want)));
            worst2 = std::max(worst2, std::fabs(y2[o] - want) / (1.0 + std::fabs(want)));
          }
        }
        // f32 sums as in MatchesFp64Reference, then __expf (a few ulp) and two products.
        EXPECT_LT(worst, 1e-4) << dtype_name(t) << " m " << m << " scaled " << scaled;
        EXPECT_LT(worst2, 1e-4) << "swiglu_pairs: " << dtype_name(t) << " m " << m << " scaled " << scaled;
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
  static unsigned counter = 0;
  b = a;  // a norm of the results: one output, its buffers, partial sums for every CTA
  b.norm = cuda::SkinnyNormOut{buf, 4, buf, 1e-5f, buf, buf, 2, &counter};
  EXPECT_TRUE(cuda::skinny_matmul_fits(b));
  b.norm.partial_ctas = 1;
  expect_misfit(b, "partial sums for 1 CTAs");
  b.norm.partial_ctas = 2;
  b.norm.rs = nullptr;
  expect_misfit(b, "without its gain, rs");
  b.norm.rs = buf;
  b.norm.ldh = 3;
  expect_misfit(b, "ldh 3");
  b.norm.ldh = 4;
  b.n_out = 2;
  b.out[0].n = 2;
  b.out[1] = cuda::SkinnyOutput{buf, 2, 2, 2, 0};
  expect_misfit(b, "with 2 outputs");
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
