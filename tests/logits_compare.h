// Helpers of the engine comparison tests: deterministic token ids and the worst logits row error
// of one engine's output against another's.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <vector>

namespace lrkv::test {

// n token ids in [3, n_vocab), a fixed function of (i, seed).
inline std::vector<int> tokens(int n, int seed, int n_vocab) {
  std::vector<int> t(n);
  for (int i = 0; i < n; ++i) t[i] = 3 + (i * 7919 + seed * 104729) % (n_vocab - 3);
  return t;
}

// max over rows of max_i |a - ref| / max_i |ref| (rows of n_vocab logits); a non-finite value in
// `a` or a size mismatch gives infinity.
inline double worst_row_error(const std::vector<float>& a, const std::vector<float>& ref, int64_t n_vocab) {
  if (a.size() != ref.size()) return INFINITY;
  double worst = 0.0;
  for (size_t r = 0; r * n_vocab < ref.size(); ++r) {
    double diff = 0.0, mag = 0.0;
    for (int64_t i = 0; i < n_vocab; ++i) {
      const double x = a[r * n_vocab + i], y = ref[r * n_vocab + i];
      diff = std::max(diff, std::isfinite(x) ? std::fabs(x - y) : INFINITY);
      mag = std::max(mag, std::fabs(y));
    }
    worst = std::max(worst, diff / std::max(mag, 1e-30));
  }
  return worst;
}

}  // namespace lrkv::test
