// Saved next-token distributions of a baseline model, for KL comparisons (like
// llama-perplexity --kl-divergence-base). Layout (little-endian):
//   "LRKVLGP1" | u32 n_vocab | u32 reserved
//   rows: u64 target index | u32 target id | n_vocab x f16 log-probabilities
//   trailer: u64 n_rows | "LRKVEND1"
// f16 log-probs keep ~5e-4 absolute precision near 0 (64 KiB per row at a 32K vocabulary).
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "core/atomic_file.h"
#include "core/mmap_file.h"

namespace lrkv {

class LogitsWriter {
 public:
  static Result<LogitsWriter> create(const std::string& path, int n_vocab);
  // Appends the distribution (from raw logits) predicting target `id` at stream index `index`.
  Status add(int64_t index, int id, const float* logits);
  Status finish();
  LogitsWriter(LogitsWriter&&) = default;

 private:
  explicit LogitsWriter(AtomicFile f, int n_vocab) : file_(std::move(f)), n_vocab_(n_vocab) {}
  AtomicFile file_;
  int n_vocab_;
  uint64_t rows_ = 0;
  std::vector<float> lp_;
  std::vector<uint16_t> half_;
};

class LogitsReader {
 public:
  // Maps and checks the file (size, targets, no NaN/+Inf log-probs: one pass over the rows).
  static Result<LogitsReader> open(const std::string& path);
  int n_vocab() const { return n_vocab_; }
  uint64_t n_rows() const { return n_rows_; }
  uint64_t index(uint64_t row) const;
  int target(uint64_t row) const;
  // Log-probabilities of row `row` as f32 into out[n_vocab]; a NaN or positive value (a corrupt
  // or hand-edited row) is an error naming the file, row and token.
  Status log_probs(uint64_t row, float* out) const;

 private:
  Status check_rows(const std::string& path) const;  // targets in range, no NaN / +Inf

  std::shared_ptr<MappedFile> file_;
  std::string path_;
  int n_vocab_ = 0;
  uint64_t n_rows_ = 0;
  uint64_t row_bytes_ = 0;
};

}  // namespace lrkv
