// Rank slots: one (layer, group, K|V) latent whose rank a planner chooses. Planners work on a
// flat vector of slots and assemble the RankPlan at the end; budgets are totals of kept
// dimensions (the plan's Σ rank_k + rank_v), compared with the dense Σ = 2 · n_layer · kv_dim.
#pragma once

#include <cstdint>
#include <functional>
#include <vector>

#include "compress/calibration.h"
#include "model/model.h"
#include "model/rank_plan.h"

namespace lrkv {

struct Slot {
  int layer = 0, group = 0;
  bool is_v = false;
  int kv_head_begin = 0, n_kv_heads = 1;
  int full = 0;  // s * head_dim
};

// All slots of a model at group size s, ordered layer, group, K then V.
std::vector<Slot> enumerate_slots(const LlamaConfig& cfg, int s);
// Σ kept dimensions a budget asks for: round(budget · 2 · n_layer · kv_dim).
int64_t budget_target(const LlamaConfig& cfg, double budget);
// The RankPlan of per-slot ranks.
RankPlan assemble_plan(const LlamaConfig& cfg, const std::vector<Slot>& slots, const std::vector<int>& ranks,
                       const std::string& method, const std::string& granularity, const std::string& planner,
                       double budget, KeyMode mode);

// Moves ranks by single dimensions until Σ ranks == target, each within [1, full]: adds to the
// slot with the highest gain(slot, rank) (the value of its next dimension) or removes from the
// slot with the lowest loss(slot, rank) (the value of its last dimension). Errors when the target
// is outside [#slots, Σ full].
using MarginalFn = std::function<double(size_t slot, int rank)>;
Status fix_total(const std::vector<Slot>& slots, std::vector<int>* ranks, int64_t target, const MarginalFn& value);

// Singular values (SVD methods) or eigenvalues (PCA) of every slot's factorisation: the
// spectrum the method truncates, descending, in the units of squared error (σ² for SVDs,
// eigenvalues for PCA). Whitened for palu (needs calib), plain for lorc, PCA for mkv-*.
Result<std::vector<std::vector<double>>> slot_spectra(const Model& m, const std::vector<Slot>& slots,
                                                      const std::string& method, const CalibrationStats* calib);

}  // namespace lrkv
