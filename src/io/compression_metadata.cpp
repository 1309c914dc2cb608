#include "io/compression_metadata.h"

#include <nlohmann/json.hpp>

namespace lrkv {

namespace {

constexpr const char* kPrefix = "lrkv.";
constexpr const char* kPlan = "lrkv.plan";
constexpr const char* kHadamard = "lrkv.hadamard";
constexpr const char* kLatentQuant = "lrkv.latent_quant";
constexpr const char* kProvenance[] = {"lrkv.version", "lrkv.calibration", "lrkv.tune"};

Result<LatentQuantParams> parse_latent_quant(const std::string& text, const std::string& where) {
  auto j = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (!j.is_object() || !j.contains("bits") || !j["bits"].is_number_integer() || !j.contains("group") ||
      !j["group"].is_number_integer() || !j.contains("symmetric") || !j["symmetric"].is_boolean()) {
    return make_error(ErrorCode::kInvalidArgument,
                      "{}: expected {{\"bits\": int, \"group\": int, \"symmetric\": bool}}, got '{}'", where, text);
  }
  LatentQuantParams q;
  q.bits = j["bits"].get<int>();
  q.group = j["group"].get<int>();
  q.symmetric = j["symmetric"].get<bool>();
  KvCacheSpec s(DType::kF16);
  s.latent = q;
  Status st = s.validate();
  if (!st.ok()) return make_error(ErrorCode::kInvalidArgument, "{}: {}", where, st.message());
  return q;
}

}  // namespace

Status read_compression_metadata(Model& m) {
  auto& meta = m.extra_metadata;
  auto take = [&](const char* key) -> std::optional<std::string> {
    auto it = meta.find(key);
    if (it == meta.end()) return std::nullopt;
    std::string v = std::move(it->second);
    meta.erase(it);
    return v;
  };
  std::optional<std::string> plan = take(kPlan);
  std::optional<std::string> hadamard = take(kHadamard);
  std::optional<std::string> quant = take(kLatentQuant);
  if (!plan) {
    if (hadamard || quant) {
      return make_error(ErrorCode::kCorruptFile, "{}: metadata {} without {} (not a compressed model)",
                        m.source_path, hadamard ? kHadamard : kLatentQuant, kPlan);
    }
    return Status::Ok();
  }
  CompressedAttention c;
  LRKV_ASSIGN_OR_RETURN(c.plan, RankPlan::parse(*plan, m.source_path + " (" + kPlan + ")"));
  LRKV_RETURN_IF_ERROR(c.plan.validate(m.config, m.source_path));
  if (hadamard) {
    if (*hadamard != "1" && *hadamard != "0") {
      return make_error(ErrorCode::kCorruptFile, "{}: metadata {} is '{}', expected 1 or 0", m.source_path, kHadamard,
                        *hadamard);
    }
    c.hadamard = *hadamard == "1";
  }
  if (quant) {
    LRKV_ASSIGN_OR_RETURN(LatentQuantParams q,
                          parse_latent_quant(*quant, m.source_path + ": metadata " + kLatentQuant));
    c.latent_quant = q;
  }
  for (const char* key : kProvenance) {
    if (auto v = take(key)) c.provenance[std::string(key).substr(std::char_traits<char>::length(kPrefix))] = *v;
  }
  m.compression = std::move(c);
  return Status::Ok();
}

std::map<std::string, std::string> compression_metadata(const Model& m) {
  std::map<std::string, std::string> out;
  if (!m.compression) return out;
  const CompressedAttention& c = *m.compression;
  out[kPlan] = c.plan.to_json().dump();
  if (c.hadamard) out.emplace(kHadamard, std::string(1, '1'));  // (GCC 12 -Wrestrict false positive on = "1")
  if (c.latent_quant) {
    const LatentQuantParams& q = *c.latent_quant;
    out[kLatentQuant] = nlohmann::json{{"bits", q.bits}, {"group", q.group}, {"symmetric", q.symmetric}}.dump();
  }
  for (const auto& [key, value] : c.provenance) out[kPrefix + key] = value;
  return out;
}

}  // namespace lrkv
