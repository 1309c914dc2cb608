// Helpers of the CUDA tests (compiled only with LRKV_HAVE_CUDA): device skip,
// dtype rounding, relative error ‖out − ref‖ / ‖ref‖ with the worst element.
#pragma once

#ifdef LRKV_HAVE_CUDA

#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <string>
#include <vector>

#include "backend/cuda/device_buffer.h"
#include "kernels/cuda/cuda_status.h"
#include "kernels/elem.h"
#include "test_util.h"

#define LRKV_REQUIRE_CUDA()                                                        \
  do {                                                                             \
    std::string lrkv_why_;                                                         \
    if (!::lrkv::cuda::device_available(&lrkv_why_)) GTEST_SKIP() << "no CUDA device: " << lrkv_why_; \
  } while (0)

#define LRKV_ASSERT_OK(expr)                                    \
  do {                                                          \
    const ::lrkv::Status lrkv_s_ = (expr);                      \
    ASSERT_TRUE(lrkv_s_.ok()) << lrkv_s_.to_string();           \
  } while (0)

namespace lrkv::test {

// `v` stored as dtype t (rounded), as raw bytes.
inline std::vector<uint8_t> to_dtype(const std::vector<float>& v, DType t) {
  std::vector<uint8_t> out(dtype_bytes(t, static_cast<int64_t>(v.size())));
  store_row(out.data(), t, v.data(), static_cast<int64_t>(v.size()));
  return out;
}

struct RelErr {
  double rel = 0.0;        // ‖out − ref‖ / ‖ref‖
  double worst = 0.0;      // largest |out − ref|
  size_t worst_at = 0;
  size_t non_finite = 0;   // NaN/inf outputs (unwritten poison)
};

inline RelErr rel_err(const std::vector<float>& out, const std::vector<float>& ref) {
  RelErr e;
  double num = 0.0, den = 0.0;
  for (size_t i = 0; i < ref.size(); ++i) {
    if (!std::isfinite(out[i])) {
      ++e.non_finite;
      continue;
    }
    const double d = static_cast<double>(out[i]) - ref[i];
    num += d * d;
    den += static_cast<double>(ref[i]) * ref[i];
    if (std::fabs(d) > e.worst) {
      e.worst = std::fabs(d);
      e.worst_at = i;
    }
  }
  e.rel = std::sqrt(num / (den > 0 ? den : 1.0));
  return e;
}

// bf16 ~1e-2, f16 ~1e-3 (operands rounded to the type, f32 accumulation).
inline double tolerance(DType t) { return t == DType::kBF16 ? 1e-2 : 2e-3; }

inline std::string describe(const RelErr& e, const std::vector<float>& out, const std::vector<float>& ref) {
  return "rel err " + std::to_string(e.rel) + ", worst |diff| " + std::to_string(e.worst) + " at " +
         std::to_string(e.worst_at) + " (out " + std::to_string(out[e.worst_at]) + ", ref " +
         std::to_string(ref[e.worst_at]) + "), non-finite " + std::to_string(e.non_finite);
}

}  // namespace lrkv::test

#endif  // LRKV_HAVE_CUDA
