// CublasGemm (backend/cuda/cublas_gemm.h): the row threshold between f32-faithful inputs and
// inputs rounded for the tensor cores, against fp64 references.
//   m <= exact_rows:  16-bit W: hi + lo split, |y - x·Wᵀ| <= 2^-14 Σ|x||w| (bf16 lo keeps 16 bits);
//                     f32 W: f32 GEMM, same bound.
//   m >  exact_rows:  16-bit W: y equals round(x)·Wᵀ (x rounded to W's type on the host) to the
//                     same 2^-14 bound, and is several times closer to it than to x·Wᵀ (the
//                     inputs were rounded; below the threshold it is the other way round);
//                     f32 W: TF32, |y - x·Wᵀ| <= 2^-9 Σ|x||w| (both sides rounded to 2^-11).
#ifdef LRKV_HAVE_CUDA

#include <cmath>
#include <cstdint>

#include "backend/cuda/cublas_gemm.h"
#include "backend/cuda/device_pool.h"
#include "cuda_test_util.h"
#include "kernels/matmul.h"

namespace lrkv {
namespace {

using cuda::DeviceBuffer;

struct Errors {
  double vs_exact = 0.0, vs_rounded = 0.0;  // worst |y - ref| / Σ|x||w| of the output
};

// y = x Wᵀ on the GPU (threshold `exact_rows`) and the worst errors against fp64 references over
// f32 x and over x rounded to W's type.
Errors run(DType t, int64_t m, int64_t exact_rows, int64_t k = 520) {
  const int64_t n = 72;
  const auto x = test::randn(size_t(m) * k, 11 + static_cast<int>(m));
  const auto w = test::randn(size_t(n) * k, 5, 0.05f);
  const auto wbytes = test::to_dtype(w, t);
  std::vector<float> wr(w.size()), xr(x.size());
  load_row(wbytes.data(), t, wr.data(), static_cast<int64_t>(w.size()));  // W as stored
  const DType xt = t == DType::kF32 ? DType::kF32 : t;
  const auto xbytes = test::to_dtype(x, xt);
  load_row(xbytes.data(), xt, xr.data(), static_cast<int64_t>(x.size()));  // x rounded to W's type
  cuda::DevicePool pool;
  auto gemm = cuda::CublasGemm::create(nullptr, &pool, exact_rows);
  EXPECT_TRUE(gemm.ok()) << gemm.status().to_string();
  auto dx = DeviceBuffer::from_host(x);
  auto dw = DeviceBuffer::from_host(wbytes);
  auto dy = DeviceBuffer::from_host(std::vector<float>(size_t(m) * n, 0.0f));
  EXPECT_TRUE(dx.ok() && dw.ok() && dy.ok());
  MatmulParams p;
  p.x = dx->as<float>();
  p.ldx = k;
  p.w = dw->data();
  p.ldw = k;
  p.w_type = t;
  p.y = dy->as<float>();
  p.ldy = n;
  p.m = m;
  p.n = n;
  p.k = k;
  const Status s = (*gemm)->matmul(p);
  EXPECT_TRUE(s.ok()) << s.to_string();
  EXPECT_EQ(cudaDeviceSynchronize(), cudaSuccess);
  std::vector<float> y(size_t(m) * n);
  EXPECT_TRUE(dy->download(y.data(), y.size() * sizeof(float)).ok());
  Errors e;
  for (int64_t i = 0; i < m; ++i) {
    for (int64_t j = 0; j < n; ++j) {
      double exact = 0.0, rounded = 0.0, mag = 0.0;
      for (int64_t c = 0; c < k; ++c) {
        const double wv = wr[j * k + c];
        exact += double{x[i * k + c]} * wv;
        rounded += double{xr[i * k + c]} * wv;
        mag += std::fabs(double{x[i * k + c]} * wv);
      }
      const double got = y[i * n + j];
      e.vs_exact = std::max(e.vs_exact, std::fabs(got - exact) / mag);
      e.vs_rounded = std::max(e.vs_rounded, std::fabs(got - rounded) / mag);
    }
  }
  return e;
}

TEST(CudaGemm, ExactInputsUpToTheRowThresholdRoundedAbove) {
  LRKV_REQUIRE_CUDA();
  const double kExact = std::ldexp(1.0, -14);
  for (DType t : {DType::kF16, DType::kBF16, DType::kF32}) {
    for (int64_t m : {9, 64}) {  // at or below the threshold
      const Errors e = run(t, m, 64);
      EXPECT_LE(e.vs_exact, kExact) << dtype_name(t) << " m " << m;
      if (t != DType::kF32) EXPECT_LT(4 * e.vs_exact, e.vs_rounded) << dtype_name(t) << " m " << m << ": rounded";
    }
    for (int64_t m : {65, 300}) {  // above it
      const Errors e = run(t, m, 64);
      if (t == DType::kF32) {
        EXPECT_LE(e.vs_exact, std::ldexp(1.0, -9)) << "tf32, m " << m;
      } else {
        EXPECT_LE(e.vs_rounded, kExact) << dtype_name(t) << " m " << m;
        EXPECT_LT(4 * e.vs_rounded, e.vs_exact) << dtype_name(t) << " m " << m << ": inputs were not rounded";
      }
    }
    // k = 517: rows not 16-byte aligned, so the input conversion takes its element-wise path.
    if (t != DType::kF32) {
      const Errors e = run(t, 70, 64, 517);
      EXPECT_LE(e.vs_rounded, kExact) << dtype_name(t) << " k 517";
      EXPECT_LT(4 * e.vs_rounded, e.vs_exact) << dtype_name(t) << " k 517: inputs were not rounded";
    }
    // kAllRows keeps every size exact; 0 rounds every size.
    EXPECT_LE(run(t, 300, INT64_MAX).vs_exact, kExact) << dtype_name(t);
    if (t != DType::kF32) EXPECT_LE(run(t, 9, 0).vs_rounded, kExact) << dtype_name(t);
  }
}

// matmul_stacked (one input conversion, outputs over consecutive row ranges of W, one of them
// accumulating) gives each output exactly what matmul gives it alone.
TEST(CudaGemm, StackedOutputsEqualSeparateGemms) {
  LRKV_REQUIRE_CUDA();
  const int64_t k = 264, n0 = 40, n1 = 24, n2 = 56, n = n0 + n1 + n2;
  for (DType t : {DType::kF16, DType::kBF16, DType::kF32}) {
    for (int64_t m : {20, 200}) {  // exact (split) and rounded inputs
      const auto x = test::randn(size_t(m) * k, 3);
      const auto w = test::to_dtype(test::randn(size_t(n) * k, 4, 0.05f), t);
      const auto init = test::randn(size_t(m) * n1, 5);
      cuda::DevicePool pool;
      auto gemm = cuda::CublasGemm::create(nullptr, &pool, 64);
      ASSERT_TRUE(gemm.ok());
      auto dx = DeviceBuffer::from_host(x);
      auto dw = DeviceBuffer::from_host(w);
      ASSERT_TRUE(dx.ok() && dw.ok());
      std::vector<std::vector<float>> got(2);
      for (int pass = 0; pass < 2; ++pass) {  // 0: stacked, 1: one matmul per output
        auto y0 = DeviceBuffer::from_host(std::vector<float>(size_t(m) * n0, 0.0f));
        auto y1 = DeviceBuffer::from_host(init);
        auto y2 = DeviceBuffer::from_host(std::vector<float>(size_t(m) * (n2 + 3), 0.0f));
        ASSERT_TRUE(y0.ok() && y1.ok() && y2.ok());
        MatmulParams p;
        p.x = dx->as<float>();
        p.ldx = k;
        p.w = dw->data();
        p.ldw = k;
        p.w_type = t;
        p.m = m;
        p.k = k;
        const std::vector<cuda::CublasGemm::Output> outs = {
            {y0->as<float>(), n0, n0, false}, {y1->as<float>(), n1, n1, true}, {y2->as<float>(), n2 + 3, n2, false}};
        if (pass == 0) {
          LRKV_ASSERT_OK((*gemm)->matmul_stacked(p, outs));
        } else {
          int64_t row0 = 0;
          for (const auto& o : outs) {
            MatmulParams q = p;
            q.w = static_cast<const char*>(p.w) + dtype_bytes(t, row0 * k);
            q.y = o.y;
            q.ldy = o.ldy;
            q.n = o.n;
            q.accumulate = o.accumulate;
            LRKV_ASSERT_OK((*gemm)->matmul(q));
            row0 += o.n;
          }
        }
        ASSERT_EQ(cudaDeviceSynchronize(), cudaSuccess);
        for (DeviceBuffer* b : {&*y0, &*y1, &*y2}) {
          std::vector<float> h(b->bytes() / sizeof(float));
          LRKV_ASSERT_OK(b->download(h.data(), b->bytes()));
          got[pass].insert(got[pass].end(), h.begin(), h.end());
        }
      }
      EXPECT_TRUE(got[0] == got[1]) << dtype_name(t) << " m " << m;
    }
  }
}

}  // namespace
}  // namespace lrkv

#endif  // LRKV_HAVE_CUDA
