// segment_project (kernels/cuda/segment_project.h) against an fp64 reference over the weights
// rounded to their type: awkward lengths and offsets, shared and distinct weight matrices with row
// offsets (the query-absorption pattern), 1..37 rows (several row tiles), f32/f16/bf16 weights;
// columns outside the segments must stay untouched.
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
};

TEST(CudaSegmentProject, MatchesFp64Reference) {
  LRKV_REQUIRE_CUDA();
  // Two "groups" of weights [rank, ld]; segments read row slices of them (head pattern) or
  // whole rows (group pattern), plus one long segment of 1000 inputs.
  const std::vector<Seg> segs = {{0, 200, 64, 32, 0, 0},     {64, 200, 64, 32, 64, 40},  {128, 200, 72, 32, 128, 80},
                                 {6400, 96, 96, 17, 200, 120}, {6400, 96, 33, 5, 300, 140}, {9000, 1000, 1000, 3, 333, 150}};
  const int ldx = 1400, ldy = 160, n_w = 9000 + 3 * 1000;
  for (DType t : {DType::kF32, DType::kF16, DType::kBF16}) {
    for (int rows : {1, 8, 37}) {
      const auto x = test::randn(size_t(rows) * ldx, 5 + rows);
      auto w = test::randn(n_w, 9, 0.2f);
      const auto wbytes = test::to_dtype(w, t);
      std::vector<float> wr(n_w);  // the weights as the kernel sees them
      load_row(wbytes.data(), t, wr.data(), n_w);
      cuda::SegmentProjectParams p;
      auto dx = DeviceBuffer::from_host(x);
      auto dw = DeviceBuffer::from_host(wbytes);
      std::vector<float> poison(size_t(rows) * ldy, NAN);
      auto dy = DeviceBuffer::from_host(poison);
      ASSERT_TRUE(dx.ok() && dw.ok() && dy.ok());
      p.x = dx->as<float>();
      p.ldx = ldx;
      p.rows = rows;
      p.y = dy->as<float>();
      p.ldy = ldy;
      p.w_type = t;
      p.n_seg = static_cast<int>(segs.size());
      std::vector<float> ref(size_t(rows) * ldy, NAN);
      for (int s = 0; s < p.n_seg; ++s) {
        const Seg& g = segs[s];
        p.w[s] = static_cast<const char*>(dw->data()) + dtype_bytes(t, g.w_off);
        p.ldw[s] = g.ldw;
        p.in_len[s] = g.in;
        p.out_len[s] = g.out;
        p.x_off[s] = g.x_off;
        p.y_off[s] = g.y_off;
        for (int r = 0; r < rows; ++r) {
          for (int j = 0; j < g.out; ++j) {
            double acc = 0.0;
            for (int i = 0; i < g.in; ++i) acc += double(x[size_t(r) * ldx + g.x_off + i]) * wr[g.w_off + size_t(j) * g.ldw + i];
            ref[size_t(r) * ldy + g.y_off + j] = static_cast<float>(acc);
          }
        }
      }
      LRKV_ASSERT_OK(cuda::segment_project(p, nullptr));
      std::vector<float> y(ref.size());
      LRKV_ASSERT_OK(dy->download(y.data(), y.size() * sizeof(float)));
      double worst = 0.0;
      size_t untouched_written = 0;
      for (size_t i = 0; i < y.size(); ++i) {
        if (std::isnan(ref[i])) {
          untouched_written += !std::isnan(y[i]);
          continue;
        }
        ASSERT_TRUE(std::isfinite(y[i])) << "row-col " << i << " " << dtype_name(t);
        worst = std::max(worst, std::fabs(double(y[i]) - ref[i]) / (1.0 + std::fabs(ref[i])));
      }
      EXPECT_EQ(untouched_written, 0u);
      // f32 accumulation of ≤ 1000 products of O(1) terms: |err| ≲ n·2⁻²⁴·Σ|x w| ≪ 1e-4.
      EXPECT_LT(worst, 1e-4) << dtype_name(t) << " rows " << rows;
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
  p.w_type = DType::kQ8_0;
  EXPECT_FALSE(cuda::segment_project(p, nullptr).ok());
}

}  // namespace
}  // namespace lrkv

#endif  // LRKV_HAVE_CUDA
