// AtomicFile: write to "<path>.tmp.<pid>" and rename over <path> on commit(), so a failed or
// interrupted write never destroys an existing output. Uncommitted temporaries are removed.
#pragma once

#include <cstdio>
#include <string>

#include "core/status.h"

namespace lrkv {

class AtomicFile {
 public:
  static Result<AtomicFile> create(const std::string& path);
  AtomicFile(AtomicFile&& o) noexcept;
  AtomicFile& operator=(AtomicFile&&) = delete;
  ~AtomicFile();

  Status write(const void* data, size_t n);
  Status write_zeros(size_t n);
  uint64_t offset() const { return offset_; }
  // Flushes, fsyncs, closes and renames into place.
  Status commit();
  const std::string& path() const { return path_; }

 private:
  AtomicFile() = default;
  std::string path_, tmp_path_;
  std::FILE* f_ = nullptr;
  uint64_t offset_ = 0;
};

}  // namespace lrkv
