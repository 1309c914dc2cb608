// y[r, :] = x[r, :] / sqrt(mean(x[r, :]^2) + eps) * weight  (Llama RMSNorm). y may alias x.
#pragma once

#include <cstdint>

namespace lrkv {

struct RmsNormParams {
  const float* x = nullptr;       // [rows, cols], row stride ld
  const float* weight = nullptr;  // [cols]
  float* y = nullptr;             // [rows, cols], row stride ld
  int64_t rows = 0, cols = 0, ld = 0;
  float eps = 1e-5f;
};

namespace ref { void rmsnorm(const RmsNormParams& p); }
namespace cpu { void rmsnorm(const RmsNormParams& p); }

}  // namespace lrkv
