#include "model/sampler.h"

#include <algorithm>
#include <cmath>

namespace lrkv {

int Sampler::sample(const float* logits, int n) {
  if (o_.temperature <= 0.0f) return static_cast<int>(std::max_element(logits, logits + n) - logits);
  cand_.resize(n);
  for (int i = 0; i < n; ++i) cand_[i] = {logits[i], i};
  const int k = candidates_for(n);
  std::partial_sort(cand_.begin(), cand_.begin() + k, cand_.end(),
                    [](const auto& a, const auto& b) { return a.first > b.first; });
  cand_.resize(k);
  return sample_candidates(cand_);
}

int Sampler::sample_candidates(const std::vector<std::pair<float, int>>& cand) {
  const int k = static_cast<int>(cand.size());
  // Softmax of logit / temperature over the kept candidates, then the smallest prefix with mass
  // >= top_p.
  const float mx = cand[0].first / o_.temperature;
  double total = 0.0;
  std::vector<double> p(k);
  for (int i = 0; i < k; ++i) {
    total += (p[i] = std::exp(static_cast<double>(cand[i].first / o_.temperature) - mx));
  }
  int keep = k;
  if (o_.top_p < 1.0f) {
    double acc = 0.0;
    for (int i = 0; i < k; ++i) {
      acc += p[i] / total;
      if (acc >= o_.top_p) {
        keep = i + 1;
        break;
      }
    }
  }
  double mass = 0.0;
  for (int i = 0; i < keep; ++i) mass += p[i];
  std::uniform_real_distribution<double> u(0.0, mass);
  double r = u(rng_);
  for (int i = 0; i < keep; ++i) {
    if ((r -= p[i]) <= 0.0) return cand[i].second;
  }
  return cand[keep - 1].second;
}

}  // namespace lrkv
