#include "eval/report/speed.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <random>

namespace lrkv {

namespace {

double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

void mean_sd(const std::vector<double>& v, double* mean, double* sd) {
  double s = 0.0, q = 0.0;
  for (double x : v) s += x;
  *mean = v.empty() ? 0.0 : s / v.size();
  for (double x : v) q += (x - *mean) * (x - *mean);
  *sd = v.size() > 1 ? std::sqrt(q / (v.size() - 1)) : 0.0;
}

struct Timing {
  double prefill_s = 0.0, decode_s = 0.0;
  uint64_t decode_begin_ns = 0, decode_end_ns = 0;  // on the tracer's clock, when one was given
};

// One prefill and n_gen decode steps; with a tracer, the decode steps' ends on its clock.
Result<Timing> run_once(Engine& engine, KvCache& cache, const std::vector<std::vector<int>>& prompts, int n_gen,
                        KernelTracer* tracer = nullptr) {
  const int batch = static_cast<int>(prompts.size());
  std::vector<SeqSpan> spans;
  for (int i = 0; i < batch; ++i) {
    cache.truncate(i, 0);
    spans.push_back({i, prompts[i].data(), static_cast<int>(prompts[i].size())});
  }
  // Greedy tokens picked where the logits are (on the GPU for a device engine), as a serving
  // loop decodes.
  std::vector<Sampler> greedy(batch, Sampler(SamplerOptions{0.0f, 0, 1.0f, 1}));
  std::vector<int> next;
  Timing t;
  auto t0 = std::chrono::steady_clock::now();
  LRKV_RETURN_IF_ERROR(engine.forward_sample(spans, cache, greedy, &next));
  t.prefill_s = seconds_since(t0);
  // forward_sample returns host tokens, so the device is idle at both marks.
  if (tracer) t.decode_begin_ns = tracer->now_ns();
  t0 = std::chrono::steady_clock::now();
  for (int step = 0; step < n_gen; ++step) {
    for (int i = 0; i < batch; ++i) spans[i] = {i, &next[i], 1};
    LRKV_RETURN_IF_ERROR(engine.forward_sample(spans, cache, greedy, &next));
  }
  t.decode_s = seconds_since(t0);
  if (tracer) t.decode_end_ns = tracer->now_ns();
  return t;
}

}  // namespace

Result<SpeedResult> measure_speed(Engine& engine, const SpeedOptions& o) {
  if (o.ctx < 1 || o.batch < 1 || o.n_gen < 0 || o.reps < 1) {
    return make_error(ErrorCode::kInvalidArgument,
                      "speed test: ctx {}, batch {}, n_gen {}, reps {} must be positive", o.ctx,
                      o.batch, o.n_gen, o.reps);
  }
  if (o.tracer && o.n_gen < 1) {
    return make_error(ErrorCode::kInvalidArgument, "speed test: a decode profile needs n_gen >= 1 (got {})", o.n_gen);
  }
  const LlamaConfig& cfg = engine.config();
  LRKV_ASSIGN_OR_RETURN(auto cache, engine.make_cache(o.batch, o.ctx + o.n_gen, o.kv_type));
  std::mt19937_64 rng(o.seed);
  std::vector<std::vector<int>> prompts(o.batch, std::vector<int>(o.ctx));
  for (auto& p : prompts) {
    for (int& t : p) t = static_cast<int>(rng() % static_cast<uint64_t>(cfg.n_vocab));
  }
  if (o.warmup)
    LRKV_RETURN_IF_ERROR(run_once(engine, *cache, prompts, std::min(o.n_gen, 2)).status());
  std::vector<double> pp, tg;
  for (int r = 0; r < o.reps; ++r) {
    LRKV_ASSIGN_OR_RETURN(Timing t, run_once(engine, *cache, prompts, o.n_gen));
    pp.push_back(static_cast<double>(o.batch) * o.ctx / std::max(t.prefill_s, 1e-12));
    if (o.n_gen > 0)
      tg.push_back(static_cast<double>(o.batch) * o.n_gen / std::max(t.decode_s, 1e-12));
  }
  SpeedResult s;
  s.kv_bytes_per_token = cache->bytes_per_token();
  s.kv_bytes = s.kv_bytes_per_token * o.batch * (o.ctx + o.n_gen);
  s.cache_kind = cache->kind();
  if (o.tracer) {
    // A fresh cache (the old one freed first), so that what the engine sets up for it (a GPU
    // engine's decode graphs) is set up with the tracer on; an untraced-window pass sets it all
    // up, then the traced pass's decode steps are the window.
    cache.reset();
    LRKV_ASSIGN_OR_RETURN(cache, engine.make_cache(o.batch, o.ctx + o.n_gen, o.kv_type));
    LRKV_RETURN_IF_ERROR(o.tracer->start());
    Result<Timing> t = run_once(engine, *cache, prompts, o.n_gen);
    if (t.ok()) t = run_once(engine, *cache, prompts, o.n_gen, o.tracer);
    auto records = o.tracer->stop();  // stopped whatever the passes returned
    LRKV_RETURN_IF_ERROR(t.status());
    LRKV_RETURN_IF_ERROR(records.status());
    LRKV_ASSIGN_OR_RETURN(s.decode_profile, summarize_kernels(std::move(records).value(), o.n_gen, t->decode_begin_ns,
                                                              t->decode_end_ns, o.tracer->source()));
  }
  mean_sd(pp, &s.prefill_tps, &s.prefill_tps_sd);
  mean_sd(tg, &s.decode_tps, &s.decode_tps_sd);
  s.decode_weight_bytes = engine.decode_weight_bytes();
  return s;
}

}  // namespace lrkv
