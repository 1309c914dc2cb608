// Perplexity window flags shared by `perplexity` and `eval`: -c/--ctx, --stride, -b/--batch,
// --max-tokens, range-checked (flag_ranges.h). Unset --ctx/--stride (0) mean the model's context
// and --ctx; an explicit value beyond the model's context is refused after loading
// (check_ctx_fits).
#pragma once

#include <CLI/CLI.hpp>

#include "eval/perplexity.h"
#include "flag_ranges.h"

namespace lrkv::cli {

inline void add_window_options(CLI::App* cmd, PerplexityOptions* p, const std::string& max_tokens_help) {
  cmd->add_option("-c,--ctx", p->ctx, "Window length in tokens (default: the model's context)")
      ->check(int_range(2, kMaxLen));
  cmd->add_option("--stride", p->stride, "Window stride (default: --ctx, no overlap)")
      ->check(int_range(1, kMaxLen));
  cmd->add_option("-b,--batch", p->batch, "Windows per forward pass")
      ->capture_default_str()
      ->check(int_range(1, kMaxBatch));
  cmd->add_option("--max-tokens", p->max_tokens, max_tokens_help)->check(int_range(0, kMaxCount));
}

}  // namespace lrkv::cli
