#include "serve/kv_budget.h"

#include <cctype>
#include <cmath>
#include <cstdlib>

namespace lrkv::serve {

Result<int64_t> parse_byte_size(const std::string& flag, const std::string& text) {
  static const std::pair<const char*, double> kUnits[] = {{"", 1.0},
                                                          {"B", 1.0},
                                                          {"KiB", 1024.0},
                                                          {"MiB", 1048576.0},
                                                          {"GiB", 1073741824.0},
                                                          {"TiB", 1099511627776.0},
                                                          {"KB", 1e3},
                                                          {"MB", 1e6},
                                                          {"GB", 1e9},
                                                          {"TB", 1e12}};
  char* end = nullptr;
  const double v = std::strtod(text.c_str(), &end);
  const std::string unit = end == nullptr ? "" : std::string(end);
  for (const auto& [name, scale] : kUnits) {
    if (unit == name && end != text.c_str() && std::isfinite(v) && v > 0 && v * scale < 9e18) {
      return static_cast<int64_t>(v * scale);
    }
  }
  return make_error(ErrorCode::kInvalidArgument,
                    "{} {}: expected a positive size such as 8GiB, 512MiB, 2GB or a byte count",
                    flag, text);
}

Result<SlotCost> slot_cost(const Engine& engine, const KvCacheSpec& spec, int ctx) {
  LRKV_ASSIGN_OR_RETURN(std::unique_ptr<KvCache> probe, engine.make_cache(1, ctx, spec));
  return SlotCost{probe->bytes_per_token(), probe->allocated_bytes()};
}

Result<int> slots_for_budget(int64_t bytes_per_slot, int ctx, int64_t budget, int parallel) {
  const int64_t fit = bytes_per_slot > 0 ? budget / bytes_per_slot : parallel;
  if (fit < 1) {
    return make_error(
        ErrorCode::kInvalidArgument,
        "--kv-budget {} bytes holds no sequence of --ctx {} tokens ({} bytes each); raise "
        "--kv-budget or lower --ctx",
        budget, ctx, bytes_per_slot);
  }
  return static_cast<int>(std::min<int64_t>(parallel, fit));
}

Result<CachePlan> plan_cache(const Engine& engine, KvCacheSpec spec, int ctx, int64_t budget,
                             int parallel, int block_rows) {
  CachePlan plan;
  LRKV_ASSIGN_OR_RETURN(SlotCost cost, slot_cost(engine, spec, ctx));
  plan.bytes_per_token = cost.bytes_per_token;
  if (block_rows > 0) {
    KvCacheSpec paged = spec;
    paged.paging = {1, block_rows};
    auto probe = engine.make_cache(1, ctx, paged);
    if (probe.ok()) {
      const int64_t block_bytes = cost.bytes_per_token * block_rows;
      const int64_t per_seq = (int64_t{ctx} + block_rows - 1) / block_rows;
      const int64_t n_blocks = std::min<int64_t>(budget / block_bytes, int64_t{1} << 30);
      if (n_blocks < per_seq) {
        return make_error(ErrorCode::kInvalidArgument,
                          "--kv-budget {} bytes holds {} blocks of {} tokens ({} bytes each), "
                          "fewer than one sequence of --ctx {} needs ({}); raise --kv-budget or "
                          "lower --ctx",
                          budget, n_blocks, block_rows, block_bytes, ctx, per_seq);
      }
      paged.paging.n_blocks = static_cast<int>(n_blocks);
      plan.spec = paged;
      plan.slots = parallel;
      plan.reserved_bytes = n_blocks * block_bytes;
      return plan;
    }
    if (probe.status().code() != ErrorCode::kUnsupported) return probe.status();
    plan.unpaged_reason = probe.status().message();
  }
  LRKV_ASSIGN_OR_RETURN(plan.slots, slots_for_budget(cost.bytes_per_slot, ctx, budget, parallel));
  plan.spec = spec;
  plan.reserved_bytes = cost.bytes_per_slot * plan.slots;
  return plan;
}

}  // namespace lrkv::serve
