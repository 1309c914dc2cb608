// segment_project (kernels/cuda/segment_project.h) against an fp64 reference over the weights
// rounded to their type: awkward lengths and offsets, shared and distinct weight matrices with row
// offsets (the query-absorption pattern), 1..37 rows (several row tiles), f32/f16/bf16 weights,
// segments on a second input/output pair; columns outside the segments must stay untouched.
// The fused absorption (RoPE and the key mean applied to the staged inputs, the key latents and
// a copy of the value latents written into bf16 caches) against ref::rope (fp64 angles) and the
// same fp64 projection; cache rows outside the written ones must stay untouched.
#ifdef LRKV_HAVE_CUDA

#include <algorithm>
#include <cmath>
#include <cstring>

#include "cuda_test_util.h"
#include "kernels/cuda/quant_latent_attention.h"
#include "kernels/cuda/segment_project.h"
#include "kernels/quant_row.h"
#include "kernels/rope.h"

namespace lrkv {
namespace {

using cuda::DeviceBuffer;

struct Seg {
  int w_off;  // element offset of W_s in the weight buffer
  int ldw, in, out, x_off, y_off;
  int pair = 0;  // 1: reads x2 (ldx2 = 300), writes y2 (ldy2 = 50)
};

TEST(CudaSegmentProject, MatchesFp64Reference) {
  LRKV_REQUIRE_CUDA();
  // Two "groups" of weights [rank, ld]; segments read row slices of them (head pattern) or
  // whole rows (group pattern), plus one long segment of 1000 inputs.
  // Segments 6 and 7 take the second input/output pair (offsets relative to x2, y2).
  const std::vector<Seg> segs = {{0, 200, 64, 32, 0, 0},       {64, 200, 64, 32, 64, 40},
                                 {128, 200, 72, 32, 128, 80},  {6400, 96, 96, 17, 200, 120},
                                 {6400, 96, 33, 5, 300, 140},  {9000, 1000, 1000, 3, 333, 150},
                                 {64, 200, 128, 20, 100, 7, 1}, {6400, 96, 96, 9, 0, 30, 1}};
  const int ldx = 1400, ldy = 160, ldx2 = 300, ldy2 = 50, n_w = 9000 + 3 * 1000;
  for (DType t : {DType::kF32, DType::kF16, DType::kBF16}) {
    for (int rows : {1, 8, 37}) {
      const auto x = test::randn(size_t(rows) * ldx, 5 + rows);
      const auto x2 = test::randn(size_t(rows) * ldx2, 6 + rows);
      auto w = test::randn(n_w, 9, 0.2f);
      const auto wbytes = test::to_dtype(w, t);
      std::vector<float> wr(n_w);  // the weights as the kernel sees them
      load_row(wbytes.data(), t, wr.data(), n_w);
      cuda::SegmentProjectParams p;
      auto dx = DeviceBuffer::from_host(x);
      auto dw = DeviceBuffer::from_host(wbytes);
      auto dx2 = DeviceBuffer::from_host(x2);
      std::vector<float> poison(size_t(rows) * ldy, NAN), poison2(size_t(rows) * ldy2, NAN);
      auto dy = DeviceBuffer::from_host(poison);
      auto dy2 = DeviceBuffer::from_host(poison2);
      ASSERT_TRUE(dx.ok() && dw.ok() && dy.ok() && dx2.ok() && dy2.ok());
      p.x2 = dx2->as<float>();
      p.ldx2 = ldx2;
      p.y2 = dy2->as<float>();
      p.ldy2 = ldy2;
      p.x = dx->as<float>();
      p.ldx = ldx;
      p.rows = rows;
      p.y = dy->as<float>();
      p.ldy = ldy;
      p.w_type = t;
      p.n_seg = static_cast<int>(segs.size());
      std::vector<float> ref(size_t(rows) * ldy, NAN), ref2(size_t(rows) * ldy2, NAN);
      for (int s = 0; s < p.n_seg; ++s) {
        const Seg& g = segs[s];
        p.w[s] = static_cast<const char*>(dw->data()) + dtype_bytes(t, g.w_off);
        p.ldw[s] = g.ldw;
        p.in_len[s] = g.in;
        p.out_len[s] = g.out;
        p.x_off[s] = g.x_off;
        p.y_off[s] = g.y_off;
        p.pair[s] = static_cast<uint8_t>(g.pair);
        const std::vector<float>& xs = g.pair ? x2 : x;
        std::vector<float>& rs = g.pair ? ref2 : ref;
        const int lx = g.pair ? ldx2 : ldx, ly = g.pair ? ldy2 : ldy;
        for (int r = 0; r < rows; ++r) {
          for (int j = 0; j < g.out; ++j) {
            double acc = 0.0;
            for (int i = 0; i < g.in; ++i) acc += double(xs[size_t(r) * lx + g.x_off + i]) * wr[g.w_off + size_t(j) * g.ldw + i];
            rs[size_t(r) * ly + g.y_off + j] = static_cast<float>(acc);
          }
        }
      }
      LRKV_ASSERT_OK(cuda::segment_project(p, nullptr));
      for (int out = 0; out < 2; ++out) {
        const std::vector<float>& r = out ? ref2 : ref;
        std::vector<float> y(r.size());
        LRKV_ASSERT_OK((out ? *dy2 : *dy).download(y.data(), y.size() * sizeof(float)));
        double worst = 0.0;
        size_t untouched_written = 0;
        for (size_t i = 0; i < y.size(); ++i) {
          if (std::isnan(r[i])) {
            untouched_written += !std::isnan(y[i]);
            continue;
          }
          ASSERT_TRUE(std::isfinite(y[i])) << "row-col " << i << " " << dtype_name(t) << " output " << out;
          worst = std::max(worst, std::fabs(double(y[i]) - r[i]) / (1.0 + std::fabs(r[i])));
        }
        EXPECT_EQ(untouched_written, 0u) << "output " << out;
        // f32 accumulation of ≤ 1000 products of O(1) terms: |err| ≲ n·2⁻²⁴·Σ|x w| ≪ 1e-4.
        EXPECT_LT(worst, 1e-4) << dtype_name(t) << " rows " << rows << " output " << out;
      }
    }
  }
}

// Absorbed-latent shapes: 4 KV heads of 64 in 2 groups (ranks 24 and 40), 8 query heads whose
// absorption reads their KV head's 64 columns of the group's Pᵀ; rows at positions ~3000 in two
// sequences of caches of 3100 rows each. init() builds the inputs, the device buffers and the
// parameters of the fused launch (RoPE and mean on), and the fp64 reference outputs.
struct AbsorbCase {
  static constexpr int hd = 64, n_kv = 4, n_q = 8, kvd = n_kv * hd, qd = n_q * hd, cap = 3100, vw = 48;
  static constexpr int k_width = 64, qk_width = 256;
  static constexpr int rank[2] = {24, 40}, lat_off[2] = {0, 24};
  struct RefSeg {
    int g, col0, in, x_off, y_off, pair;
  };
  int rows = 0;
  std::vector<RefSeg> segs;
  std::vector<float> inv_freq, x, x2, mean, cv, P[2], ref_y, ref_y2;
  std::vector<int> pos, seq;
  DeviceBuffer dx, dx2, dmean, dcv, dpos, dseq, dfreq, dp[2], dy, dy2;
  cuda::SegmentProjectParams p;

