// skinny_matmul (kernels/cuda/skinny_matmul.h) against the fp64 reference matmul over the weights
// rounded to their type: m = 1..8, f32/f16/bf16 weights, k from 8 (shorter than one warp's load)
// to past several unrolled passes with a tail (split-K inside a CTA: each split 1, 2, 4 forced in
// turn and the shape's own; 14344: several chunks per warp and a tail), n not a multiple of the
// CTA's rows, three outputs with their own strides (one accumulating), columns beyond each output
// untouched.
#ifdef LRKV_HAVE_CUDA

#include <cmath>
#include <cstring>

#include "cuda_test_util.h"
#include "kernels/cuda/elementwise.h"
#include "kernels/rope.h"
#include "kernels/cuda/skinny_matmul.h"
#include "kernels/matmul.h"

namespace lrkv {
namespace {

using cuda::DeviceBuffer;

// Warps sharing a row inside a CTA, cycled over m: the shape's own choice (0) and each forced one.
constexpr int kSplits[4] = {0, 1, 2, 4};

// x [m, ldx] (f32) times W [n_rows, ldw] (type t) over k columns; outputs, split and epilogue are
// the caller's.
cuda::SkinnyMatmulArgs skinny_args(const float* x, int64_t ldx, int m, const void* w, int64_t ldw, int64_t k,
                                   int64_t n_rows, DType t, int n_out) {
  cuda::SkinnyMatmulArgs a;
  a.x = x;
  a.ldx = ldx;
  a.m = m;
  a.w = w;
  a.ldw = ldw;
  a.k = k;
  a.n_rows = n_rows;
  a.w_type = t;
  a.n_out = n_out;
  return a;
}

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
        cuda::SkinnyMatmulArgs a = skinny_args(dx->as<float>(), ldx, m, dw->data(), ldw, k, n_rows, t, n_out);
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
        cuda::SkinnyMatmulArgs a = skinny_args(dx->as<float>(), k, m, dw->data(), k, k, n, t, 1);
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

// The q|k|v projection of a dense decode step with RoPE and the cache writes in its epilogue
// (SkinnyMatmulArgs::rope, interleaved pairs), three ways: (1) bit for bit what the plain
// projection followed by the rope_qk kernel computes (the same arithmetic); (2) against fp64 (dot
// products, then the rotation by pos · inv_freq); (3) the head-major cache of two sequences holds
// exactly the stored k and v rounded to its type at (sequence, kv head, position), and nothing
// else is written. m = 1..8, each split forced in turn, bf16 and f16 weights and caches.
TEST(CudaSkinnyMatmul, RopeEpilogueMatchesRopeKernel) {
  LRKV_REQUIRE_CUDA();
  const int hd = 64, nq = 4, nk = 2, cap = 48;
  const int64_t k = 264, qd = nq * hd, kvd = nk * hd, n = qd + 2 * kvd;
  std::vector<float> inv_freq(hd / 2);
  for (int i = 0; i < hd / 2; ++i) inv_freq[i] = static_cast<float>(std::pow(10000.0, -2.0 * i / hd));
  for (DType t : {DType::kBF16, DType::kF16}) {
    for (int m = 1; m <= cuda::kSkinnyMaxRows; ++m) {
      const auto x = test::randn(size_t(m) * k, 51 + m);
      const auto w = test::randn(size_t(n) * k, 53 + m, 0.1f);
      const auto wb = test::to_dtype(w, t);
      std::vector<float> wr(w.size());
      load_row(wb.data(), t, wr.data(), static_cast<int64_t>(w.size()));
      std::vector<int> seq(m), pos(m);
      for (int r = 0; r < m; ++r) {
        seq[r] = r % 2;
        pos[r] = 3 + 5 * r;  // distinct rows within each sequence
      }
      const size_t cache_elems = size_t(2) * nk * cap * hd;  // [seq][kv head][cap][hd]
      const std::vector<uint8_t> poison(cache_elems * 2, 0x5a);
      auto dx = DeviceBuffer::from_host(x);
      auto dw = DeviceBuffer::from_host(wb);
      auto dseq = DeviceBuffer::from_host(seq);
      auto dpos = DeviceBuffer::from_host(pos);
      auto dfreq = DeviceBuffer::from_host(inv_freq);
      ASSERT_TRUE(dx.ok() && dw.ok() && dseq.ok() && dpos.ok() && dfreq.ok());
      struct Run {
        std::vector<DeviceBuffer> y;  // q, k, v
        DeviceBuffer kc, vc;
      };
      auto make_run = [&]() {
        Run r;
        for (int64_t w_out : {qd, kvd, kvd}) {
          auto b = DeviceBuffer::create(size_t(m) * w_out * sizeof(float));
          EXPECT_TRUE(b.ok());
          r.y.push_back(std::move(*b));
        }
        auto kc = DeviceBuffer::from_host(poison), vc = DeviceBuffer::from_host(poison);
        EXPECT_TRUE(kc.ok() && vc.ok());
        r.kc = std::move(*kc);
        r.vc = std::move(*vc);
        return r;
      };
      auto cache_params = [&](DeviceBuffer& c, const float* src) {
        cuda::CacheWriteParams p;
        p.src = src;
        p.ld_src = kvd;
        p.rows = m;
        p.width = static_cast<int>(kvd);
        p.dst = c.data();
        p.type = t;
        p.seq = dseq->as<int>();
        p.pos = dpos->as<int>();
        p.seg = hd;
        p.seq_stride = int64_t{cap} * kvd;
        p.row_stride = hd;
        p.seg_stride = int64_t{cap} * hd;
        return p;
      };
      auto args = [&](Run& r) {
        cuda::SkinnyMatmulArgs a = skinny_args(dx->as<float>(), k, m, dw->data(), k, k, n, t, 3);
        a.out[0] = cuda::SkinnyOutput{r.y[0].as<float>(), qd, 0, qd, 0};
        a.out[1] = cuda::SkinnyOutput{r.y[1].as<float>(), kvd, qd, kvd, 0};
        a.out[2] = cuda::SkinnyOutput{r.y[2].as<float>(), kvd, qd + kvd, kvd, 0};
        a.split = kSplits[m % 4];
        return a;
      };
      Run fused = make_run(), plain = make_run();
      cuda::SkinnyMatmulArgs af = args(fused);
      af.rope.positions = dpos->as<int>();
      af.rope.inv_freq = dfreq->as<float>();
      af.rope.head_dim = hd;
      af.rope.k_cache = cache_params(fused.kc, nullptr);
      af.rope.v_cache = cache_params(fused.vc, nullptr);
      ASSERT_TRUE(cuda::skinny_matmul_fits(af));
      LRKV_ASSERT_OK(cuda::skinny_matmul(af, nullptr));
      LRKV_ASSERT_OK(cuda::skinny_matmul(args(plain), nullptr));
      cuda::RopeQkParams rq;
      const auto rope_of = [&](float* y, int64_t ld, int heads) {
        RopeParams rp;
        rp.x = y;
        rp.rows = m;
        rp.ld = ld;
        rp.n_heads = heads;
        rp.head_dim = hd;
        rp.positions = dpos->as<int>();
        rp.inv_freq = dfreq->as<float>();
        rp.layout = RopeLayout::kInterleaved;
        return rp;
      };
      rq.q = rope_of(plain.y[0].as<float>(), qd, nq);
      rq.k = rope_of(plain.y[1].as<float>(), kvd, nk);
      rq.k_cache = cache_params(plain.kc, plain.y[1].as<float>());
      rq.v_cache = cache_params(plain.vc, plain.y[2].as<float>());
      LRKV_ASSERT_OK(cuda::rope_qk(rq, nullptr));
      const std::string what = fmt::format("{} m {} split {}", dtype_name(t), m, kSplits[m % 4]);
      // (1) bit for bit the projection + rope_qk
      int64_t widths[3] = {qd, kvd, kvd};
      std::vector<std::vector<float>> yf(3);
      for (int o = 0; o < 3; ++o) {
        std::vector<float> yp(size_t(m) * widths[o]);
        yf[o].resize(yp.size());
        LRKV_ASSERT_OK(fused.y[o].download(yf[o].data(), yf[o].size() * sizeof(float)));
        LRKV_ASSERT_OK(plain.y[o].download(yp.data(), yp.size() * sizeof(float)));
        EXPECT_EQ(0, std::memcmp(yf[o].data(), yp.data(), yp.size() * sizeof(float))) << what << " output " << o;
      }
      std::vector<uint8_t> kcf(cache_elems * 2), kcp(kcf.size()), vcf(kcf.size()), vcp(kcf.size());
      LRKV_ASSERT_OK(fused.kc.download(kcf.data(), kcf.size()));
      LRKV_ASSERT_OK(plain.kc.download(kcp.data(), kcp.size()));
      LRKV_ASSERT_OK(fused.vc.download(vcf.data(), vcf.size()));
      LRKV_ASSERT_OK(plain.vc.download(vcp.data(), vcp.size()));
      EXPECT_EQ(kcf, kcp) << what << " k cache";
      EXPECT_EQ(vcf, vcp) << what << " v cache";
      // (2) fp64: dot products, then the rotation
      double worst = 0.0;
      for (int r = 0; r < m; ++r) {
        std::vector<double> row(n);
        for (int64_t j = 0; j < n; ++j) {
          double acc = 0.0;
          for (int64_t i = 0; i < k; ++i) acc += double(x[size_t(r) * k + i]) * wr[size_t(j) * k + i];
          row[j] = acc;
        }
        for (int64_t j = 0; j < qd + kvd; j += 2) {  // q and k pairs
          const int i = static_cast<int>((j < qd ? j : j - qd) % hd) / 2;
          const double a = double(pos[r]) * double(inv_freq[i]);
          const double y0 = row[j] * std::cos(a) - row[j + 1] * std::sin(a);
          const double y1 = row[j] * std::sin(a) + row[j + 1] * std::cos(a);
          row[j] = y0;
          row[j + 1] = y1;
        }
        for (int64_t j = 0; j < n; ++j) {
          const int o = j < qd ? 0 : (j < qd + kvd ? 1 : 2);
          const int64_t col = j - (o == 0 ? 0 : (o == 1 ? qd : qd + kvd));
          const double got = yf[o][size_t(r) * widths[o] + col];
          worst = std::max(worst, std::fabs(got - row[j]) / (1.0 + std::fabs(row[j])));
        }
      }
      // f32 sums as in MatchesFp64Reference; the rotation: sincos of a reduced angle (~1e-6).
      EXPECT_LT(worst, 1e-4) << what;
      // (3) the cache holds the stored k / v rounded to its type, only at the steps' rows
      std::vector<bool> written(cache_elems, false);
      for (int r = 0; r < m; ++r) {
        for (int c = 0; c < kvd; ++c) {
          const size_t e = size_t(seq[r]) * nk * cap * hd + size_t(c / hd) * cap * hd + size_t(pos[r]) * hd + c % hd;
          written[e] = true;
          float kv[2];
          load_row(kcf.data() + e * 2, t, &kv[0], 1);
          load_row(vcf.data() + e * 2, t, &kv[1], 1);
          const auto rounded = [&](float v) {
            const auto b = test::to_dtype({v}, t);
            float f;
            load_row(b.data(), t, &f, 1);
            return f;
          };
          ASSERT_EQ(kv[0], rounded(yf[1][size_t(r) * kvd + c])) << what << " k cache row " << r << " col " << c;
          ASSERT_EQ(kv[1], rounded(yf[2][size_t(r) * kvd + c])) << what << " v cache row " << r << " col " << c;
        }
      }
      for (size_t e = 0; e < cache_elems; ++e) {
        if (written[e]) continue;
        ASSERT_TRUE(kcf[2 * e] == 0x5a && kcf[2 * e + 1] == 0x5a) << what << " k cache element " << e << " written";
      }
    }
  }
}

// Shapes and alignments are checked on the host (no device needed).
TEST(CudaSkinnyMatmul, MisfitsAreNamed) {
  alignas(16) static float buf[64] = {};
  cuda::SkinnyMatmulArgs a = skinny_args(buf, 16, 2, buf, 16, 16, 4, DType::kBF16, 1);
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
  static int ids[1] = {0};
  static float freq[2] = {1.0f, 0.5f};
  b = a;  // RoPE epilogue: q, k, v outputs of whole heads
  b.n_out = 3;
  b.out[0] = cuda::SkinnyOutput{buf, 2, 0, 2, 0};
  b.out[1] = cuda::SkinnyOutput{buf, 1, 2, 1, 0};
  b.out[2] = cuda::SkinnyOutput{buf, 1, 3, 1, 0};
  b.rope.positions = ids;
  b.rope.inv_freq = freq;
  b.rope.head_dim = 2;
  expect_misfit(b, "RoPE epilogue: 3 outputs of 2, 1, 1 rows, head_dim 2");
  b.out[0] = cuda::SkinnyOutput{buf, 2, 0, 2, 0};
  b.out[1] = cuda::SkinnyOutput{buf, 2, 2, 2, 0};
  b.n_out = 2;
  expect_misfit(b, "RoPE epilogue: 2 outputs");
  b.n_out = 3;
  b.out[1] = cuda::SkinnyOutput{buf, 1, 2, 1, 0};
  b.out[0].n = 2;
  b.rope.head_dim = 1;
  expect_misfit(b, "head_dim 1");
}

}  // namespace
}  // namespace lrkv

#endif  // LRKV_HAVE_CUDA
