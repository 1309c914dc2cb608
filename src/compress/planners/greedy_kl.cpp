#include "compress/planners/greedy_kl.h"

#include <algorithm>
#include <cmath>
#include <numeric>

#include "compress/truncate.h"
#include "core/progress.h"
#include "kernels/log_softmax.h"
#include "model/cpu_engine.h"
#include "model/latent_layer.h"

namespace lrkv {

namespace {

Result<std::vector<float>> window_logits(const Model& model, const std::vector<int>& tokens, int ctx, int n_windows) {
  if (static_cast<int64_t>(tokens.size()) < int64_t{ctx} * n_windows) {
    return make_error(ErrorCode::kInvalidArgument, "greedy-kl needs {} held tokens ({} windows of {}), got {}",
                      int64_t{ctx} * n_windows, n_windows, ctx, tokens.size());
  }
  CpuEngine engine(model);
  LRKV_ASSIGN_OR_RETURN(auto cache, engine.make_cache(n_windows, ctx));
  std::vector<SeqSpan> spans;
  for (int w = 0; w < n_windows; ++w) spans.push_back({w, tokens.data() + int64_t{w} * ctx, ctx});
  std::vector<float> logits;
  LRKV_RETURN_IF_ERROR(engine.forward(spans, *cache, LogitsMode::kAll, &logits));
  return logits;
}

}  // namespace

Result<std::vector<float>> logprobs_on_windows(const Model& model, const std::vector<int>& tokens, int ctx,
                                               int n_windows) {
  LRKV_ASSIGN_OR_RETURN(std::vector<float> logits, window_logits(model, tokens, ctx, n_windows));
  const int64_t V = model.config.n_vocab, rows = static_cast<int64_t>(logits.size()) / V;
  std::vector<float> lp(logits.size());
  for (int64_t r = 0; r < rows; ++r) log_softmax(logits.data() + r * V, V, lp.data() + r * V);
  return lp;
}

Result<double> mean_kl_on_windows(const Model& model, const std::vector<int>& tokens, int ctx, int n_windows,
                                  const std::vector<float>& teacher) {
  LRKV_ASSIGN_OR_RETURN(std::vector<float> logits, window_logits(model, tokens, ctx, n_windows));
  const int64_t V = model.config.n_vocab, rows = static_cast<int64_t>(logits.size()) / V;
  std::vector<float> lp(V);
  double total = 0.0;
  for (int64_t r = 0; r < rows; ++r) {
    log_softmax(logits.data() + r * V, V, lp.data());
    const float* t = teacher.data() + r * V;
    double kl = 0.0;
    for (int64_t i = 0; i < V; ++i) kl += std::exp(static_cast<double>(t[i])) * (t[i] - lp[i]);
    total += kl;
  }
  return total / static_cast<double>(rows);
}

Result<std::vector<int>> greedy_kl_ranks(const Model& full, const std::vector<Slot>& slots, int64_t target,
                                         const GreedyKlOptions& o) {
  LRKV_ASSIGN_OR_RETURN(RankPlan base_plan, model_rank_plan(full));
  const int step = o.step > 0 ? o.step : std::max(1, full.config.head_dim / 8);
  std::vector<int> ranks(slots.size());
  int64_t total = 0, hi = 0;
  for (size_t i = 0; i < slots.size(); ++i) {
    ranks[i] = slots[i].full;
    total += ranks[i];
    hi += slots[i].full;
  }
  if (target < static_cast<int64_t>(slots.size()) || target > hi) {
    return make_error(ErrorCode::kInvalidArgument, "budget of {} dimensions outside [{}, {}]", target, slots.size(), hi);
  }
  LRKV_ASSIGN_OR_RETURN(std::vector<float> teacher, logprobs_on_windows(full, o.tokens, o.ctx, o.n_windows));
  auto plan_of = [&](const std::vector<int>& r) {
    return assemble_plan(full.config, slots, r, base_plan.method, base_plan.granularity, "greedy-kl",
                         base_plan.budget, base_plan.key_mode);
  };
  Progress progress("greedy-kl", hi - target, "dim");
  if (!o.progress) progress.disable();
  while (total > target) {
    std::vector<std::pair<double, size_t>> cand;
    for (size_t i = 0; i < slots.size(); ++i) {
      if (ranks[i] <= 1) continue;
      std::vector<int> r = ranks;
      r[i] = std::max(1, r[i] - step);
      LRKV_ASSIGN_OR_RETURN(Model m, truncate_to_plan(full, plan_of(r)));
      LRKV_ASSIGN_OR_RETURN(double kl, mean_kl_on_windows(m, o.tokens, o.ctx, o.n_windows, teacher));
      cand.push_back({kl, i});
    }
    std::sort(cand.begin(), cand.end());  // cheapest first; ties by slot order (deterministic)
    const size_t k = std::max<size_t>(1, static_cast<size_t>(std::ceil(o.commit_fraction * cand.size())));
    for (size_t j = 0; j < k && j < cand.size() && total > target; ++j) {
      const size_t i = cand[j].second;
      const int cut = static_cast<int>(std::min<int64_t>({step, ranks[i] - 1, total - target}));
      ranks[i] -= cut;
      total -= cut;
      progress.add(cut);
    }
    progress.set_note(fmt::format("KL {:.4g}", cand.front().first));
  }
  progress.finish();
  return ranks;
}

}  // namespace lrkv
