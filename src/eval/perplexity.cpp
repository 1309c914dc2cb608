#include "eval/perplexity.h"

#include <algorithm>
#include <chrono>
#include <cmath>

#include "core/progress.h"

namespace lrkv {

namespace {

struct Window {
  int64_t begin, end;   // tokens [begin, end)
  int64_t first_target; // first target index scored by this window (> begin)
};

std::vector<Window> plan_windows(int64_t n_tokens, int ctx, int stride, int64_t max_tokens) {
  std::vector<Window> w;
  int64_t scored_until = 1;  // targets [1, scored_until) are done; token 0 has no prediction
  int64_t scored = 0;
  for (int64_t b = 0; scored_until < n_tokens; b += stride) {
    int64_t e = std::min<int64_t>(b + ctx, n_tokens);
    const int64_t first = std::max(b + 1, scored_until);
    if (max_tokens > 0) e = std::min(e, first + (max_tokens - scored));  // exactly max_tokens
    if (first < e) {
      w.push_back({b, e, first});
      scored += e - first;
      scored_until = e;
    }
    if (e == n_tokens || (max_tokens > 0 && scored >= max_tokens)) break;
  }
  return w;
}

}  // namespace

Result<PerplexityResult> run_perplexity(Engine& engine, const std::vector<int>& tokens,
                                        const PerplexityOptions& o, const ScoredTokenFn& on_scored) {
  const LlamaConfig& cfg = engine.config();
  const int ctx = o.ctx > 0 ? o.ctx : cfg.max_seq;
  const int stride = o.stride > 0 ? o.stride : ctx;
  if (ctx < 2) return make_error(ErrorCode::kInvalidArgument, "--ctx must be at least 2, got {}", ctx);
  if (stride > ctx) {
    return make_error(ErrorCode::kInvalidArgument, "--stride {} must not exceed --ctx {}", stride, ctx);
  }
  if (tokens.size() < 2) {
    return make_error(ErrorCode::kInvalidArgument, "need at least 2 tokens of text, got {}", tokens.size());
  }
  const std::vector<Window> windows = plan_windows(static_cast<int64_t>(tokens.size()), ctx, stride, o.max_tokens);
  const int64_t V = cfg.n_vocab;
  const int64_t max_batch_by_mem = std::max<int64_t>(1, (int64_t{1} << 30) / (int64_t{ctx} * V * 4));
  const int batch = static_cast<int>(std::clamp<int64_t>(o.batch, 1, max_batch_by_mem));
  LRKV_ASSIGN_OR_RETURN(auto cache, engine.make_cache(batch, ctx, o.kv_type));

  PerplexityResult r;
  r.cache_kind = cache->kind();
  r.kv_bytes_per_token = cache->bytes_per_token();
  double sum = 0.0, sum_sq = 0.0;
  std::vector<float> logits;
  int64_t total_targets = 0;
  for (const Window& w : windows) total_targets += w.end - w.first_target;
  Progress progress("perplexity", total_targets, "tok");
  if (!o.progress) progress.disable();
  const auto t0 = std::chrono::steady_clock::now();
  for (size_t wi = 0; wi < windows.size(); wi += batch) {
    const size_t nb = std::min<size_t>(batch, windows.size() - wi);
    std::vector<SeqSpan> spans;
    for (size_t i = 0; i < nb; ++i) {
      cache->truncate(static_cast<int>(i), 0);
      const Window& w = windows[wi + i];
      spans.push_back({static_cast<int>(i), tokens.data() + w.begin, static_cast<int>(w.end - w.begin)});
    }
    LRKV_RETURN_IF_ERROR(engine.forward(spans, *cache, LogitsMode::kAll, &logits));
    int64_t row0 = 0;
    for (size_t i = 0; i < nb; ++i) {
      const Window& w = windows[wi + i];
      for (int64_t t = w.first_target; t < w.end; ++t) {
        const float* row = logits.data() + (row0 + (t - 1 - w.begin)) * V;  // row predicting t
        const double nll = token_nll(row, V, tokens[t]);
        sum += nll;
        sum_sq += nll * nll;
        ++r.n_scored;
        if (on_scored) on_scored(t, tokens[t], row);
      }
      row0 += w.end - w.begin;
      r.n_processed += w.end - w.begin;
      if (r.n_scored > 0) progress.set_note(fmt::format("ppl {:.3f}", std::exp(sum / r.n_scored)));
      progress.add(w.end - w.first_target);
    }
    r.n_windows += static_cast<int>(nb);
  }
  progress.finish();
  r.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  r.mean_nll = sum / r.n_scored;
  const double var = std::max(0.0, sum_sq / r.n_scored - r.mean_nll * r.mean_nll);
  r.nll_stderr = std::sqrt(var / r.n_scored);
  r.ppl = std::exp(r.mean_nll);
  if (!std::isfinite(r.ppl)) {  // finite logits can still give exp(mean NLL) > DBL_MAX
    return make_error(ErrorCode::kInvalidArgument,
                      "perplexity is not representable: mean NLL {} nats over {} tokens; expected a "
                      "finite perplexity (the model's logits are extreme)",
                      r.mean_nll, r.n_scored);
  }
  r.tokens_per_second = r.seconds > 0 ? r.n_processed / r.seconds : 0.0;
  return r;
}

}  // namespace lrkv
