// Row-wise log-probabilities of logits, normalised in double:
//   log_softmax(x)_i = x_i - logsumexp(x),  token_nll(x, t) = logsumexp(x) - x_t.
#pragma once

#include <cstdint>

namespace lrkv {

// out[i] = x[i] - logsumexp(x[0..n)).
void log_softmax(const float* x, int64_t n, float* out);
// -log softmax(x)[target].
double token_nll(const float* x, int64_t n, int target);

}  // namespace lrkv
