#include "flag_ranges.h"

#include <charconv>
#include <cmath>

namespace lrkv::cli {

CLI::Validator int_range(int64_t lo, int64_t hi) {
  return CLI::Validator(
      [lo, hi](std::string& s) -> std::string {
        int64_t v = 0;
        const auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
        if (ec == std::errc::result_out_of_range) return fmt::format("{} is outside [{}, {}]", s, lo, hi);
        if (ec != std::errc() || end != s.data() + s.size()) return fmt::format("'{}' is not an integer", s);
        if (v < lo || v > hi) return fmt::format("{} is outside [{}, {}]", s, lo, hi);
        return "";
      },
      fmt::format("INT in [{}, {}]", lo, hi));
}

CLI::Validator real_range(double lo, double hi, bool open_low) {
  return CLI::Validator(
      [lo, hi, open_low](std::string& s) -> std::string {
        char* end = nullptr;
        const double v = std::strtod(s.c_str(), &end);
        if (s.empty() || end != s.c_str() + s.size()) return fmt::format("'{}' is not a number", s);
        const bool ok = std::isfinite(v) && (open_low ? v > lo : v >= lo) && v <= hi;
        if (!ok) return fmt::format("{} is outside {}{}, {}]", s, open_low ? "(" : "[", lo, hi);
        return "";
      },
      fmt::format("NUM in {}{}, {}]", open_low ? "(" : "[", lo, hi));
}

Status check_ctx_fits(const char* flag, int64_t ctx, const LlamaConfig& cfg) {
  if (ctx > cfg.max_seq) {
    return make_error(ErrorCode::kInvalidArgument, "{} {} exceeds the model's context length {}", flag, ctx,
                      cfg.max_seq);
  }
  return Status::Ok();
}

}  // namespace lrkv::cli
