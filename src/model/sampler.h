// Next-token sampling: greedy (temperature 0) or temperature + top-k + top-p (nucleus), seeded.
#pragma once

#include <cstdint>
#include <random>
#include <vector>

namespace lrkv {

struct SamplerOptions {
  float temperature = 0.0f;  // 0 = greedy (argmax)
  int top_k = 40;            // 0 = no top-k cut
  float top_p = 0.95f;       // 1 = no nucleus cut
  uint64_t seed = 42;
};

class Sampler {
 public:
  explicit Sampler(SamplerOptions o) : o_(o), rng_(o.seed) {}
  // Picks a token from logits[n].
  int sample(const float* logits, int n);
  // The top-k logits of a row, sorted descending as (logit, token) — what sample() keeps after
  // its partial sort (e.g. selected on the GPU): applies temperature, top-p and the draw exactly
  // as sample() does. Needs temperature > 0 and a non-empty list.
  int sample_candidates(const std::vector<std::pair<float, int>>& sorted_top_k);
  // The k sample() keeps for a vocabulary of n (0 = greedy).
  int candidates_for(int n) const {
    if (o_.temperature <= 0.0f) return 0;
    return (o_.top_k > 0 && o_.top_k < n) ? o_.top_k : n;
  }
  const SamplerOptions& options() const { return o_; }

 private:
  SamplerOptions o_;
  std::mt19937_64 rng_;
  std::vector<std::pair<float, int>> cand_;
};

}  // namespace lrkv
