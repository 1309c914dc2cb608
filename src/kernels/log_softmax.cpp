#include "kernels/log_softmax.h"

#include <algorithm>
#include <cmath>

namespace lrkv {

void log_softmax(const float* x, int64_t n, float* out) {
  const float mx = *std::max_element(x, x + n);
  double sum = 0.0;
  for (int64_t i = 0; i < n; ++i) sum += std::exp(static_cast<double>(x[i]) - mx);
  const double lse = mx + std::log(sum);
  for (int64_t i = 0; i < n; ++i) out[i] = static_cast<float>(x[i] - lse);
}

double token_nll(const float* x, int64_t n, int target) {
  const float mx = *std::max_element(x, x + n);
  double sum = 0.0;
  for (int64_t i = 0; i < n; ++i) sum += std::exp(static_cast<double>(x[i]) - mx);
  return mx + std::log(sum) - x[target];
}

}  // namespace lrkv
