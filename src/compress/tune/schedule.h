// Deterministic per-step choices of a distillation run, all functions of (seed, step) so a
// resumed run makes exactly the choices the uninterrupted one would have made:
//  - Matryoshka ranks: every (layer, KV head, K|V) rank drawn uniformly from the rank set
//    {s, 2s, ..., head_dim}, s = 16 for head_dim >= 128 (the paper's {16, ..., 128}) and
//    head_dim/8 below (head_dim 64: {8, 16, ..., 64}), so the set always has >= 8 prefixes
//    (head_dim < 8: every rank 1..head_dim).
//  - batch order: a fresh shuffle of the batches every epoch.
//  - learning rate: linear warm-up, then cosine decay to min_ratio·lr at the last step.
#pragma once

#include <cstdint>
#include <vector>

#include "model/train/kv_projection.h"

namespace lrkv {

std::vector<int> matryoshka_rank_set(int head_dim);

// Sets rank_k / rank_v of every head of `P` to draws from `set` (seeded by seed and step).
void sample_matryoshka_ranks(KvProjections& P, const std::vector<int>& set, uint64_t seed,
                             int64_t step);

// Index of the batch used at `step` among n_batches (epoch-wise shuffles).
int64_t batch_for_step(uint64_t seed, int64_t step, int64_t n_batches);

struct LrSchedule {
  double lr = 1e-3;
  int64_t warmup = 0;      // steps of linear warm-up from lr/warmup
  int64_t total = 1;       // steps of the run (cosine reaches min_ratio·lr at total−1)
  double min_ratio = 1.0;  // 1 = constant after warm-up
  double at(int64_t step) const;
};

}  // namespace lrkv
