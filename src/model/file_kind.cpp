#include "model/file_kind.h"


#include <nlohmann/json.hpp>

#include <algorithm>
#include <cctype>
#include <cstring>
#include <filesystem>
#include <fstream>

#include "model/compression.h"

namespace lrkv {

namespace {

constexpr uint64_t kMaxJsonBytes = 64ull << 20;  // plans and reports are far smaller

std::string json_kind(const nlohmann::json& j) {
  if (j.is_object() && j.contains("weight_map")) return "";  // a sharded safetensors index: a model
  if (j.is_object() && j.contains("method") && j.contains("layers") && j.contains("key_mode")) {
    return "an lrkv rank plan (JSON, from `lrkv plan`)";
  }
  if (j.is_object() && j.contains("settings") && j.contains("cells")) {
    return "an lrkv eval report (JSON, from `lrkv eval`)";
  }
  if (j.is_object() && j.contains("model_type")) return "a HF config.json (pass its directory)";
  return "a JSON file";
}

// Metadata of a safetensors header that marks an lrkv side file.
std::string safetensors_kind(std::ifstream& in, uint64_t size) {
  uint64_t n = 0;
  in.seekg(0);
  if (!in.read(reinterpret_cast<char*>(&n), 8) || n > size - 8 || n > kMaxJsonBytes) return "";
  std::string text(n, '\0');
  if (!in.read(text.data(), static_cast<std::streamsize>(n))) return "";
  const nlohmann::json h = nlohmann::json::parse(text, nullptr, false);
  if (!h.is_object() || !h.contains("__metadata__") || !h["__metadata__"].is_object()) return "";
  const nlohmann::json& m = h["__metadata__"];
  // A compressed model keeps its calibration's provenance under the same key; its plan entry
  // (written by io/compression_metadata.cpp) tells it apart.
  if (m.contains("lrkv.calibration") && !m.contains("lrkv.plan")) return "lrkv calibration statistics (from `lrkv calibrate`)";
  if (m.contains("lrkv.tune.kind")) return "an lrkv tune checkpoint (from --checkpoint)";
  return "";
}

}  // namespace

std::string non_model_kind(const std::string& path) {
  std::error_code ec;
  if (!std::filesystem::is_regular_file(path, ec) || path.ends_with(".safetensors.index.json")) return "";
  const uint64_t size = std::filesystem::file_size(path, ec);
  if (ec || size < 8) return "";
  std::ifstream in(path, std::ios::binary);
  char head[8] = {};
  if (!in.read(head, 8)) return "";
  if (std::memcmp(head, "\x89PNG\r\n\x1a\n", 8) == 0) return "a PNG image";
  if (std::memcmp(head, "LRKVLGP1", 8) == 0) return "an lrkv logits file (from --save-logits)";
  if (std::memcmp(head, "GGUF", 4) == 0) return "";
  size_t first = 0;
  while (first < 8 && std::isspace(static_cast<unsigned char>(head[first]))) ++first;
  if (first < 8 && (head[first] == '{' || head[first] == '[') && size <= kMaxJsonBytes) {
    std::string text(size, '\0');
    in.seekg(0);
    if (in.read(text.data(), static_cast<std::streamsize>(size))) {
      const nlohmann::json j = nlohmann::json::parse(text, nullptr, false);
      if (!j.is_discarded()) return json_kind(j);
    }
  }
  in.clear();
  const std::string st = safetensors_kind(in, size);
  if (!st.empty()) return st;
  // A llama2.c header is 7 little-endian int32 sizes: their high bytes are 0, never text.
  char header[28] = {};
  in.clear();
  in.seekg(0);
  auto texty = [](char c) {
    const auto u = static_cast<unsigned char>(c);
    return std::isprint(u) || std::isspace(u);
  };
  if (size >= 28 && in.read(header, 28) && std::all_of(header, header + 28, texty)) {
    return "a text file";
  }
  return "";
}

Status refuse_non_model(const std::string& path) {
  const std::string kind = non_model_kind(path);
  if (kind.empty()) return Status::Ok();
  return make_error(ErrorCode::kInvalidArgument, "{} is {}, not a model", path, kind);
}

}  // namespace lrkv
