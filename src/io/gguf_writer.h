// GGUF v3 writer (little-endian): metadata, tensor infos, aligned data. The file is written
// through AtomicFile, so a failed write never replaces an existing file. Tensors are written in
// their own dtype (f32, f16, bf16, or pre-quantized GGML blocks: q8_0, q4_0, q4_K, q6_K).
// Not thread-safe; the writer holds references to the added tensors' data (shared storage).
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "core/tensor.h"
#include "io/gguf_value.h"

namespace lrkv {

class GgufWriter {
 public:
  explicit GgufWriter(uint32_t alignment = kGgufDefaultAlignment) : alignment_(alignment) {}

  // Sets metadata `key` (replacing an earlier value); keys are written in first-set order.
  void set(const std::string& key, GgufValue value);
  // Adds a tensor written under `name` (1..4 dims; the last dim must be a whole number of
  // blocks for block types). Errors: kInvalidArgument (duplicate name, bad shape),
  // kUnsupported (a dtype without a GGML type id).
  Status add_tensor(const std::string& name, const Tensor& t);
  // Writes the file (version 3). Errors: kIoError naming `path`.
  Status write(const std::string& path) const;

  // The header bytes (magic .. tensor infos, padded to the alignment); for tests and write().
  std::string header_bytes() const;

 private:
  uint32_t alignment_;
  std::vector<std::pair<std::string, GgufValue>> metadata_;
  std::vector<std::pair<std::string, Tensor>> tensors_;
};

}  // namespace lrkv
