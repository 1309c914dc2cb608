// LoglikFn on an Engine: every choice is one sequence of a shared cache; a batch runs as two
// forward passes over all its sequences — the context minus its last token (no logits), then the
// last context token plus the continuation (logits only for those rows) — so the output
// projection runs only where scores are needed. Sequences longer than the cache drop context
// from the left (at least one context token is kept); a continuation that alone does not fit is
// cut at its end and only the kept tokens are scored.
#pragma once

#include "cache/kv_cache_spec.h"
#include "eval/tasks/mc_scorer.h"
#include "model/engine.h"

namespace lrkv {

struct EngineLoglikOptions {
  int max_seqs = 32;                    // sequences per forward pass
  int ctx = 0;                          // cache capacity per sequence; 0 = the model's context
  int64_t max_logit_bytes = 256 << 20;  // caps the continuation rows of one pass
  KvCacheSpec kv_type = DType::kF32;
};

// `engine` must outlive the returned function; calls must not overlap.
LoglikFn make_engine_loglik(Engine& engine, const EngineLoglikOptions& options);

}  // namespace lrkv
