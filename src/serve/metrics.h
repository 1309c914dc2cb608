// Metrics: counters the HTTP layer and the scheduler update, rendered as Prometheus text
// (GET /metrics). Counters only grow; gauges are the scheduler's state after its latest step.
// All members are atomics: any thread may update or render.
#pragma once

#include <atomic>
#include <cstdint>
#include <string>

namespace lrkv::serve {

struct Metrics {
  // HTTP layer.
  std::atomic<int64_t> requests_total{0};         // generation requests received
  std::atomic<int64_t> requests_rejected{0};      // answered 4xx before reaching the scheduler
  std::atomic<int64_t> requests_unauthorized{0};  // 401s (any endpoint)
  // Scheduler.
  std::atomic<int64_t> requests_finished{0};    // stop or length
  std::atomic<int64_t> requests_cancelled{0};   // client gone before the end
  std::atomic<int64_t> requests_failed{0};      // engine errors
  std::atomic<int64_t> prompt_tokens_total{0};  // prompt tokens prefilled
  std::atomic<int64_t> generated_tokens_total{0};
  std::atomic<int64_t> steps_total{0};  // engine forward calls
  std::atomic<int64_t> running{0};      // sequences holding a slot
  std::atomic<int64_t> queued{0};       // waiting for a slot
  std::atomic<int64_t> kv_slots_total{0};
  std::atomic<int64_t> kv_tokens_used{0};      // tokens in the cache over all slots
  std::atomic<int64_t> kv_tokens_capacity{0};  // slots x ctx
  std::atomic<int64_t> kv_bytes_per_token{0};  // all layers, metadata included
  std::atomic<int64_t> kv_allocated_bytes{0};
  // Paged cache (zero otherwise): blocks of kv_block_tokens tokens.
  std::atomic<int64_t> kv_blocks_total{0};
  std::atomic<int64_t> kv_block_tokens{0};
  std::atomic<int64_t> kv_blocks_used{0};    // held by sequences
  std::atomic<int64_t> kv_blocks_cached{0};  // registered prompt blocks (held or kept for reuse)
  std::atomic<int64_t> prefix_cached_tokens_total{0};  // prompt tokens mapped, not computed
  std::atomic<int64_t> preemptions_total{0};
  std::atomic<int64_t> recomputed_tokens_total{0};  // context tokens prefilled again after one

  // Prometheus text exposition format (version 0.0.4), names prefixed lrkv_.
  std::string render() const;
};

}  // namespace lrkv::serve
