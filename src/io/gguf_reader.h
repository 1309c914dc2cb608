// GGUF v2/v3 reader (little-endian): header, metadata, tensor infos, and tensor data as views of
// the memory-mapped file. Every count, length and offset is checked against the file size before
// it is used, so a corrupt file gives a one-line kCorruptFile error naming the file and the field
// being read, never a crash or a huge allocation. Cost: one pass over the header; data untouched.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "core/mmap_file.h"
#include "core/tensor.h"
#include "io/gguf_value.h"

namespace lrkv {

struct GgufTensorInfo {
  std::string name;
  DType dtype = DType::kF32;
  std::vector<int64_t> shape;  // row-major: GGUF ne[] reversed (ne[0], contiguous, is last)
  uint64_t offset = 0;         // from the start of the data section
  uint64_t nbytes = 0;
};

class GgufFile {
 public:
  const std::string& path() const { return path_; }
  uint32_t version() const { return version_; }
  uint32_t alignment() const { return alignment_; }
  uint64_t data_offset() const { return data_offset_; }  // absolute start of the data section

  // Metadata in file order.
  const std::vector<std::pair<std::string, GgufValue>>& metadata() const { return metadata_; }
  // The value of `key`, or nullptr.
  const GgufValue* find(const std::string& key) const;
  // Typed lookups naming the file and key in errors: kNotFound when absent and `required`
  // (when not required, an absent key leaves *out unchanged), kCorruptFile for the wrong type
  // (ints accept any integer type within int64; floats accept any number).
  Status get_int(const std::string& key, int64_t* out, bool required = true) const;
  Status get_float(const std::string& key, double* out, bool required = true) const;
  Status get_bool(const std::string& key, bool* out, bool required = true) const;
  Status get_string(const std::string& key, std::string* out, bool required = true) const;

  const std::vector<GgufTensorInfo>& tensors() const { return tensors_; }
  // The info of tensor `name`, or nullptr.
  const GgufTensorInfo* find_tensor(const std::string& name) const;
  // A view of the tensor's bytes in the mapped file (kept alive by the view).
  Tensor view(const GgufTensorInfo& info) const;

 private:
  friend class GgufParser;
  std::string path_;
  uint32_t version_ = 0;
  uint32_t alignment_ = kGgufDefaultAlignment;
  uint64_t data_offset_ = 0;
  std::vector<std::pair<std::string, GgufValue>> metadata_;
  std::vector<GgufTensorInfo> tensors_;
  std::shared_ptr<MappedFile> file_;
};

// Maps and parses `path`. Errors: kIoError (cannot open), kCorruptFile (bad magic, truncation,
// bad sizes), kUnsupported (version other than 2/3, unknown tensor type id).
Result<GgufFile> read_gguf(const std::string& path);

}  // namespace lrkv