  void init(RopeLayout layout, DType t, int n_rows) {
    rows = n_rows;
    inv_freq.resize(hd / 2);
    for (int i = 0; i < hd / 2; ++i) inv_freq[i] = static_cast<float>(std::pow(10000.0, -2.0 * i / hd));
    x = test::randn(size_t(rows) * kvd, 31 + rows);
    x2 = test::randn(size_t(rows) * qd, 32 + rows);
    mean = test::randn(kvd, 33, 0.3f);
    cv = test::randn(size_t(rows) * vw, 34 + rows);
    pos.resize(rows);
    seq.resize(rows);
    for (int r = 0; r < rows; ++r) {
      seq[r] = r % 2;
      pos[r] = 2990 + 7 * r;
    }
    std::vector<uint8_t> pb[2];
    for (int g = 0; g < 2; ++g) {
      P[g] = test::randn(size_t(rank[g]) * 2 * hd, 35 + g, 0.2f);
      pb[g] = test::to_dtype(P[g], t);
      load_row(pb[g].data(), t, P[g].data(), static_cast<int64_t>(P[g].size()));  // as the kernel sees them
    }
    segs.clear();
    for (int g = 0; g < 2; ++g) segs.push_back({g, 0, 2 * hd, 2 * hd * g, lat_off[g], 0});
    for (int h = 0, y2_off = 0; h < n_q; ++h) {
      const int g = h / 4, col0 = ((h / 2) - 2 * g) * hd;  // q head h reads KV head h / 2
      segs.push_back({g, col0, hd, h * hd, y2_off, 1});
      y2_off += rank[g];
    }
    reference(layout);
    auto up = [](auto& dst, const auto& v) {
      auto b = DeviceBuffer::from_host(v);
      ASSERT_TRUE(b.ok()) << b.status().to_string();
      dst = std::move(*b);
    };
    up(dx, x);
    up(dx2, x2);
    up(dmean, mean);
    up(dcv, cv);
    up(dpos, pos);
    up(dseq, seq);
    up(dfreq, inv_freq);
    up(dp[0], pb[0]);
    up(dp[1], pb[1]);
    up(dy, std::vector<float>(size_t(rows) * k_width, NAN));
    up(dy2, std::vector<float>(size_t(rows) * qk_width, NAN));
    p = {};
    p.x = dx.as<float>();
    p.ldx = kvd;
    p.rows = rows;
    p.y = dy.as<float>();
    p.ldy = k_width;
    p.x2 = dx2.as<float>();
    p.ldx2 = qd;
    p.y2 = dy2.as<float>();
    p.ldy2 = qk_width;
    p.w_type = t;
    p.n_seg = static_cast<int>(segs.size());
    for (int s = 0; s < p.n_seg; ++s) {
      const RefSeg& g = segs[s];
      p.w[s] = static_cast<const char*>(dp[g.g].data()) + dtype_bytes(t, g.col0);
      p.ldw[s] = 2 * hd;
      p.in_len[s] = g.in;
      p.out_len[s] = rank[g.g];
      p.x_off[s] = g.x_off;
      p.y_off[s] = g.y_off;
      p.pair[s] = static_cast<uint8_t>(g.pair);
    }
    p.rope.pos = dpos.as<int>();
    p.rope.inv_freq = dfreq.as<float>();
    p.rope.x_mean = dmean.as<float>();
    p.rope.head_dim = hd;
    p.rope.half_split = layout == RopeLayout::kHalfSplit;
  }

