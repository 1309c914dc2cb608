#include "compress/planners/run_planner.h"

#include <algorithm>
#include <cmath>

#include "compress/compressor.h"
#include "compress/methods.h"
#include "kernels/quant_row.h"

namespace lrkv {

std::string planner_names() { return "uniform, progressive, fisher, energy, greedy-kl"; }

namespace {

// Uniform ranks for `target` dimensions (slots share one width): as uniform_plan, the remainder
// one dimension at a time in slot order.
std::vector<int> uniform_ranks(const std::vector<Slot>& slots, int64_t target) {
  const int64_t n = static_cast<int64_t>(slots.size()), full = slots[0].full;
  const int64_t base = std::clamp<int64_t>(target / n, 1, full);
  int64_t extra = std::clamp<int64_t>(target - base * n, 0, n * (full - base));
  std::vector<int> r(n, static_cast<int>(base));
  for (int64_t i = 0; i < n && extra > 0; ++i, --extra) ++r[i];
  return r;
}

// The planner's ranks for a total of `target` kept dimensions (greedy-kl excluded: it needs the
// full-rank model, built once by the caller).
Result<std::vector<int>> planner_ranks(const PlannerInputs& in, const std::vector<Slot>& slots, int64_t target,
                                       const std::vector<std::vector<double>>* spectra) {
  const Model& m = *in.model;
  if (in.planner == "uniform") return uniform_ranks(slots, target);
  if (in.planner == "progressive") return progressive_ranks(m, slots, target);
  if (in.planner == "energy") return energy_ranks(slots, *spectra, target);
  if (in.planner == "fisher") {
    if (in.fisher_importance.size() != slots.size()) {
      return make_error(ErrorCode::kInvalidArgument, "the fisher planner needs Fisher importances (calibration text)");
    }
    return fisher_ranks(slots, in.fisher_importance, target, in.round_to > 0 ? in.round_to : fisher_round_to(slots));
  }
  return make_error(ErrorCode::kInvalidArgument, "unknown planner '{}': expected one of {}", in.planner,
                    planner_names());
}

QuantFormat format_of(const PlannerInputs& in) {
  return QuantFormat{in.latent_symmetric ? QuantScheme::kSymmetric : QuantScheme::kAffine, in.latent_bits,
                     in.latent_group};
}

// Largest total of kept dimensions whose quantized bytes fit budget × the dense f16 cache.
Result<std::vector<int>> ranks_for_bytes(const PlannerInputs& in, const std::vector<Slot>& slots,
                                         const std::vector<std::vector<double>>* spectra) {
  const LlamaConfig& c = in.model->config;
  const QuantFormat f = format_of(in);
  if (Status st = f.validate(); !st.ok()) {
    return make_error(ErrorCode::kInvalidArgument, "--latent-bits {} --latent-group {}: {}", in.latent_bits,
                      in.latent_group, st.message());
  }
  const int64_t byte_target = std::llround(in.budget * 2.0 * c.n_layer * c.kv_dim() * 2.0);
  auto bytes = [&](const std::vector<int>& r) {
    return quantized_latent_bytes(r, in.latent_bits, in.latent_group, in.latent_symmetric);
  };
  int64_t lo = static_cast<int64_t>(slots.size()), hi = 0;
  for (const Slot& s : slots) hi += s.full;
  LRKV_ASSIGN_OR_RETURN(std::vector<int> best, planner_ranks(in, slots, lo, spectra));
  if (bytes(best) > byte_target) {
    return make_error(ErrorCode::kInvalidArgument,
                      "--budget {} allows {} bytes per token; one {} dimension per slot already takes {}", in.budget,
                      byte_target, f.name(), bytes(best));
  }
  while (lo < hi) {
    const int64_t mid = lo + (hi - lo + 1) / 2;
    LRKV_ASSIGN_OR_RETURN(std::vector<int> r, planner_ranks(in, slots, mid, spectra));
    if (bytes(r) <= byte_target) {
      lo = mid;
      best = std::move(r);
    } else {
      hi = mid - 1;
    }
  }
  return best;
}

}  // namespace

int64_t quantized_latent_bytes(const std::vector<int>& ranks, int bits, int group, bool symmetric) {
  const QuantFormat f{symmetric ? QuantScheme::kSymmetric : QuantScheme::kAffine, bits, group};
  int64_t b = 0;
  for (int r : ranks) b += segment_bytes(f, r);
  return b;
}

int64_t quantized_latent_bytes(const RankPlan& plan) {
  std::vector<int> ranks;
  for (const LayerPlan& l : plan.layers) {
    for (const GroupPlan& g : l.groups) {
      ranks.push_back(g.rank_k);
      ranks.push_back(g.rank_v);
    }
  }
  return quantized_latent_bytes(ranks, plan.latent_bits, plan.latent_group, plan.latent_symmetric);
}

Result<RankPlan> run_planner(const PlannerInputs& in) {
  const Model& m = *in.model;
  const LlamaConfig& c = m.config;
  LRKV_ASSIGN_OR_RETURN(const MethodDesc* method, find_method(in.method));
  if (!method->low_rank) {
    return make_error(ErrorCode::kInvalidArgument, "--method {}: merges KV heads, there are no ranks to plan",
                      in.method);
  }
  if (std::find(method->planners.begin(), method->planners.end(), in.planner) == method->planners.end()) {
    return make_error(ErrorCode::kInvalidArgument, "--planner {} does not apply to method {}", in.planner, in.method);
  }
  const KeyMode mode = method->key_mode;
  LRKV_ASSIGN_OR_RETURN(int s, parse_granularity(in.granularity, c.n_kv_head));
  if (!(in.budget > 0.0) || in.budget > 1.0) {
    return make_error(ErrorCode::kInvalidArgument, "--budget {} must be in (0, 1]", in.budget);
  }
  const std::vector<Slot> slots = enumerate_slots(c, s);
  std::vector<std::vector<double>> spectra;
  if (in.planner == "energy") {
    LRKV_ASSIGN_OR_RETURN(spectra, slot_spectra(m, slots, in.method, in.calib));
  }
  if (in.latent_bits > 0) {
    if (in.planner == "greedy-kl") {
      return make_error(ErrorCode::kInvalidArgument,
                        "--planner greedy-kl plans kept dimensions; with --latent-bits use uniform, progressive, "
                        "fisher or energy");
    }
    LRKV_ASSIGN_OR_RETURN(std::vector<int> ranks, ranks_for_bytes(in, slots, &spectra));
    RankPlan p = assemble_plan(c, slots, ranks, in.method, in.granularity, in.planner, in.budget, mode);
    p.latent_bits = in.latent_bits;
    p.latent_group = in.latent_group;
    p.latent_symmetric = in.latent_symmetric;
    return p;
  }
  if (in.planner == "uniform") return uniform_plan(c, in.method, in.granularity, in.budget);
  const int64_t target = budget_target(c, in.budget);
  if (target < static_cast<int64_t>(slots.size())) {
    return make_error(ErrorCode::kInvalidArgument, "--budget {} keeps {} dimensions, fewer than one per slot ({})",
                      in.budget, target, slots.size());
  }
  std::vector<int> ranks;
  if (in.planner == "greedy-kl") {
    if (method_needs_calibration(in.method) && in.calib == nullptr) {
      return make_error(ErrorCode::kInvalidArgument, "method '{}' needs calibration statistics", in.method);
    }
    LRKV_ASSIGN_OR_RETURN(RankPlan full_plan, uniform_plan(c, in.method, in.granularity, 1.0));
    LRKV_ASSIGN_OR_RETURN(Model full, compress_model(m, full_plan, in.calib));
    LRKV_ASSIGN_OR_RETURN(ranks, greedy_kl_ranks(full, slots, target, in.greedy));
  } else {
    LRKV_ASSIGN_OR_RETURN(ranks, planner_ranks(in, slots, target, &spectra));
  }
  return assemble_plan(c, slots, ranks, in.method, in.granularity, in.planner, in.budget, mode);
}

}  // namespace lrkv
