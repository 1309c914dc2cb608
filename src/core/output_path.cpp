#include "core/output_path.h"

#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>

namespace lrkv {

namespace fs = std::filesystem;

bool same_file(const std::string& a, const std::string& b) {
  struct stat sa {}, sb {};
  if (::stat(a.c_str(), &sa) != 0 || ::stat(b.c_str(), &sb) != 0) return false;
  return sa.st_dev == sb.st_dev && sa.st_ino == sb.st_ino;
}

namespace {

Status bad(const OutputPath& o, const std::string& what) {
  return make_error(ErrorCode::kInvalidArgument, "{} {}: {}", o.flag, o.path, what);
}

std::string joined(const std::vector<std::string>& v) {
  std::string s;
  for (const auto& e : v) s += (s.empty() ? "" : " or ") + e;
  return s;
}

Status check_one(const OutputPath& o) {
  const fs::path p(o.path);
  if (!o.extensions.empty()) {
    const std::string ext = p.extension().string();
    if (std::find(o.extensions.begin(), o.extensions.end(), ext) == o.extensions.end()) {
      return bad(o, fmt::format("expected a {} file name", joined(o.extensions)));
    }
  }
  std::error_code ec;
  const bool is_dir = fs::is_directory(p, ec);
  if (!o.directory && is_dir) return bad(o, "is a directory, expected a file name");
  if (o.directory && !is_dir && fs::exists(p, ec)) return bad(o, "exists and is not a directory");
  fs::path parent = p.parent_path();
  if (parent.empty()) parent = ".";
  if (!fs::is_directory(parent, ec)) {
    return bad(o, fmt::format("directory {} does not exist", parent.string()));
  }
  if (::access(parent.c_str(), W_OK | X_OK) != 0) {
    return bad(o, fmt::format("directory {} is not writable", parent.string()));
  }
  return Status::Ok();
}

}  // namespace

Status check_output_paths(const std::vector<OutputPath>& outputs,
                          const std::vector<std::string>& inputs) {
  for (size_t i = 0; i < outputs.size(); ++i) {
    const OutputPath& o = outputs[i];
    if (o.path.empty()) continue;
    LRKV_RETURN_IF_ERROR(check_one(o));
    for (const std::string& in : inputs) {
      if (!in.empty() && same_file(o.path, in)) {
        return bad(o, fmt::format("is the input {}; refusing to overwrite an input", in));
      }
    }
    for (size_t j = 0; j < i; ++j) {
      const OutputPath& e = outputs[j];
      if (e.path.empty()) continue;
      if (fs::path(e.path).lexically_normal() == fs::path(o.path).lexically_normal() ||
          same_file(e.path, o.path)) {
        return bad(o, fmt::format("is also the output of {}", e.flag));
      }
    }
  }
  return Status::Ok();
}

}  // namespace lrkv
