// MatryoshkaKV's budget search: start from full rank and repeatedly lower the (layer, group,
// K|V) rank whose step costs the least KL divergence to the full model on held calibration
// samples, until the budget is met. Batched: every round measures all candidates once and
// commits the cheapest `commit_fraction` of them (the others' costs are re-measured next round),
// so the search needs ~ (dims to remove) / (step · commit_fraction · #slots) rounds.
#pragma once

#include <vector>

#include "compress/planners/slots.h"

namespace lrkv {

struct GreedyKlOptions {
  std::vector<int> tokens;         // held calibration tokens (at least n_windows * ctx)
  int ctx = 128;                   // window length of each held sample
  int n_windows = 4;               // samples (one batch)
  int step = 0;                    // dimensions removed per move; 0 = max(1, head_dim / 8)
  double commit_fraction = 0.25;   // share of candidates lowered per round
  bool progress = true;
};

// `full` is the model compressed at full rank with the method and granularity of `slots`.
Result<std::vector<int>> greedy_kl_ranks(const Model& full, const std::vector<Slot>& slots, int64_t target,
                                         const GreedyKlOptions& options);

// Mean KL(teacher || model) per position over the windows, teacher log-probs [rows, V].
Result<double> mean_kl_on_windows(const Model& model, const std::vector<int>& tokens, int ctx, int n_windows,
                                  const std::vector<float>& teacher_logprobs);
// Teacher log-probs of `model` on the same windows.
Result<std::vector<float>> logprobs_on_windows(const Model& model, const std::vector<int>& tokens, int ctx,
                                               int n_windows);

}  // namespace lrkv
