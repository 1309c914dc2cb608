// Rank planners: how the kept dimensions of a KV budget are spread over layers, groups, K and V.
// Every planner returns per-slot ranks (slots.h) whose total equals budget_target() exactly,
// each within [1, s·head_dim], deterministic for the same inputs (and seed).
//   uniform      the same fraction everywhere (rank_plan.h: uniform_plan)
//   progressive  LoRC: layers with a larger cumulative condition number (shallow) keep more
//   fisher       Palu: rank proportional to Fisher importance of each K/V matrix
//   energy       the same fraction of (whitened) spectral energy kept in every slot
//   greedy-kl    MatryoshkaKV: lower the slot whose step costs the least KL, until the budget
#pragma once

#include <string>
#include <vector>

#include "compress/planners/slots.h"

namespace lrkv {

// LoRC progressive schedule. κ_l = σ_max/σ_min of layer l's W_k (resp. W_v); the cumulative
// condition number C_l = Π_{j≥l} κ_j; u_l = normalised log C_l in [0, 1] (1 = shallowest).
// Kept fraction f_l = clamp(b + α·(u_l − mean u), 1/full, 1) with α = b (so f spans about
// [b/2, 3b/2] when u is spread evenly), then ranks are rounded and the total made exact by
// adding/removing dimensions where u is largest/smallest.
Result<std::vector<int>> progressive_ranks(const Model& m, const std::vector<Slot>& slots, int64_t target);

// Same fraction of spectral energy in every slot: the largest τ with Σ_i r_i(τ) ≤ target where
// r_i(τ) = min{r : Σ_{j<r} e_ij ≥ τ Σ_j e_ij}, then single dimensions by normalised marginal
// energy e_ir / Σ_j e_ij until the total is exact.
Result<std::vector<int>> energy_ranks(const std::vector<Slot>& slots,
                                      const std::vector<std::vector<double>>& spectra, int64_t target);

// Palu's Fisher allocation: importance[i] of each slot (the mean Fisher information of its K or V
// rows); r_i ∝ importance (capped at full, the excess handed out again), rounded to multiples
// of `round_to` (min round_to, when round_to ≤ full), then made exact dimension by dimension by
// importance.
Result<std::vector<int>> fisher_ranks(const std::vector<Slot>& slots, const std::vector<double>& importance,
                                      int64_t target, int round_to);
// The default rounding step: the largest power of two <= (narrowest slot width) / 32, at least 1,
// so every slot has 32 rank steps whatever its width (64-wide heads: 2; a group of 4 heads of 64:
// 8; of 128: 16). A fixed 32 leaves a 256-wide slot 8 steps and the allocation barely moves.
int fisher_round_to(const std::vector<Slot>& slots);

}  // namespace lrkv
