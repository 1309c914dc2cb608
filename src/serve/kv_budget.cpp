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

}  // namespace lrkv::serve
