#include "compress/tune/checkpoint.h"

#include <fmt/format.h>

#include "io/safetensors_file.h"

namespace lrkv {

Result<std::string> Checkpoint::meta(const std::string& key) const {
  auto it = metadata.find(key);
  if (it == metadata.end())
    return make_error(ErrorCode::kNotFound, "checkpoint has no '{}' metadata", key);
  return it->second;
}

Result<int64_t> Checkpoint::meta_int(const std::string& key) const {
  LRKV_ASSIGN_OR_RETURN(std::string s, meta(key));
  try {
    size_t used = 0;
    const long long v = std::stoll(s, &used);
    if (used == s.size()) return static_cast<int64_t>(v);
  } catch (const std::exception&) {
  }
  return make_error(ErrorCode::kCorruptFile, "checkpoint metadata '{}' = '{}' is not an integer",
                    key, s);
}

Result<const Tensor*> Checkpoint::tensor(const std::string& name, int64_t n, DType dtype) const {
  auto it = tensors.find(name);
  if (it == tensors.end())
    return make_error(ErrorCode::kNotFound, "checkpoint has no tensor '{}'", name);
  if (it->second.dtype() != dtype) {
    return make_error(ErrorCode::kCorruptFile, "checkpoint tensor '{}' is {}, expected {}", name,
                      dtype_name(it->second.dtype()), dtype_name(dtype));
  }
  if (n >= 0 && it->second.numel() != n) {
    return make_error(ErrorCode::kShapeMismatch,
                      "checkpoint tensor '{}' has {} values, expected {}", name, it->second.numel(),
                      n);
  }
  return &it->second;
}

Status save_checkpoint(const Checkpoint& c, const std::string& path) {
  std::vector<SafetensorsEntry> entries;
  entries.reserve(c.tensors.size());
  for (const auto& [name, t] : c.tensors) entries.push_back({name, &t});
  Status s = write_safetensors(path, entries, c.metadata);
  if (!s.ok()) s.with_context("saving checkpoint " + path);
  return s;
}

Result<Checkpoint> load_checkpoint(const std::string& path) {
  LRKV_ASSIGN_OR_RETURN(SafetensorsFile f, read_safetensors(path));
  Checkpoint c;
  c.metadata = f.metadata;
  for (auto& [name, t] : f.tensors) {
    if (t.dtype() != DType::kF32 && t.dtype() != DType::kF64) {
      return make_error(ErrorCode::kCorruptFile,
                        "{}: checkpoint tensor '{}' is {}, expected F32 or F64", path, name,
                        dtype_name(t.dtype()));
    }
    c.tensors[name] = t.clone();  // independent of the mapping
  }
  if (!c.metadata.count("lrkv.tune.kind")) {
    return make_error(ErrorCode::kCorruptFile,
                      "{}: not an lrkv tune checkpoint (no lrkv.tune.kind)", path);
  }
  return c;
}

std::string model_fingerprint(const LlamaConfig& cfg) {
  return fmt::format("layers={} d={} heads={}/{} hd={} vocab={}", cfg.n_layer, cfg.d_model,
                     cfg.n_head, cfg.n_kv_head, cfg.head_dim, cfg.n_vocab);
}

}  // namespace lrkv
