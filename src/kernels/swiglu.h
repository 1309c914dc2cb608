// h[r, j] = silu(gate[r, j]) * up[r, j], silu(g) = g / (1 + exp(-g)). h may alias gate.
#pragma once

#include <cstdint>

namespace lrkv {

struct SwigluParams {
  const float* gate = nullptr;  // [rows, cols], row stride ld
  const float* up = nullptr;
  float* out = nullptr;
  int64_t rows = 0, cols = 0, ld = 0;
};

namespace ref { void swiglu(const SwigluParams& p); }
namespace cpu { void swiglu(const SwigluParams& p); }

}  // namespace lrkv
