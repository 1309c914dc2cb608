// Engine: what every command needs from a backend, whichever device runs it. The CPU engine
// (model/cpu_engine.h) and the CUDA engine (backend/cuda/cuda_engine.h) implement it; commands
// get one from make_engine (backend/engine_factory.h) and never know which runs.
//   cache  = engine.make_cache(n_seq, capacity, spec)      storage of past tokens, on the device
//   logits = engine.forward(spans, cache, mode)            prefill or decode, any mix of sequences
//   next   = engine.forward_sample(spans, cache, samplers) one token per span, sampled where the
//                                                          logits are (no download on the GPU)
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "cache/kv_cache.h"
#include "cache/kv_cache_spec.h"
#include "model/model.h"
#include "model/sampler.h"

namespace lrkv {

// New tokens for one sequence; they go at positions [cache.length(seq), ... + n).
struct SeqSpan {
  int seq = 0;
  const int* tokens = nullptr;
  int n = 0;
};

enum class LogitsMode {
  kLast,  // one row per span: the last token's next-token logits
  kAll,   // one row per token, spans in order
  kNone,  // only fill the cache
};

class Engine {
 public:
  virtual ~Engine() = default;
  virtual const LlamaConfig& config() const = 0;
  virtual const Model& model() const = 0;
  // "cpu", "cuda" (for reports and errors).
  virtual std::string device() const = 0;
  // True when the model runs with latent caches (a compressed model).
  // Bytes of weights one decode step reads as this engine stores them (every matrix, norm and
  // bias once, one row of the token embedding): the weight term of the bandwidth floor. 0 when
  // the engine does not report it (the CPU engine).
  virtual int64_t decode_weight_bytes() const { return 0; }
  virtual bool compressed() const = 0;

  // The cache this model runs with: n_seq sequences of up to `capacity` tokens each, stored as
  // `spec` says (dense rows for a plain model, latents for a compressed one). Lengths start at 0;
  // KvCache::truncate(seq, 0) empties one sequence for reuse. Errors name the unsupported spec.
  virtual Result<std::unique_ptr<KvCache>> make_cache(int n_seq, int capacity,
                                                       const KvCacheSpec& spec = {}) const = 0;

  // Runs the spans (distinct sequences of `cache`) through the model, appending their tokens to
  // the cache and committing them. `logits` is resized to [rows, n_vocab] per `mode`.
  virtual Status forward(const std::vector<SeqSpan>& spans, KvCache& cache, LogitsMode mode,
                         std::vector<float>* logits) = 0;

  // forward(), then one next token per span drawn by samplers[i] from its last row (greedy when
  // the sampler's temperature is 0). The default samples on the host from kLast logits; a GPU
  // backend selects on the device.
  virtual Status forward_sample(const std::vector<SeqSpan>& spans, KvCache& cache, std::vector<Sampler>& samplers,
                                std::vector<int>* next);
};

// Paged caches: maps blocks for every span's new rows [length, length + n) before a forward
// writes them, all or none (an error names the free and needed blocks; what this call mapped is
// given back). Other caches: nothing to do.
Status reserve_span_rows(const std::vector<SeqSpan>& spans, KvCache& cache);

}  // namespace lrkv
