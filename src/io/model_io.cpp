#include <sys/stat.h>

#include <cstring>
#include <fstream>

#include "io/model_io.h"
#include "model/file_kind.h"
#include "core/finite_check.h"
#include "model/model.h"

namespace lrkv {

namespace {
bool ends_with(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}
}  // namespace

Status check_model_finite(const Model& model) {
  Status status;
  auto& weights = const_cast<LlamaWeights&>(model.weights);  // for_each_weight only reads here
  for_each_weight(model.config, weights, [&](const WeightSlot& s) {
    if (status.ok()) status = check_finite(*s.tensor, model.source_path);
  });
  LRKV_RETURN_IF_ERROR(status);
  for (const auto& [name, t] : model.extra_tensors) {
    LRKV_RETURN_IF_ERROR(check_finite(t, model.source_path));
  }
  const std::vector<float>& f = model.config.rope_freq_factors;
  if (!f.empty()) {
    const int64_t bad = first_non_finite(DType::kF32, f.data(), static_cast<int64_t>(f.size()));
    if (bad >= 0) {
      return make_error(ErrorCode::kCorruptFile,
                        "{}: rope_freqs.weight has a non-finite value at index {}; expected "
                        "finite frequency factors",
                        model.source_path, bad);
    }
  }
  return Status::Ok();
}

namespace {
Result<Model> load_by_format(const std::string& path, const LoadOptions& options) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) {
    return make_error(ErrorCode::kIoError, "{}: cannot open: {}", path, std::strerror(errno));
  }
  if (!S_ISDIR(st.st_mode)) LRKV_RETURN_IF_ERROR(refuse_non_model(path));
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
}  // namespace

Result<Model> load_model(const std::string& path, const LoadOptions& options) {
  LRKV_ASSIGN_OR_RETURN(Model m, load_by_format(path, options));
  // Token ids at or above the model's vocabulary would index past the embedding table.
  if (m.tokenizer && m.tokenizer->n_vocab() > m.config.n_vocab) {
    const std::string& tok = options.tokenizer_path.empty() ? std::string("its tokenizer") : options.tokenizer_path;
    return make_error(ErrorCode::kInvalidArgument, "{}: tokenizer {} has {} tokens, but the model's vocabulary is {}",
                      path, tok, m.tokenizer->n_vocab(), m.config.n_vocab);
  }
  if (options.check_finite) LRKV_RETURN_IF_ERROR(check_model_finite(m));
  return m;
}

Status save_model(const Model& model, const std::string& path) {
  if (ends_with(path, ".gguf")) return save_gguf(model, path);
  if (ends_with(path, ".safetensors")) return save_safetensors(model, path);
  return make_error(ErrorCode::kInvalidArgument,
                    "output '{}': unknown format; use a .gguf or .safetensors extension", path);
}

}  // namespace lrkv
