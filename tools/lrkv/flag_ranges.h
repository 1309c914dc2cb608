// Range checks for numeric flags, as CLI11 validators: a value outside the range fails parsing
// with one line naming the flag, the value and the range ("lrkv: error: --ctx: 0 is outside
// [2, 16777216]"), exit code 2. A flag's default is not checked (0 may mean "the model's").
#pragma once

#include <CLI/CLI.hpp>

#include <cstdint>

#include "core/status.h"
#include "model/llama_config.h"

namespace lrkv::cli {

constexpr int64_t kMaxCount = int64_t{1} << 40;  // token and step counts
constexpr int64_t kMaxLen = int64_t{1} << 24;    // context lengths (LlamaConfig's cap)
constexpr int64_t kMaxBatch = 4096;
constexpr uint64_t kDefaultSeed = 1;  // every command's --seed default

// Integer in [lo, hi].
CLI::Validator int_range(int64_t lo, int64_t hi);
// Finite real in [lo, hi], or (lo, hi] with open_low.
CLI::Validator real_range(double lo, double hi, bool open_low = false);

// An explicit context length (`flag` given as `ctx` > 0) must not exceed the model's trained
// context; the error names both numbers.
Status check_ctx_fits(const char* flag, int64_t ctx, const LlamaConfig& cfg);

}  // namespace lrkv::cli
