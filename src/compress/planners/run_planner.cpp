#include "compress/planners/run_planner.h"

#include "compress/compressor.h"

namespace lrkv {

std::string planner_names() { return "uniform, progressive, fisher, energy, greedy-kl"; }

Result<RankPlan> run_planner(const PlannerInputs& in) {
  const Model& m = *in.model;
  const LlamaConfig& c = m.config;
  LRKV_ASSIGN_OR_RETURN(KeyMode mode, method_key_mode(in.method));
  LRKV_ASSIGN_OR_RETURN(int s, parse_granularity(in.granularity, c.n_kv_head));
  if (!(in.budget > 0.0) || in.budget > 1.0) {
    return make_error(ErrorCode::kInvalidArgument, "--budget {} must be in (0, 1]", in.budget);
  }
  if (in.planner == "uniform") return uniform_plan(c, in.method, in.granularity, in.budget);
  const std::vector<Slot> slots = enumerate_slots(c, s);
  const int64_t target = budget_target(c, in.budget);
  if (target < static_cast<int64_t>(slots.size())) {
    return make_error(ErrorCode::kInvalidArgument, "--budget {} keeps {} dimensions, fewer than one per slot ({})",
                      in.budget, target, slots.size());
  }
  std::vector<int> ranks;
  if (in.planner == "progressive") {
    LRKV_ASSIGN_OR_RETURN(ranks, progressive_ranks(m, slots, target));
  } else if (in.planner == "energy") {
    LRKV_ASSIGN_OR_RETURN(auto spectra, slot_spectra(m, slots, in.method, in.calib));
    LRKV_ASSIGN_OR_RETURN(ranks, energy_ranks(slots, spectra, target));
  } else if (in.planner == "fisher") {
    if (in.fisher_importance.size() != slots.size()) {
      return make_error(ErrorCode::kInvalidArgument, "the fisher planner needs Fisher importances (calibration text)");
    }
    LRKV_ASSIGN_OR_RETURN(ranks, fisher_ranks(slots, in.fisher_importance, target, in.round_to));
  } else if (in.planner == "greedy-kl") {
    if (method_needs_calibration(in.method) && in.calib == nullptr) {
      return make_error(ErrorCode::kInvalidArgument, "method '{}' needs calibration statistics", in.method);
    }
    LRKV_ASSIGN_OR_RETURN(RankPlan full_plan, uniform_plan(c, in.method, in.granularity, 1.0));
    LRKV_ASSIGN_OR_RETURN(Model full, compress_model(m, full_plan, in.calib));
    LRKV_ASSIGN_OR_RETURN(ranks, greedy_kl_ranks(full, slots, target, in.greedy));
  } else {
    return make_error(ErrorCode::kInvalidArgument, "unknown planner '{}': expected one of {}", in.planner,
                      planner_names());
  }
  return assemble_plan(c, slots, ranks, in.method, in.granularity, in.planner, in.budget, mode);
}

}  // namespace lrkv
