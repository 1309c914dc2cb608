// Prefill and decode throughput of an Engine with its KV cache (llama-bench's pp/tg tests):
// `batch` sequences of `ctx` seeded random tokens are prefilled in one forward pass, then
// `n_gen` tokens are decoded one step at a time for every sequence (greedy, the argmax fed
// back). Each test runs `reps` times after one untimed warm-up pass; mean and standard deviation
// are reported. Memory is the cache's own accounting at ctx + n_gen tokens per sequence.
// With a tracer, one more pass runs after the timed ones with the tracer on around its decode loop
// only (tracing slows launches, so the timed passes run without it): the decode step's kernels.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "cache/kv_cache_spec.h"
#include "core/status.h"
#include "eval/report/kernel_profile.h"
#include "model/engine.h"

namespace lrkv {

struct SpeedOptions {
  int ctx = 512;   // prompt tokens per sequence
  int batch = 1;   // sequences
  int n_gen = 32;  // decoded tokens per sequence (0 = prefill only)
  int reps = 3;
  bool warmup = true;
  uint64_t seed = 1;
  KvCacheSpec kv_type = DType::kF32;
  KernelTracer* tracer = nullptr;  // not owned; set: SpeedResult::decode_profile (needs n_gen >= 1)
};

struct SpeedResult {
  double prefill_tps = 0.0, prefill_tps_sd = 0.0;  // prompt tokens (all sequences) per second
  double decode_tps = 0.0, decode_tps_sd = 0.0;    // generated tokens (all sequences) per second
  int64_t kv_bytes_per_token = 0;                  // all layers
  int64_t kv_bytes = 0;                            // for batch x (ctx + n_gen) tokens
  int64_t decode_weight_bytes = 0;                 // Engine::decode_weight_bytes (0: not reported)
  std::string cache_kind;
  std::optional<KernelProfile> decode_profile;  // SpeedOptions::tracer's pass
};

Result<SpeedResult> measure_speed(Engine& engine, const SpeedOptions& options);

}  // namespace lrkv
