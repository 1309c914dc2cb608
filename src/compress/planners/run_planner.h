// One entry point for every planner (see planners.h): builds the slots of the method's
// granularity, runs the planner and assembles the RankPlan. With quantized latents the planner
// runs at the largest total of kept dimensions whose exact packed bytes fit the byte budget
// (bisection on that total; the bytes of a planner's allocation grow with it).
#pragma once

#include <string>
#include <vector>

#include "compress/planners/greedy_kl.h"
#include "compress/planners/planners.h"

namespace lrkv {

struct PlannerInputs {
  const Model* model = nullptr;            // the uncompressed model
  const CalibrationStats* calib = nullptr; // palu / mkv-* spectra and factors; energy; greedy-kl
  std::string method = "palu";
  std::string granularity = "group:4";
  std::string planner = "uniform";
  double budget = 0.5;
  GreedyKlOptions greedy;                  // greedy-kl: held samples
  std::vector<double> fisher_importance;   // fisher: one value per slot (enumerate_slots order)
  int round_to = 0;                        // fisher: rank granularity; 0 = fisher_round_to(slots)
  // Quantized latents (bits 8/4/3/2, values per scale, symmetric): the budget is then in BYTES,
  // budget × the dense f16 cache, counting codes + scales (+ minimums) exactly
  // (kernels/quant_row.h segment_bytes, one segment per slot). 0 = float latents, budget in
  // kept dimensions. Not for greedy-kl (its search moves dimensions).
  int latent_bits = 0, latent_group = 32;
  bool latent_symmetric = false;
};

// Bytes per token of the latent rows of `ranks` (one segment per slot) in format bits/group/sym.
int64_t quantized_latent_bytes(const std::vector<int>& ranks, int bits, int group, bool symmetric);
// The same for a plan made with latent_bits > 0 (its K and V ranks in slot order, its format).
int64_t quantized_latent_bytes(const RankPlan& plan);

// "uniform, progressive, fisher, energy, greedy-kl".
std::string planner_names();
Result<RankPlan> run_planner(const PlannerInputs& in);

}  // namespace lrkv