  // ref::rope (fp64 angles), minus the mean on the key side, fp64 projection.
  void reference(RopeLayout layout) {
    std::vector<float> xr = x, x2r = x2;
    RopeParams rp;
    rp.x = xr.data();
    rp.rows = rows;
    rp.ld = kvd;
    rp.n_heads = n_kv;
    rp.head_dim = hd;
    rp.positions = pos.data();
    rp.inv_freq = inv_freq.data();
    rp.layout = layout;
    ref::rope(rp);
    rp.x = x2r.data();
    rp.ld = qd;
    rp.n_heads = n_q;
    ref::rope(rp);
    for (int r = 0; r < rows; ++r) {
      for (int c = 0; c < kvd; ++c) xr[size_t(r) * kvd + c] -= mean[c];
    }
    ref_y.assign(size_t(rows) * k_width, NAN);
    ref_y2.assign(size_t(rows) * qk_width, NAN);
    for (const RefSeg& g : segs) {
      for (int r = 0; r < rows; ++r) {
        for (int j = 0; j < rank[g.g]; ++j) {
          const float* xs = g.pair ? &x2r[size_t(r) * qd + g.x_off] : &xr[size_t(r) * kvd + g.x_off];
          const float* w = &P[g.g][size_t(j) * 2 * hd + g.col0];
          double acc = 0.0;
          for (int i = 0; i < g.in; ++i) acc += double(xs[i]) * w[i];
          (g.pair ? ref_y2[size_t(r) * qk_width + g.y_off + j] : ref_y[size_t(r) * k_width + g.y_off + j]) =
              static_cast<float>(acc);
        }
      }
    }
  }

