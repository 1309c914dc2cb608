// segment_project (kernels/cuda/segment_project.h) against an fp64 reference over the weights
// rounded to their type: awkward lengths and offsets, shared and distinct weight matrices with row
// offsets (the query-absorption pattern), 1..37 rows (several row tiles), f32/f16/bf16 weights,
// segments on a second input/output pair; columns outside the segments must stay untouched.
#ifdef LRKV_HAVE_CUDA

#include <cmath>
#include <cstring>

#include "cuda_test_util.h"
#include "kernels/cuda/segment_project.h"

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
  p.w_type = DType::kQ8_0;
  EXPECT_FALSE(cuda::segment_project(p, nullptr).ok());
}

}  // namespace
}  // namespace lrkv

#endif  // LRKV_HAVE_CUDA
