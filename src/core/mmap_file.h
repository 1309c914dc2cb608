// Read-only memory map of a whole file. Zero-length files map to an empty span (no error here;
// format readers report them as truncated with the file name).
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "core/status.h"

namespace lrkv {

class MappedFile {
 public:
  static Result<std::shared_ptr<MappedFile>> open(const std::string& path);
  ~MappedFile();
  MappedFile(const MappedFile&) = delete;
  MappedFile& operator=(const MappedFile&) = delete;

  const uint8_t* data() const { return data_; }
  uint64_t size() const { return size_; }
  const std::string& path() const { return path_; }

 private:
  MappedFile() = default;
  const uint8_t* data_ = nullptr;
  uint64_t size_ = 0;
  std::string path_;
};

// Reads a whole (small) file into a string. A file larger than `max_bytes` is refused before
// reading (kCorruptFile naming the file, its size and the limit).
Result<std::string> read_text_file(const std::string& path, uint64_t max_bytes = UINT64_MAX);

// Size limits of the JSON side files of a checkpoint: far above any real one (Llama 3's
// tokenizer.json is 9 MB, a 405B index 0.1 MB), low enough that parsing them stays a bounded cost.
constexpr uint64_t kMaxTokenizerJsonBytes = uint64_t{256} << 20;
constexpr uint64_t kMaxConfigJsonBytes = uint64_t{16} << 20;
// Writes `bytes` to `path` atomically: writes path.tmp-XXXX then renames over path.
Status write_file_atomic(const std::string& path, const std::string& bytes);

}  // namespace lrkv
