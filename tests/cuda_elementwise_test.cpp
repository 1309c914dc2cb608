// The CUDA RMSNorm (kernels/cuda/elementwise.h) against an fp64 scalar reference: the float4
// register path (cols % 4 == 0, up to 4096 values, aligned rows) and the generic loop (odd
// widths, wider rows, unaligned rows), strided rows, in place (y aliasing x) and not.
#ifdef LRKV_HAVE_CUDA

#include <cmath>

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

}  // namespace
}  // namespace lrkv

#endif  // LRKV_HAVE_CUDA
