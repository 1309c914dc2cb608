// Perplexity over a token stream with strided windows (the Hugging Face "sliding window" rule):
// windows [b, b+ctx) start every `stride` tokens; each window scores the targets it has not
// scored before (all but its first token for the first window, then the last `stride` tokens).
// Every window starts with an empty cache, so each prediction sees at most ctx-1 tokens of
// context and at least ctx-stride (after the first window).
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "core/dtype.h"
#include "kernels/log_softmax.h"
#include "model/engine.h"

namespace lrkv {

struct PerplexityOptions {
  int ctx = 0;             // window length; 0 = the model's context length
  int stride = 0;          // 0 = ctx (non-overlapping windows)
  int batch = 4;           // windows per forward pass (capped so logits stay under ~1 GiB)
  int64_t max_tokens = 0;  // stop after scoring this many targets; 0 = all
  KvCacheSpec kv_type = DType::kF32;  // float rows, q8_0/q4_0, KIVI or quantized latents
  bool progress = true;
};

struct PerplexityResult {
  double ppl = 0.0;
  double mean_nll = 0.0;        // nats per scored token
  double nll_stderr = 0.0;      // standard error of the mean NLL
  int64_t n_scored = 0;
  int64_t n_processed = 0;      // tokens run through the model (windows overlap when stride < ctx)
  int n_windows = 0;
  double seconds = 0.0;
  double tokens_per_second = 0.0;  // processed tokens / seconds
  std::string cache_kind;          // e.g. "dense f32", "latent f16 (rebuild keys)"
  int64_t kv_bytes_per_token = 0;  // measured from the cache itself, all layers
};

// Called once per scored target, in stream order: index of the target token in `tokens`, the
// target id, and the model's logits row [n_vocab] that predicts it.
using ScoredTokenFn = std::function<void(int64_t index, int target, const float* logits)>;

Result<PerplexityResult> run_perplexity(Engine& engine, const std::vector<int>& tokens,
                                        const PerplexityOptions& options,
                                        const ScoredTokenFn& on_scored = nullptr);

}  // namespace lrkv
