#include "io/safetensors_index.h"

#include <filesystem>
#include <nlohmann/json.hpp>
#include <set>

#include "core/mmap_file.h"
#include "io/safetensors_file.h"

namespace lrkv {

namespace {
namespace fs = std::filesystem;
using json = nlohmann::json;

bool ends_with(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() &&
         s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

// Adds every tensor of `f` (read from `file`) to `out`; a name seen before is an error.
Status add_file(SafetensorsFile f, const std::string& file, SafetensorsWeights* out) {
  if (out->metadata.empty()) out->metadata = std::move(f.metadata);
  for (auto& [name, t] : f.tensors) {
    auto [it, inserted] = out->tensors.emplace(name, SafetensorsWeights::Entry{std::move(t), file});
    if (!inserted) {
      return make_error(ErrorCode::kCorruptFile, "{}: tensor '{}' is also in {}", file, name,
                        it->second.file);
    }
  }
  return Status::Ok();
}

// weight_map: tensor name -> shard file name (relative, inside the index's directory).
Result<std::map<std::string, std::string>> read_weight_map(const std::string& index) {
  LRKV_ASSIGN_OR_RETURN(const std::string text, read_text_file(index, kMaxConfigJsonBytes));
  json j;
  try {
    j = json::parse(text);
  } catch (const json::exception& e) {
    return make_error(ErrorCode::kCorruptFile, "{}: bad JSON: {}", index, e.what());
  }
  if (!j.is_object() || !j.contains("weight_map") || !j["weight_map"].is_object()) {
    return make_error(ErrorCode::kCorruptFile, "{}: missing object 'weight_map'", index);
  }
  std::map<std::string, std::string> map;
  for (auto it = j["weight_map"].begin(); it != j["weight_map"].end(); ++it) {
    const fs::path shard = it->is_string() ? fs::path(it->get<std::string>()) : fs::path();
    bool inside = !shard.empty() && shard.is_relative();
    for (const auto& part : shard) inside = inside && part != "..";
    if (!inside) {
      return make_error(ErrorCode::kCorruptFile,
                        "{}: weight_map['{}'] = {} is not a shard file "
                        "name inside the model directory",
                        index, it.key(), it->dump());
    }
    map[it.key()] = shard.string();
  }
  return map;
}

Result<SafetensorsWeights> read_sharded(const std::string& index, SafetensorsWeights out) {
  LRKV_ASSIGN_OR_RETURN(const auto map, read_weight_map(index));
  std::set<std::string> shards;
  for (const auto& [name, shard] : map) shards.insert(shard);
  for (const std::string& shard : shards) {
    const std::string file = (fs::path(out.dir) / shard).string();
    LRKV_ASSIGN_OR_RETURN(SafetensorsFile f, read_safetensors(file));
    LRKV_RETURN_IF_ERROR(add_file(std::move(f), file, &out));
  }
  for (const auto& [name, shard] : map) {
    auto it = out.tensors.find(name);
    const std::string file = (fs::path(out.dir) / shard).string();
    if (it == out.tensors.end() || it->second.file != file) {
      return make_error(ErrorCode::kNotFound,
                        "{}: tensor '{}' is mapped to {} but that shard does "
                        "not hold it",
                        index, name, shard);
    }
  }
  return out;
}
}  // namespace

Result<SafetensorsWeights> read_safetensors_weights(const std::string& path) {
  SafetensorsWeights out;
  std::error_code ec;
  std::string file = path;
  if (fs::is_directory(path, ec)) {
    const fs::path single = fs::path(path) / "model.safetensors";
    const fs::path index = fs::path(path) / "model.safetensors.index.json";
    if (fs::exists(single, ec)) {
      file = single.string();
    } else if (fs::exists(index, ec)) {
      file = index.string();
    } else {
      return make_error(ErrorCode::kNotFound,
                        "{}: no model.safetensors or "
                        "model.safetensors.index.json in this directory",
                        path);
    }
  }
  const fs::path parent = fs::path(file).parent_path();
  out.dir = (parent.empty() ? fs::path(".") : parent).string();
  out.source = file;
  if (ends_with(file, ".json")) return read_sharded(file, std::move(out));
  LRKV_ASSIGN_OR_RETURN(SafetensorsFile f, read_safetensors(file));
  LRKV_RETURN_IF_ERROR(add_file(std::move(f), file, &out));
  return out;
}

}  // namespace lrkv
