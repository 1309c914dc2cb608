// Rotary position embedding, in place, for `rows` tokens of n_heads heads of size head_dim.
// For pair i (frequency inv_freq[i]) at position p with angle a = p * inv_freq[i]:
//   (x0, x1) <- (x0 cos a - x1 sin a, x0 sin a + x1 cos a)
// where (x0, x1) = (x[2i], x[2i+1]) interleaved, or (x[i], x[i + head_dim/2]) half-split.
#pragma once

#include <cstdint>

#include "kernels/rope_layout.h"

namespace lrkv {

struct RopeParams {
  float* x = nullptr;  // [rows, n_heads*head_dim], row stride ld
  int64_t rows = 0, ld = 0;
  int n_heads = 0, head_dim = 0;
  const int* positions = nullptr;    // [rows]
  const float* inv_freq = nullptr;   // [head_dim/2]
  RopeLayout layout = RopeLayout::kInterleaved;
  bool inverse = false;              // rotate by -a (undo RoPE)
};

namespace ref { void rope(const RopeParams& p); }
namespace cpu { void rope(const RopeParams& p); }

}  // namespace lrkv
