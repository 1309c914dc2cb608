// Raw safetensors files (https://github.com/huggingface/safetensors):
//   [u64 LE header length N][N bytes of JSON header][data section]
// The header maps tensor name -> {"dtype", "shape", "data_offsets": [begin, end)} with offsets
// relative to the data section, plus an optional "__metadata__" string->string map.
// Reading validates every field before use and returns views into the mmap'd file; writing goes
// through AtomicFile so an existing file is never lost on failure.
#pragma once

#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "core/mmap_file.h"
#include "core/tensor.h"

namespace lrkv {

struct SafetensorsFile {
  std::shared_ptr<MappedFile> file;
  std::map<std::string, Tensor> tensors;  // name -> view into `file` (copied only if misaligned)
  std::map<std::string, std::string> metadata;  // "__metadata__"
};

// Maps and parses `path`. Only F32/F16/BF16/F64 tensors are accepted (others: kUnsupported naming the
// tensor and dtype). All errors are one line naming the file (and tensor where relevant).
Result<SafetensorsFile> read_safetensors(const std::string& path);

// Parses an in-memory safetensors image (used by read_safetensors; `source` names it in errors).
// Tensors view `data` and keep `owner` alive.
Result<SafetensorsFile> parse_safetensors(const uint8_t* data, uint64_t size,
                                          std::shared_ptr<void> owner, const std::string& source);

// One tensor to write, under `name`.
struct SafetensorsEntry {
  std::string name;
  const Tensor* tensor;
};

// Writes `entries` (F32/F16/BF16/F64 only) atomically to `path`. The header is padded with spaces to
// a multiple of 8 bytes; tensors are laid out contiguously, widest dtype first, so every tensor is
// aligned to its element size. `metadata` becomes "__metadata__".
Status write_safetensors(const std::string& path, const std::vector<SafetensorsEntry>& entries,
                         const std::map<std::string, std::string>& metadata);

// "F32" / "F16" / "BF16" for writable dtypes, nullptr otherwise.
const char* safetensors_dtype_name(DType t);

}  // namespace lrkv