  // Worst |out - ref| / (1 + |ref|) over both outputs (downloaded into y, y2); every output written.
  double worst_error(std::vector<float>* y, std::vector<float>* y2) const {
    y->resize(ref_y.size());
    y2->resize(ref_y2.size());
    EXPECT_TRUE(dy.download(y->data(), y->size() * sizeof(float)).ok());
    EXPECT_TRUE(dy2.download(y2->data(), y2->size() * sizeof(float)).ok());
    double worst = 0.0;
    for (int out = 0; out < 2; ++out) {
      const std::vector<float>& got = out ? *y2 : *y;
      const std::vector<float>& ref = out ? ref_y2 : ref_y;
      for (size_t i = 0; i < ref.size(); ++i) {
        worst = std::max(worst, std::isfinite(got[i]) ? std::fabs(double(got[i]) - ref[i]) / (1.0 + std::fabs(ref[i]))
                                                     : INFINITY);
      }
    }
    return worst;
  }

  cuda::CacheWriteParams cache(const float* src, int width, void* dst) const {
    cuda::CacheWriteParams c;
    c.src = src;
    c.ld_src = width;
    c.rows = rows;
    c.width = width;
    c.dst = dst;
    c.type = DType::kBF16;
    c.seq = dseq.as<int>();
    c.pos = dpos.as<int>();
    c.seq_stride = int64_t{cap} * width;
    c.row_stride = c.seg = width;
    return c;
  }
};

// f32 sums of ≤ 128 products plus the rotation's f32 rounding and the device's angle reduction
// (~1e-6 absolute at these positions): ≪ 1e-4.
constexpr double kFusedTolerance = 1e-4;

TEST(CudaSegmentProject, FusedRopeMeanAndCacheWritesMatchReference) {
  LRKV_REQUIRE_CUDA();
  constexpr int k_width = AbsorbCase::k_width, vw = AbsorbCase::vw, cap = AbsorbCase::cap;
  for (const RopeLayout layout : {RopeLayout::kHalfSplit, RopeLayout::kInterleaved}) {
    for (DType t : {DType::kF32, DType::kBF16}) {
      for (int rows : {1, 5, 11}) {
        AbsorbCase c;
        ASSERT_NO_FATAL_FAILURE(c.init(layout, t, rows));
        const std::vector<uint16_t> poison_k(size_t(2) * cap * k_width, 0x7FC0), poison_v(size_t(2) * cap * vw, 0x7FC0);
        auto dkc = DeviceBuffer::from_host(poison_k);
        auto dvc = DeviceBuffer::from_host(poison_v);
        ASSERT_TRUE(dkc.ok() && dvc.ok());
        c.p.y_cache = c.cache(nullptr, k_width, dkc->data());
        c.p.v_cache = c.cache(c.dcv.as<float>(), vw, dvc->data());
        LRKV_ASSERT_OK(cuda::segment_project(c.p, nullptr));
        std::vector<float> y, y2;
        EXPECT_LT(c.worst_error(&y, &y2), kFusedTolerance) << dtype_name(t) << " rows " << rows;
        // Caches: exactly the bf16 roundings of the outputs / of cv at (seq, pos), nothing else.
        std::vector<uint16_t> kc(poison_k.size()), vc(poison_v.size());
        LRKV_ASSERT_OK(dkc->download(kc.data(), kc.size() * 2));
        LRKV_ASSERT_OK(dvc->download(vc.data(), vc.size() * 2));
        size_t k_written = 0, v_written = 0, k_wrong = 0, v_wrong = 0;
        for (uint16_t b : kc) k_written += b != 0x7FC0;
        for (uint16_t b : vc) v_written += b != 0x7FC0;
        for (int r = 0; r < rows; ++r) {
          const size_t row = size_t(c.seq[r]) * cap + c.pos[r];
          for (int col = 0; col < k_width; ++col) {
            uint16_t want;
            store_row(&want, DType::kBF16, &y[size_t(r) * k_width + col], 1);
            k_wrong += kc[row * k_width + col] != want;
          }
          for (int col = 0; col < vw; ++col) {
            uint16_t want;
            store_row(&want, DType::kBF16, &c.cv[size_t(r) * vw + col], 1);
            v_wrong += vc[row * vw + col] != want;
          }
        }
        EXPECT_EQ(k_wrong, 0u) << "rows " << rows;
        EXPECT_EQ(v_wrong, 0u) << "rows " << rows;
        EXPECT_EQ(k_written, size_t(rows) * k_width) << "key cache elements written";
        EXPECT_EQ(v_written, size_t(rows) * vw) << "value cache elements written";
      }
    }
  }
}

// Quantized caches: the launch encodes the key latents (by the last CTA of each segment and row
// tile) and the value latents (two segments of 24) itself. The bytes must equal what the encoder
// kernel (quant_encode_rows) writes from the same outputs, untouched bytes included, twice in a
// row (the counters come back to zero), for int4 groups of 16 and 3-bit symmetric whole slices.
TEST(CudaSegmentProject, FusedEncodeMatchesEncoderKernel) {
  LRKV_REQUIRE_CUDA();
  constexpr int cap = AbsorbCase::cap;
  const QuantFormat int4{QuantScheme::kAffine, 4, 16}, int3{QuantScheme::kSymmetric, 3, 0};
  for (const QuantFormat& f : {int4, int3}) {
    for (int rows : {1, 5, 11}) {
      AbsorbCase c;
      ASSERT_NO_FATAL_FAILURE(c.init(RopeLayout::kHalfSplit, DType::kBF16, rows));
      const std::vector<int> k_col = {0, 24}, k_len = {24, 40}, v_col = {0, 24}, v_len = {24, 24};
      std::vector<int64_t> k_dst = {0, segment_bytes(f, 24)}, v_dst = {0, segment_bytes(f, 24)};
      const int64_t k_row = k_dst[1] + segment_bytes(f, 40), v_row = v_dst[1] + segment_bytes(f, 24);
      auto side = [&](const float* src, int ld, const std::vector<int>& col, const std::vector<int>& len,
                      const std::vector<int64_t>& dst, int64_t row_bytes, void* cache) {
        cuda::QuantEncodeParams e;
        e.src = src;
        e.ld_src = ld;
        e.rows = rows;
        e.format = f;
        e.n_segments = 2;
        e.seg_col = col.data();
        e.seg_len = len.data();
        e.seg_dst = dst.data();
        e.dst = cache;
        e.row_bytes = row_bytes;
        e.seq_bytes = cap * row_bytes;
        e.seq = c.dseq.as<int>();
        e.pos = c.dpos.as<int>();
        return e;
      };
      const std::vector<uint8_t> poison_k(size_t(2) * cap * k_row, 0xAB), poison_v(size_t(2) * cap * v_row, 0xAB);
      auto fk = DeviceBuffer::from_host(poison_k), fv = DeviceBuffer::from_host(poison_v);
      auto rk = DeviceBuffer::from_host(poison_k), rv = DeviceBuffer::from_host(poison_v);
      auto counters = DeviceBuffer::from_host(std::vector<unsigned>(64, 0u));
      ASSERT_TRUE(fk.ok() && fv.ok() && rk.ok() && rv.ok() && counters.ok());
      LRKV_ASSERT_OK(cuda::quant_encode_args(
          side(c.dy.as<float>(), AbsorbCase::k_width, k_col, k_len, k_dst, k_row, fk->data()), &c.p.k_enc));
      LRKV_ASSERT_OK(
          cuda::quant_encode_args(side(c.dcv.as<float>(), AbsorbCase::vw, v_col, v_len, v_dst, v_row, fv->data()),
                                  &c.p.v_enc));
      c.p.counters = counters->as<unsigned>();
      c.p.n_counters = 64;
      for (int run = 0; run < 2; ++run) {
        LRKV_ASSERT_OK(fk->upload(poison_k.data(), poison_k.size()));  // a run that encodes nothing must fail
        LRKV_ASSERT_OK(fv->upload(poison_v.data(), poison_v.size()));
        LRKV_ASSERT_OK(cuda::segment_project(c.p, nullptr));
        std::vector<float> y, y2;
        EXPECT_LT(c.worst_error(&y, &y2), kFusedTolerance) << f.name() << " rows " << rows;
        // The encoder kernel on the launch's own outputs.
        LRKV_ASSERT_OK(cuda::quant_encode_rows(
            side(c.dy.as<float>(), AbsorbCase::k_width, k_col, k_len, k_dst, k_row, rk->data()),
            side(c.dcv.as<float>(), AbsorbCase::vw, v_col, v_len, v_dst, v_row, rv->data()), nullptr));
        for (int kv = 0; kv < 2; ++kv) {
          std::vector<uint8_t> fused((kv ? poison_v : poison_k).size()), sep(fused.size());
          LRKV_ASSERT_OK((kv ? *fv : *fk).download(fused.data(), fused.size()));
          LRKV_ASSERT_OK((kv ? *rv : *rk).download(sep.data(), sep.size()));
          size_t differ = 0, written = 0;
          for (size_t i = 0; i < fused.size(); ++i) {
            differ += fused[i] != sep[i];
            written += fused[i] != 0xAB;
          }
          EXPECT_EQ(differ, 0u) << (kv ? "values " : "keys ") << f.name() << " rows " << rows << " run " << run;
          EXPECT_GT(written, 0u);
        }
        std::vector<unsigned> left(64);
        LRKV_ASSERT_OK(counters->download(left.data(), left.size() * sizeof(unsigned)));
        EXPECT_EQ(std::count(left.begin(), left.end(), 0u), 64) << "counters not back to zero";
      }
    }
  }
}

TEST(CudaSegmentProject, BadParametersAreErrors) {
  LRKV_REQUIRE_CUDA();
  cuda::SegmentProjectParams p;
  EXPECT_FALSE(cuda::segment_project(p, nullptr).ok());  // no segments
  auto buf = DeviceBuffer::from_host(std::vector<float>(64, 0.0f));
  ASSERT_TRUE(buf.ok());
  p.x = p.y = buf->as<float>();
  p.rows = 1;
  p.n_seg = 1;
  p.w[0] = buf->data();
  p.in_len[0] = 8;
  p.out_len[0] = 2;
  p.ldw[0] = 4;  // shorter than the input length
  EXPECT_FALSE(cuda::segment_project(p, nullptr).ok());
  p.ldw[0] = 8;
  p.pair[0] = 1;  // no x2 / y2
  const Status no_pair = cuda::segment_project(p, nullptr);
  EXPECT_FALSE(no_pair.ok());
  EXPECT_NE(no_pair.message().find("pair 1"), std::string::npos) << no_pair.message();
  p.pair[0] = 0;
  // RoPE needs whole heads: 8 inputs are not a head of 16.
  std::vector<float> freq(8, 1.0f);
  auto dfreq = DeviceBuffer::from_host(freq);
  ASSERT_TRUE(dfreq.ok());
  p.rope.pos = reinterpret_cast<const int*>(buf->data());
  p.rope.inv_freq = dfreq->as<float>();
  p.rope.head_dim = 16;
  const Status partial = cuda::segment_project(p, nullptr);
  EXPECT_FALSE(partial.ok());
  EXPECT_NE(partial.message().find("whole heads"), std::string::npos) << partial.message();
  p.rope.head_dim = 7;
  EXPECT_FALSE(cuda::segment_project(p, nullptr).ok());  // odd head size
  p.rope = {};
  p.w_type = DType::kQ8_0;
  EXPECT_FALSE(cuda::segment_project(p, nullptr).ok());
}

}  // namespace
}  // namespace lrkv

#endif  // LRKV_HAVE_CUDA
