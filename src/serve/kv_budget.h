// KV budget: how many sequence slots of `ctx` tokens fit in a byte budget, from the bytes the
// cache itself reserves per slot (quantization metadata included). `--kv-budget 8GiB` -> slots.
#pragma once

#include <cstdint>
#include <string>

#include "cache/kv_cache_spec.h"
#include "core/status.h"
#include "model/engine.h"

namespace lrkv::serve {

// "8GiB", "512MiB", "1.5GB", "1000000" (bytes) -> bytes; the error names `flag`.
Result<int64_t> parse_byte_size(const std::string& flag, const std::string& text);

// What one sequence slot of `ctx` tokens costs in a cache of `spec` for this engine's model:
// the steady bytes per token (all layers) and the bytes a slot reserves (exact: includes, e.g.,
// KIVI's fp16 window of recent tokens).
struct SlotCost {
  int64_t bytes_per_token = 0;
  int64_t bytes_per_slot = 0;
};
Result<SlotCost> slot_cost(const Engine& engine, const KvCacheSpec& spec, int ctx);

// min(parallel, budget / bytes_per_slot); an error naming --kv-budget and --ctx when not even
// one slot fits.
Result<int> slots_for_budget(int64_t bytes_per_slot, int ctx, int64_t budget, int parallel);

// The server's cache from its flags. Paged (block_rows > 0 and the engine can page this cache:
// host row caches on the CPU, every CUDA cache): n_blocks = budget / (bytes per token x
// block_rows), at least the blocks of one --ctx sequence, and `parallel` sequence slots.
// Otherwise (block_rows 0, KIVI) slots_for_budget's whole-context slots.
struct CachePlan {
  KvCacheSpec spec;           // spec.paging set when paged
  int slots = 0;              // sequences running at once
  int64_t bytes_per_token = 0;
  int64_t reserved_bytes = 0;  // the cache's allocation
  std::string unpaged_reason;  // why not paged (empty when paged or not asked)
};
Result<CachePlan> plan_cache(const Engine& engine, KvCacheSpec spec, int ctx, int64_t budget,
                             int parallel, int block_rows);

}  // namespace lrkv::serve
