#include "kernels/hadamard.h"

#include <cmath>
#include <vector>

#include "core/status.h"

namespace lrkv {

std::vector<int64_t> hadamard_blocks(int64_t n) {
  std::vector<int64_t> b;
  for (int bit = 62; bit >= 0; --bit) {
    if (n & (int64_t{1} << bit)) b.push_back(int64_t{1} << bit);
  }
  return b;
}

namespace {
// Unnormalised Sylvester butterflies on a power-of-two block, then the 1/sqrt(n) scale.
void fwht_block(float* x, int64_t n) {
  for (int64_t h = 1; h < n; h <<= 1) {
    for (int64_t i = 0; i < n; i += 2 * h) {
      for (int64_t j = i; j < i + h; ++j) {
        const float a = x[j], b = x[j + h];
        x[j] = a + b;
        x[j + h] = a - b;
      }
    }
  }
  const float s = static_cast<float>(1.0 / std::sqrt(static_cast<double>(n)));
  for (int64_t i = 0; i < n; ++i) x[i] *= s;
}
}  // namespace

void hadamard_transform(float* x, int64_t n) {
  LRKV_CHECK(n >= 1, "hadamard of size {}", n);
  for (int64_t b : hadamard_blocks(n)) {
    fwht_block(x, b);
    x += b;
  }
}

void hadamard_rotate_rows(float* m, int64_t rows, int64_t n, int64_t ld) {
  for (int64_t i = 0; i < rows; ++i) hadamard_transform(m + i * ld, n);
}

void hadamard_rotate_cols(float* m, int64_t n, int64_t cols, int64_t ld) {
  std::vector<float> col(n);
  for (int64_t j = 0; j < cols; ++j) {
    for (int64_t i = 0; i < n; ++i) col[i] = m[i * ld + j];
    hadamard_transform(col.data(), n);
    for (int64_t i = 0; i < n; ++i) m[i * ld + j] = col[i];
  }
}

void fold_hadamard(float* down, int64_t ld_down, int64_t r, int64_t d, float* down_bias, float* up,
                   int64_t ld_up, int64_t up_rows) {
  if (down) hadamard_rotate_cols(down, r, d, ld_down);  // Hᵀ = H
  if (down_bias) hadamard_transform(down_bias, r);
  if (up) hadamard_rotate_rows(up, up_rows, r, ld_up);
}

}  // namespace lrkv
