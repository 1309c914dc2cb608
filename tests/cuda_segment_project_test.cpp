// segment_project (kernels/cuda/segment_project.h) against an fp64 reference over the weights
// rounded to their type: awkward lengths and offsets, shared and distinct weight matrices with row
// offsets (the query-absorption pattern), 1..37 rows (several row tiles), f32/f16/bf16 weights,
// segments on a second input/output pair; columns outside the segments must stay untouched.
// The fused absorption (RoPE and the key mean applied to the staged inputs, the key latents and
// a copy of the value latents written into bf16 caches) against ref::rope (fp64 angles) and the
// same fp64 projection; cache rows outside the written ones must stay untouched.
#ifdef LRKV_HAVE_CUDA

#include <cmath>
#include <cstring>

#include "cuda_test_util.h"
#include "kernels/cuda/segment_project.h"
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
// sequences of a bf16 cache of 3100 rows each.
TEST(CudaSegmentProject, FusedRopeMeanAndCacheWritesMatchReference) {
  LRKV_REQUIRE_CUDA();
  constexpr int hd = 64, n_kv = 4, n_q = 8, kvd = n_kv * hd, qd = n_q * hd, cap = 3100, vw = 48;
  const int rank[2] = {24, 40}, lat_off[2] = {0, 24}, k_width = 64;
  std::vector<float> inv_freq(hd / 2);
  for (int i = 0; i < hd / 2; ++i) inv_freq[i] = static_cast<float>(std::pow(10000.0, -2.0 * i / hd));
  for (const RopeLayout layout : {RopeLayout::kHalfSplit, RopeLayout::kInterleaved}) {
    for (DType t : {DType::kF32, DType::kBF16}) {
      for (int rows : {1, 5, 11}) {
        const auto x = test::randn(size_t(rows) * kvd, 31 + rows), x2 = test::randn(size_t(rows) * qd, 32 + rows);
        const auto mean = test::randn(kvd, 33, 0.3f), cv = test::randn(size_t(rows) * vw, 34 + rows);
        std::vector<float> P[2] = {test::randn(size_t(rank[0]) * 2 * hd, 35, 0.2f),
                                   test::randn(size_t(rank[1]) * 2 * hd, 36, 0.2f)};
        std::vector<int> pos(rows), seq(rows);
        for (int r = 0; r < rows; ++r) {
          seq[r] = r % 2;
          pos[r] = 2990 + 7 * r;
        }
        std::vector<uint8_t> pb[2] = {test::to_dtype(P[0], t), test::to_dtype(P[1], t)};
        for (int g = 0; g < 2; ++g) load_row(pb[g].data(), t, P[g].data(), static_cast<int64_t>(P[g].size()));
        // Reference inputs: ref::rope in fp64 angles, then minus the mean on the key side.
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
        auto dx = DeviceBuffer::from_host(x);
        auto dx2 = DeviceBuffer::from_host(x2);
        auto dmean = DeviceBuffer::from_host(mean);
        auto dcv = DeviceBuffer::from_host(cv);
        auto dpos = DeviceBuffer::from_host(pos);
        auto dseq = DeviceBuffer::from_host(seq);
        auto dfreq = DeviceBuffer::from_host(inv_freq);
        auto dp0 = DeviceBuffer::from_host(pb[0]);
        auto dp1 = DeviceBuffer::from_host(pb[1]);
        const std::vector<uint16_t> poison_k(size_t(2) * cap * k_width, 0x7FC0), poison_v(size_t(2) * cap * vw, 0x7FC0);
        auto dkc = DeviceBuffer::from_host(poison_k);
        auto dvc = DeviceBuffer::from_host(poison_v);
        auto dy = DeviceBuffer::from_host(std::vector<float>(size_t(rows) * k_width, NAN));
        auto dy2 = DeviceBuffer::from_host(std::vector<float>(size_t(rows) * 256, NAN));
        ASSERT_TRUE(dx.ok() && dx2.ok() && dmean.ok() && dcv.ok() && dpos.ok() && dseq.ok() && dfreq.ok() &&
                    dp0.ok() && dp1.ok() && dkc.ok() && dvc.ok() && dy.ok() && dy2.ok());
        cuda::SegmentProjectParams p;
        p.x = dx->as<float>();
        p.ldx = kvd;
        p.rows = rows;
        p.y = dy->as<float>();
        p.ldy = k_width;
        p.x2 = dx2->as<float>();
        p.ldx2 = qd;
        p.y2 = dy2->as<float>();
        p.ldy2 = 256;
        p.w_type = t;
        const void* pw[2] = {dp0->data(), dp1->data()};
        struct RefSeg {
          int g, col0, in, x_off, y_off, pair;
        };
        std::vector<RefSeg> segs;
        for (int g = 0; g < 2; ++g) segs.push_back({g, 0, 2 * hd, 2 * hd * g, lat_off[g], 0});
        for (int h = 0, y2_off = 0; h < n_q; ++h) {
          const int g = h / 4, col0 = ((h / 2) - 2 * g) * hd;  // q head h reads KV head h / 2
          segs.push_back({g, col0, hd, h * hd, y2_off, 1});
          y2_off += rank[g];
        }
        p.n_seg = static_cast<int>(segs.size());
        for (int s = 0; s < p.n_seg; ++s) {
          const RefSeg& g = segs[s];
          p.w[s] = static_cast<const char*>(pw[g.g]) + dtype_bytes(t, g.col0);
          p.ldw[s] = 2 * hd;
          p.in_len[s] = g.in;
          p.out_len[s] = rank[g.g];
          p.x_off[s] = g.x_off;
          p.y_off[s] = g.y_off;
          p.pair[s] = static_cast<uint8_t>(g.pair);
        }
        p.rope.pos = dpos->as<int>();
        p.rope.inv_freq = dfreq->as<float>();
        p.rope.x_mean = dmean->as<float>();
        p.rope.head_dim = hd;
        p.rope.half_split = layout == RopeLayout::kHalfSplit;
        auto cache = [&](const float* src, int width, void* dst) {
          cuda::CacheWriteParams c;
          c.src = src;
          c.ld_src = width;
          c.rows = rows;
          c.width = width;
          c.dst = dst;
          c.type = DType::kBF16;
          c.seq = dseq->as<int>();
          c.pos = dpos->as<int>();
          c.seq_stride = int64_t{cap} * width;
          c.row_stride = c.seg = width;
          return c;
        };
        p.y_cache = cache(nullptr, k_width, dkc->data());
        p.v_cache = cache(dcv->as<float>(), vw, dvc->data());
        LRKV_ASSERT_OK(cuda::segment_project(p, nullptr));
        std::vector<float> y(size_t(rows) * k_width), y2(size_t(rows) * 256);
        LRKV_ASSERT_OK(dy->download(y.data(), y.size() * sizeof(float)));
        LRKV_ASSERT_OK(dy2->download(y2.data(), y2.size() * sizeof(float)));
        double worst = 0.0;
        for (const RefSeg& g : segs) {
          for (int r = 0; r < rows; ++r) {
            for (int j = 0; j < rank[g.g]; ++j) {
              const float* xs = g.pair ? &x2r[size_t(r) * qd + g.x_off] : &xr[size_t(r) * kvd + g.x_off];
              const float* w = &P[g.g][size_t(j) * 2 * hd + g.col0];
              double acc = 0.0;
              for (int i = 0; i < g.in; ++i) acc += double(xs[i]) * w[i];
              const float got = g.pair ? y2[size_t(r) * 256 + g.y_off + j] : y[size_t(r) * k_width + g.y_off + j];
              ASSERT_TRUE(std::isfinite(got)) << "row " << r << " segment output " << j;
              worst = std::max(worst, std::fabs(got - acc) / (1.0 + std::fabs(acc)));
            }
          }
        }
        // f32 sums of ≤ 128 products plus the rotation's f32 rounding and the device's angle
        // reduction (~1e-6 absolute at these positions): ≪ 1e-4.
        EXPECT_LT(worst, 1e-4) << dtype_name(t) << " rows " << rows;
        // Caches: exactly the bf16 roundings of the outputs / of cv at (seq, pos), nothing else.
        std::vector<uint16_t> kc(poison_k.size()), vc(poison_v.size());
        LRKV_ASSERT_OK(dkc->download(kc.data(), kc.size() * 2));
        LRKV_ASSERT_OK(dvc->download(vc.data(), vc.size() * 2));
        size_t k_written = 0, v_written = 0, k_wrong = 0, v_wrong = 0;
        for (uint16_t b : kc) k_written += b != 0x7FC0;
        for (uint16_t b : vc) v_written += b != 0x7FC0;
        for (int r = 0; r < rows; ++r) {
          const size_t row = (size_t(seq[r]) * cap + pos[r]);
          for (int c = 0; c < k_width; ++c) {
            uint16_t want;
            store_row(&want, DType::kBF16, &y[size_t(r) * k_width + c], 1);
            k_wrong += kc[row * k_width + c] != want;
          }
          for (int c = 0; c < vw; ++c) {
            uint16_t want;
            store_row(&want, DType::kBF16, &cv[size_t(r) * vw + c], 1);
            v_wrong += vc[row * vw + c] != want;
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
