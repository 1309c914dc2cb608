#include "kernels/hadamard.h"

#include <cmath>

namespace lrkv::ref {

std::vector<double> hadamard_matrix(int64_t n) {
  std::vector<double> h(n * n, 0.0);
  int64_t off = 0;
  for (int64_t b : hadamard_blocks(n)) {
    const double s = 1.0 / std::sqrt(static_cast<double>(b));
    for (int64_t i = 0; i < b; ++i) {
      for (int64_t j = 0; j < b; ++j) {
        h[(off + i) * n + off + j] = (__builtin_popcountll(i & j) % 2 ? -s : s);
      }
    }
    off += b;
  }
  return h;
}

}  // namespace lrkv::ref
