// CUDA row kernels (kernels/cuda/elementwise.h) against fp64 scalar references. RMSNorm: the
// float4 register path (cols % 4 == 0, up to 4096 values, aligned rows) and the generic loop (odd
// widths, wider rows, unaligned rows), strided rows, in place (y aliasing x) and not. rope_qk:
// RoPE of q and k (both layouts, minus a mean or not), the k and v cache scatters of the same
// launch (head-major f16, token-row bf16), and the two-scatter cache_write.
#ifdef LRKV_HAVE_CUDA

#include <cmath>
#include <cstdint>
#include <cstring>

#include "core/dtype.h"
#include "cuda_test_util.h"
#include "kernels/cuda/elementwise.h"

namespace lrkv {
namespace {

struct NormCase {
  int64_t rows, cols, ld, x_off;  // x_off: first element of the rows in the buffer (1: unaligned)
};

TEST(CudaRmsNorm, MatchesFp64Reference) {
  LRKV_REQUIRE_CUDA();
  const std::vector<NormCase> cases = {{1, 4096, 4096, 0}, {3, 4096, 4104, 0}, {2, 2048, 2048, 0}, {5, 12, 16, 0},
                                       {2, 4100, 4100, 0}, {3, 63, 64, 0},     {2, 4096, 4096, 1}, {1, 5120, 5120, 0}};
  for (const NormCase& c : cases) {
    for (bool in_place : {false, true}) {
      SCOPED_TRACE(testing::Message() << "rows " << c.rows << " cols " << c.cols << " ld " << c.ld << " x_off "
                                      << c.x_off << (in_place ? " in place" : ""));
      const size_t n = size_t(c.x_off + c.rows * c.ld);
      const auto x = test::randn(n, 3 + c.cols, 2.0f);
      const auto w = test::randn(size_t(c.cols), 4);
      std::vector<float> ref(n, NAN), poison(n, NAN);
      for (int64_t r = 0; r < c.rows; ++r) {
        const float* xr = x.data() + c.x_off + r * c.ld;
        double ss = 0.0;
        for (int64_t i = 0; i < c.cols; ++i) ss += double(xr[i]) * xr[i];
        const double inv = 1.0 / std::sqrt(ss / c.cols + 1e-5);
        for (int64_t i = 0; i < c.cols; ++i) ref[c.x_off + r * c.ld + i] = static_cast<float>(xr[i] * inv * w[i]);
      }
      auto dx = cuda::DeviceBuffer::from_host(x);
      auto dw = cuda::DeviceBuffer::from_host(w);
      auto dy = cuda::DeviceBuffer::from_host(poison);
      ASSERT_TRUE(dx.ok() && dw.ok() && dy.ok());
      RmsNormParams p;
      p.x = dx->as<float>() + c.x_off;
      p.weight = dw->as<float>();
      p.y = (in_place ? dx->as<float>() : dy->as<float>()) + c.x_off;
      p.rows = c.rows;
      p.cols = c.cols;
      p.ld = c.ld;
      p.eps = 1e-5f;
      LRKV_ASSERT_OK(cuda::rmsnorm(p, nullptr));
      std::vector<float> y(n);
      LRKV_ASSERT_OK((in_place ? *dx : *dy).download(y.data(), n * sizeof(float)));
      for (size_t i = 0; i < n; ++i) {
        if (std::isnan(ref[i])) {
          // Outside the rows: untouched (the poison, or x itself when in place).
          if (in_place) {
            ASSERT_EQ(y[i], x[i]) << "element " << i << " outside the rows was written";
          } else {
            ASSERT_TRUE(std::isnan(y[i])) << "element " << i << " outside the rows was written";
          }
          continue;
        }
        ASSERT_NEAR(y[i], ref[i], 1e-5 * (1.0 + std::fabs(ref[i]))) << "element " << i;
      }
    }
  }
}

// x rotated by RoPE at position p in fp64 (pair i: angle p * inv_freq[i]).
std::vector<double> rope_ref(const float* x, int hd, int p, const std::vector<float>& inv_freq, bool half_split) {
  std::vector<double> y(x, x + hd);
  for (int i = 0; i < hd / 2; ++i) {
    const int i0 = half_split ? i : 2 * i, i1 = half_split ? i + hd / 2 : 2 * i + 1;
    const double a = double(p) * inv_freq[i], c = std::cos(a), s = std::sin(a);
    y[i0] = x[i0] * c - x[i1] * s;
    y[i1] = x[i0] * s + x[i1] * c;
  }
  return y;
}

float cache_value(const std::vector<uint8_t>& bytes, DType t, int64_t at) {
  if (t == DType::kF16) return f16_to_f32(reinterpret_cast<const f16_bits*>(bytes.data())[at]);
  return bf16_to_f32(reinterpret_cast<const bf16_bits*>(bytes.data())[at]);
}

// swiglu, add_row_vector and convert_rows: float4 paths (aligned rows, cols % 4 == 0) and the
// element-wise tails (odd widths and strides), more rows than one grid dimension (70 000 > 65 535),
// columns past cols untouched. References: fp64 silu(g) * u, y + alpha * v, host rounding.
TEST(CudaRowKernels, SwigluAddRowVectorConvertMatchReferences) {
  LRKV_REQUIRE_CUDA();
  struct Shape {
    int64_t rows, cols, ld;
  };
  for (const Shape& c : {Shape{1, 14336, 14336}, Shape{3, 4096, 4100}, Shape{5, 13, 17}, Shape{70000, 6, 8}}) {
    SCOPED_TRACE(testing::Message() << "rows " << c.rows << " cols " << c.cols << " ld " << c.ld);
    const size_t n = size_t(c.rows * c.ld);
    const auto g = test::randn(n, 1, 3.0f), u = test::randn(n, 2), v = test::randn(size_t(c.cols), 3);
    auto dg = cuda::DeviceBuffer::from_host(g), du = cuda::DeviceBuffer::from_host(u);
    auto dout = cuda::DeviceBuffer::from_host(std::vector<float>(n, NAN)), dv = cuda::DeviceBuffer::from_host(v);
    auto dy = cuda::DeviceBuffer::from_host(u);
    auto dh = cuda::DeviceBuffer::from_host(std::vector<uint16_t>(n, 0xFFFF));
    ASSERT_TRUE(dg.ok() && du.ok() && dout.ok() && dv.ok() && dy.ok() && dh.ok());
    LRKV_ASSERT_OK(cuda::swiglu(SwigluParams{dg->as<float>(), du->as<float>(), dout->as<float>(), c.rows, c.cols, c.ld},
                                nullptr));
    LRKV_ASSERT_OK(cuda::add_row_vector(dy->as<float>(), c.ld, c.rows, c.cols, dv->as<float>(), -0.5f, nullptr));
    LRKV_ASSERT_OK(cuda::convert_rows(dg->as<float>(), c.ld, dh->data(), DType::kF16, c.ld, c.rows, c.cols, nullptr));
    ASSERT_EQ(cudaDeviceSynchronize(), cudaSuccess);
    std::vector<float> out(n), y(n);
    std::vector<uint16_t> h(n);
    LRKV_ASSERT_OK(dout->download(out.data(), n * sizeof(float)));
    LRKV_ASSERT_OK(dy->download(y.data(), n * sizeof(float)));
    LRKV_ASSERT_OK(dh->download(h.data(), n * sizeof(uint16_t)));
    const auto want_h = test::to_dtype(g, DType::kF16);
    int64_t bad_swiglu = 0, bad_add = 0, bad_convert = 0, touched = 0;
    for (int64_t r = 0; r < c.rows; ++r) {
      for (int64_t i = 0; i < c.ld; ++i) {
        const size_t e = size_t(r * c.ld + i);
        if (i >= c.cols) {  // padding: never written
          touched += !std::isnan(out[e]) || y[e] != u[e] || h[e] != 0xFFFF;
          continue;
        }
        const double gd = g[e], sw = gd / (1.0 + std::exp(-gd)) * u[e];
        bad_swiglu += std::fabs(out[e] - sw) > 1e-5 * (1.0 + std::fabs(sw));
        bad_add += std::fabs(y[e] - (double(u[e]) - 0.5 * v[i])) > 1e-6 * (1.0 + std::fabs(u[e]));
        uint16_t hw;
        std::memcpy(&hw, want_h.data() + 2 * e, 2);
        bad_convert += h[e] != hw;
      }
    }
    EXPECT_EQ(bad_swiglu, 0);
    EXPECT_EQ(bad_add, 0);
    EXPECT_EQ(bad_convert, 0);
    EXPECT_EQ(touched, 0);
  }
}

TEST(CudaRopeQk, RotatesAndScattersInOneLaunch) {
  LRKV_REQUIRE_CUDA();
  const int rows = 3, hq = 4, hk = 2, cap = 6;
  const std::vector<int> rope_pos = {0, 7, 4099}, seq = {0, 1, 1}, pos = {0, 5, 2};
  for (int hd : {8, 128}) {
    for (bool half_split : {false, true}) {
      for (bool mean : {false, true}) {
        SCOPED_TRACE(testing::Message() << "head_dim " << hd << (half_split ? " half-split" : " interleaved")
                                        << (mean ? " minus mean" : ""));
        const int qd = hq * hd, kvd = hk * hd;
        const auto q = test::randn(size_t(rows) * qd, 1 + hd), k = test::randn(size_t(rows) * kvd, 2 + hd);
        const auto v = test::randn(size_t(rows) * kvd, 3 + hd), mu = test::randn(size_t(kvd), 4);
        std::vector<float> inv_freq(hd / 2);
        for (int i = 0; i < hd / 2; ++i) inv_freq[i] = static_cast<float>(std::pow(10000.0, -2.0 * i / hd));
        auto dq = cuda::DeviceBuffer::from_host(q);
        auto dk = cuda::DeviceBuffer::from_host(k);
        auto dv = cuda::DeviceBuffer::from_host(v);
        auto dmu = cuda::DeviceBuffer::from_host(mu);
        auto dfreq = cuda::DeviceBuffer::from_host(inv_freq);
        auto drope = cuda::DeviceBuffer::from_host(rope_pos);
        auto dseq = cuda::DeviceBuffer::from_host(seq);
        auto dpos = cuda::DeviceBuffer::from_host(pos);
        const int64_t cache_elems = int64_t{2} * cap * kvd;
        auto kc = cuda::DeviceBuffer::create(cache_elems * 2), vc = cuda::DeviceBuffer::create(cache_elems * 2);
        ASSERT_TRUE(dq.ok() && dk.ok() && dv.ok() && dmu.ok() && dfreq.ok() && drope.ok() && dseq.ok() &&
                    dpos.ok() && kc.ok() && vc.ok());
        LRKV_ASSERT_OK(kc->fill_bytes(0xFF));
        LRKV_ASSERT_OK(vc->fill_bytes(0xFF));
        cuda::RopeQkParams p;
        p.q = RopeParams{dq->as<float>(), rows, qd, hq, hd, drope->as<int>(), dfreq->as<float>(),
                         half_split ? RopeLayout::kHalfSplit : RopeLayout::kInterleaved, false};
        p.k = p.q;
        p.k.x = dk->as<float>();
        p.k.ld = kvd;
        p.k.n_heads = hk;
        if (mean) p.k_mean = dmu->as<float>();
        // Keys head-major f16 ([seq][kv head][cap][hd]); values token rows bf16 ([seq][cap][kvd]).
        p.k_cache.rows = p.v_cache.rows = rows;
        p.k_cache.width = p.v_cache.width = kvd;
        p.k_cache.seq = p.v_cache.seq = dseq->as<int>();
        p.k_cache.pos = p.v_cache.pos = dpos->as<int>();
        p.k_cache.dst = kc->data();
        p.k_cache.type = DType::kF16;
        p.k_cache.seg = hd;
        p.k_cache.seq_stride = int64_t{cap} * kvd;
        p.k_cache.row_stride = hd;
        p.k_cache.seg_stride = int64_t{cap} * hd;
        p.v_cache.src = dv->as<float>();
        p.v_cache.ld_src = kvd;
        p.v_cache.dst = vc->data();
        p.v_cache.type = DType::kBF16;
        p.v_cache.seg = kvd;
        p.v_cache.seq_stride = int64_t{cap} * kvd;
        p.v_cache.row_stride = kvd;
        LRKV_ASSERT_OK(cuda::rope_qk(p, nullptr));
        std::vector<float> q_out(q.size()), k_out(k.size());
        std::vector<uint8_t> kb(cache_elems * 2), vb(cache_elems * 2);
        LRKV_ASSERT_OK(dq->download(q_out.data(), q_out.size() * sizeof(float)));
        LRKV_ASSERT_OK(dk->download(k_out.data(), k_out.size() * sizeof(float)));
        LRKV_ASSERT_OK(kc->download(kb.data(), kb.size()));
        LRKV_ASSERT_OK(vc->download(vb.data(), vb.size()));
        std::vector<bool> k_written(cache_elems, false), v_written(cache_elems, false);
        for (int r = 0; r < rows; ++r) {
          for (int h = 0; h < hq; ++h) {
            const auto want = rope_ref(q.data() + r * qd + h * hd, hd, rope_pos[r], inv_freq, half_split);
            for (int i = 0; i < hd; ++i) {
              ASSERT_NEAR(q_out[r * qd + h * hd + i], want[i], 2e-5 * (1.0 + std::fabs(want[i])))
                  << "q row " << r << " head " << h << " column " << i;
            }
          }
          for (int g = 0; g < hk; ++g) {
            auto want = rope_ref(k.data() + r * kvd + g * hd, hd, rope_pos[r], inv_freq, half_split);
            for (int i = 0; i < hd; ++i) {
              if (mean) want[i] -= mu[g * hd + i];
              ASSERT_NEAR(k_out[r * kvd + g * hd + i], want[i], 2e-5 * (1.0 + std::fabs(want[i])))
                  << "k row " << r << " head " << g << " column " << i;
              const int64_t at = int64_t{seq[r]} * cap * kvd + int64_t{g} * cap * hd + int64_t{pos[r]} * hd + i;
              k_written[at] = true;
              ASSERT_NEAR(cache_value(kb, DType::kF16, at), want[i], 1e-3 * std::fabs(want[i]) + 1e-6)
                  << "k cache row " << r << " head " << g << " column " << i;
            }
          }
          for (int c = 0; c < kvd; ++c) {
            const int64_t at = int64_t{seq[r]} * cap * kvd + int64_t{pos[r]} * kvd + c;
            v_written[at] = true;
            ASSERT_EQ(cache_value(vb, DType::kBF16, at), bf16_to_f32(f32_to_bf16(v[r * kvd + c]))) << "v cache " << at;
          }
        }
        for (int64_t i = 0; i < cache_elems; ++i) {  // nothing else written (0xFFFF: a NaN in both types)
          if (!k_written[i]) ASSERT_TRUE(std::isnan(cache_value(kb, DType::kF16, i))) << "k cache element " << i;
          if (!v_written[i]) ASSERT_TRUE(std::isnan(cache_value(vb, DType::kBF16, i))) << "v cache element " << i;
        }
        // Two scatters in one launch: q rows into the f16 buffer's token rows, v rows into the bf16 one.
        LRKV_ASSERT_OK(kc->fill_bytes(0xFF));
        cuda::CacheWriteParams a = p.v_cache, b = p.v_cache;
        a.src = dq->as<float>();
        a.ld_src = qd;
        a.width = kvd;  // the first kvd columns of each q row
        a.dst = kc->data();
        a.type = DType::kF16;
        LRKV_ASSERT_OK(cuda::cache_write(a, b, nullptr));
        LRKV_ASSERT_OK(kc->download(kb.data(), kb.size()));
        LRKV_ASSERT_OK(vc->download(vb.data(), vb.size()));
        for (int r = 0; r < rows; ++r) {
          for (int c = 0; c < kvd; ++c) {
            const int64_t at = int64_t{seq[r]} * cap * kvd + int64_t{pos[r]} * kvd + c;
            ASSERT_EQ(cache_value(kb, DType::kF16, at), f16_to_f32(f32_to_f16(q_out[r * qd + c]))) << at;
            ASSERT_EQ(cache_value(vb, DType::kBF16, at), bf16_to_f32(f32_to_bf16(v[r * kvd + c]))) << at;
          }
        }
      }
    }
  }
}

}  // namespace
}  // namespace lrkv

#endif  // LRKV_HAVE_CUDA
