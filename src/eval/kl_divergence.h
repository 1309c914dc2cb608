// KL(base || model) of next-token distributions, accumulated over scored tokens, with the
// statistics llama-perplexity's KL mode reports: mean KL (± stderr), 99th percentile, max,
// top-1 agreement, and both models' perplexities on the same targets.
#pragma once

#include <cstdint>
#include <vector>

namespace lrkv {

struct KlStats {
  int64_t n = 0;
  double mean_kl = 0.0, kl_stderr = 0.0, kl_p99 = 0.0, kl_max = 0.0;
  double top1_agreement = 0.0;   // fraction of tokens where both argmaxes coincide
  double base_ppl = 0.0, model_ppl = 0.0;
};

class KlAccumulator {
 public:
  // base_logprobs: log-probabilities of the base model [n_vocab]; logits: the model's raw logits.
  void add(const float* base_logprobs, const float* logits, int64_t n_vocab, int target);
  KlStats stats() const;

 private:
  std::vector<double> kl_;
  double base_nll_ = 0.0, model_nll_ = 0.0;
  int64_t agree_ = 0;
  std::vector<float> lp_;
};

}  // namespace lrkv
