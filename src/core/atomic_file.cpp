#include "core/atomic_file.h"

#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <vector>

namespace lrkv {

Result<AtomicFile> AtomicFile::create(const std::string& path) {
  AtomicFile f;
  f.path_ = path;
  f.tmp_path_ = path + ".tmp." + std::to_string(::getpid());
  f.f_ = std::fopen(f.tmp_path_.c_str(), "wb");
  if (f.f_ == nullptr) {
    return make_error(ErrorCode::kIoError, "{}: cannot create: {}", path, std::strerror(errno));
  }
  return f;
}

AtomicFile::AtomicFile(AtomicFile&& o) noexcept
    : path_(std::move(o.path_)), tmp_path_(std::move(o.tmp_path_)), f_(o.f_), offset_(o.offset_) {
  o.f_ = nullptr;
  o.tmp_path_.clear();
}

AtomicFile::~AtomicFile() {
  if (f_ != nullptr) {
    std::fclose(f_);
    std::remove(tmp_path_.c_str());
  }
}

Status AtomicFile::write(const void* data, size_t n) {
  if (n == 0) return Status::Ok();
  if (std::fwrite(data, 1, n, f_) != n) {
    return make_error(ErrorCode::kIoError, "{}: write failed: {}", path_, std::strerror(errno));
  }
  offset_ += n;
  return Status::Ok();
}

Status AtomicFile::write_zeros(size_t n) {
  static const std::vector<char> zeros(4096, 0);
  while (n > 0) {
    size_t k = std::min(n, zeros.size());
    LRKV_RETURN_IF_ERROR(write(zeros.data(), k));
    n -= k;
  }
  return Status::Ok();
}

Status AtomicFile::commit() {
  if (f_ == nullptr) return make_error(ErrorCode::kInternal, "{}: commit twice", path_);
  bool ok = std::fflush(f_) == 0 && ::fsync(::fileno(f_)) == 0;
  ok = (std::fclose(f_) == 0) && ok;
  f_ = nullptr;
  if (!ok || std::rename(tmp_path_.c_str(), path_.c_str()) != 0) {
    std::remove(tmp_path_.c_str());
    return make_error(ErrorCode::kIoError, "{}: cannot finish writing: {}", path_, std::strerror(errno));
  }
  return Status::Ok();
}

}  // namespace lrkv
