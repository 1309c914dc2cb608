#include <sys/stat.h>

#include <cstring>
#include <fstream>

#include "io/model_io.h"

namespace lrkv {


namespace {
bool ends_with(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}
}  // namespace

Result<Model> load_model(const std::string& path, const LoadOptions& options) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) {
    return make_error(ErrorCode::kIoError, "{}: cannot open: {}", path, std::strerror(errno));
  }
  if (S_ISDIR(st.st_mode) || ends_with(path, ".safetensors.index.json") ||
      ends_with(path, ".safetensors")) {
    return load_safetensors(path, options);
  }
  std::ifstream in(path, std::ios::binary);
  char magic[9] = {};
  in.read(magic, 9);
  const std::streamsize got = in.gcount();
  if (got == 0) return make_error(ErrorCode::kCorruptFile, "{}: file is empty (0 bytes)", path);
  if (got >= 4 && std::memcmp(magic, "GGUF", 4) == 0) return load_gguf(path, options);
  if (got >= 4 && std::memcmp(magic, "FUGG", 4) == 0) {
    return make_error(ErrorCode::kUnsupported, "{}: big-endian GGUF is not supported", path);
  }
  if (got == 9 && magic[8] == '{') return load_safetensors(path, options);
  if (ends_with(path, ".gguf")) {
    return make_error(ErrorCode::kCorruptFile, "{}: wrong magic: expected 'GGUF' at offset 0", path);
  }
  return load_llama2c(path, options);
}

Status save_model(const Model& model, const std::string& path) {
  if (ends_with(path, ".gguf")) return save_gguf(model, path);
  if (ends_with(path, ".safetensors")) return save_safetensors(model, path);
  return make_error(ErrorCode::kInvalidArgument,
                    "output '{}': unknown format; use a .gguf or .safetensors extension", path);
}

}  // namespace lrkv
