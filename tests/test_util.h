// Helpers shared by the unit tests: paths to ../shared assets, temp dirs, tolerances.
#pragma once

#include <gtest/gtest.h>

#include <cstdint>
#include <initializer_list>
#include <ostream>
#include <string>
#include <vector>

#include "cache/kv_cache_spec.h"
#include "compress/linalg.h"
#include "core/status.h"
#include "model/llama_config.h"
#include "model/model.h"

namespace lrkv::test {

// Absolute path of a file under ../shared (e.g. "models/stories260K/stories260K.bin").
std::string shared_path(const std::string& rel);
bool shared_exists(const std::string& rel);
// A fresh empty directory under the system temp dir, removed at process exit.
std::string temp_dir();
// Path of the built lrkv CLI binary.
std::string cli_path();
// Runs a shell command, returns its exit code; stdout+stderr captured into *output.
int run_command(const std::string& cmd, std::string* output);

// A tiny random Llama config (GQA, awkward sizes) for unit tests.
LlamaConfig tiny_config(int n_layer = 2, int n_head = 4, int n_kv_head = 2, int head_dim = 6);

// Logits [n_tokens, n_vocab] of one sequence run through the engine with the model's own cache
// kind (dense or latent) stored as `spec`; failures are reported as test failures.
std::vector<float> logits_of(const Model& m, const std::vector<int>& tokens, const KvCacheSpec& spec = {});

// n samples of N(0, scale^2) from a fresh std::mt19937(seed): the same numbers for the same seed
// on every platform the tests run on (libstdc++).
std::vector<float> randn(size_t n, uint32_t seed, float scale = 1.0f);
// A rows x cols Mat of N(0, scale^2) doubles from a fresh std::mt19937(seed), row-major order.
Mat randn_mat(int64_t rows, int64_t cols, uint32_t seed, double scale = 1.0);

// Expects `s` to fail with `code` and a one-line message containing every string of `mentions`
// (the file, flag or tensor the error is about); on failure prints the whole status.
void expect_error(const Status& s, ErrorCode code,
                  std::initializer_list<std::string> mentions = {});

// max |a - b| and the index where it occurs.
struct MaxDiff {
  double value = 0.0;
  size_t index = 0;
};
MaxDiff max_abs_diff(const std::vector<float>& a, const std::vector<float>& b);

// A paged cache of `dtype` rows (KvCacheSpec::paging): n_blocks blocks of block_rows rows.
inline KvCacheSpec paged_spec(int n_blocks, int block_rows, DType dtype = DType::kF16) {
  KvCacheSpec spec(dtype);
  spec.paging = {n_blocks, block_rows};
  return spec;
}

}  // namespace lrkv::test

namespace lrkv {
// gtest printers (found by argument-dependent lookup): EXPECT_EQ on configs and error codes shows
// the fields instead of raw bytes.
void PrintTo(const LlamaConfig& c, std::ostream* os);
void PrintTo(ErrorCode code, std::ostream* os);
}  // namespace lrkv

// Skips the current test when a shared asset is absent.
#define LRKV_REQUIRE_SHARED(rel)                                                           \
  do {                                                                                    \
    if (!::lrkv::test::shared_exists(rel)) GTEST_SKIP() << "missing shared asset " << (rel) \
                                                        << " (see ../shared/README.md)";  \
  } while (0)
