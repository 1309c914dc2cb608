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

 private:
  SamplerOptions o_;
  std::mt19937_64 rng_;
  std::vector<std::pair<float, int>> cand_;
};

}  // namespace lrkv
