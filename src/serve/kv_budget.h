// KV budget: how many sequence slots of `ctx` tokens fit in a byte budget, from the cache's own
// exact bytes_per_token (quantization metadata included). `--kv-budget 8GiB` -> slots.
#pragma once

#include <cstdint>
#include <string>

#include "cache/kv_cache_spec.h"
#include "core/status.h"
#include "model/engine.h"

namespace lrkv::serve {

// "8GiB", "512MiB", "1.5GB", "1000000" (bytes) -> bytes; the error names `flag`.
Result<int64_t> parse_byte_size(const std::string& flag, const std::string& text);

// Bytes one token takes in a cache of `spec` for this engine's model (all layers).
Result<int64_t> kv_bytes_per_token(const Engine& engine, const KvCacheSpec& spec, int ctx);

// min(parallel, budget / (bytes_per_token * ctx)); an error when not even one slot fits.
Result<int> slots_for_budget(int64_t bytes_per_token, int ctx, int64_t budget, int parallel);

}  // namespace lrkv::serve
