// Bounds-checked little-endian reader over a byte span; every read reports truncation with the
// file name and offset instead of reading past the end.
#pragma once

#include <cstdint>
#include <cstring>
#include <string>

#include "core/status.h"

namespace lrkv {

class ByteReader {
 public:
  ByteReader(const uint8_t* data, uint64_t size, std::string source)
      : data_(data), size_(size), source_(std::move(source)) {}

  uint64_t offset() const { return pos_; }
  uint64_t remaining() const { return size_ - pos_; }
  const uint8_t* cursor() const { return data_ + pos_; }
  const std::string& source() const { return source_; }

  template <typename T>
  Status read(T* out, const char* what) {
    if (remaining() < sizeof(T)) return truncated(sizeof(T), what);
    std::memcpy(out, data_ + pos_, sizeof(T));
    pos_ += sizeof(T);
    return Status::Ok();
  }
  Status read_bytes(uint64_t n, std::string* out, const char* what) {
    if (remaining() < n) return truncated(n, what);
    out->assign(reinterpret_cast<const char*>(data_ + pos_), n);
    pos_ += n;
    return Status::Ok();
  }
  Status skip(uint64_t n, const char* what) {
    if (remaining() < n) return truncated(n, what);
    pos_ += n;
    return Status::Ok();
  }
  Status seek(uint64_t pos, const char* what) {
    if (pos > size_) return truncated(pos - pos_, what);
    pos_ = pos;
    return Status::Ok();
  }
  Status truncated(uint64_t need, const char* what) const {
    return make_error(ErrorCode::kCorruptFile,
                      "{}: truncated: need {} bytes for {} at offset {}, file has {} bytes", source_,
                      need, what, pos_, size_);
  }

 private:
  const uint8_t* data_;
  uint64_t size_;
  uint64_t pos_ = 0;
  std::string source_;
};

}  // namespace lrkv
