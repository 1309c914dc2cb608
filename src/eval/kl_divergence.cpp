#include "eval/kl_divergence.h"

#include <algorithm>
#include <cmath>

#include "eval/perplexity.h"

namespace lrkv {

void KlAccumulator::add(const float* base_lp, const float* logits, int64_t n, int target) {
  lp_.resize(n);
  log_softmax(logits, n, lp_.data());
  // KL(P||Q) = sum_i p_i (log p_i - log q_i); the base's f16 log-probs are renormalised in double
  // so the rounding of the stored values cannot make KL negative by more than rounding.
  double z = 0.0;
  for (int64_t i = 0; i < n; ++i) z += std::exp(static_cast<double>(base_lp[i]));
  const double log_z = std::log(z);
  double kl = 0.0;
  for (int64_t i = 0; i < n; ++i) {
    const double lp = base_lp[i] - log_z;
    kl += std::exp(lp) * (lp - lp_[i]);
  }
  kl_.push_back(std::max(0.0, kl));
  base_nll_ -= base_lp[target] - log_z;
  model_nll_ -= lp_[target];
  const int64_t a = std::max_element(base_lp, base_lp + n) - base_lp;
  const int64_t b = std::max_element(lp_.begin(), lp_.end()) - lp_.begin();
  agree_ += a == b;
}

KlStats KlAccumulator::stats() const {
  KlStats s;
  s.n = static_cast<int64_t>(kl_.size());
  if (s.n == 0) return s;
  double sum = 0.0, sq = 0.0;
  for (double v : kl_) {
    sum += v;
    sq += v * v;
  }
  s.mean_kl = sum / s.n;
  s.kl_stderr = std::sqrt(std::max(0.0, sq / s.n - s.mean_kl * s.mean_kl) / s.n);
  std::vector<double> sorted = kl_;
  std::sort(sorted.begin(), sorted.end());
  s.kl_p99 = sorted[std::min<size_t>(sorted.size() - 1, static_cast<size_t>(0.99 * sorted.size()))];
  s.kl_max = sorted.back();
  s.top1_agreement = static_cast<double>(agree_) / s.n;
  s.base_ppl = std::exp(base_nll_ / s.n);
  s.model_ppl = std::exp(model_nll_ / s.n);
  return s;
}

}  // namespace lrkv
