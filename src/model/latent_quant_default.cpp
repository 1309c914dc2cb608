#include "model/latent_quant_default.h"

#include <nlohmann/json.hpp>

namespace lrkv {

namespace {
constexpr const char* kKey = "lrkv.latent_quant";

Status check(const LatentQuantParams& q, const std::string& where) {
  KvCacheSpec s(DType::kF16);
  s.latent = q;
  Status st = s.validate();
  if (!st.ok()) return make_error(ErrorCode::kInvalidArgument, "{}: {}", where, st.message());
  return Status::Ok();
}
}  // namespace

Status set_default_latent_quant(Model& m, const LatentQuantParams& q) {
  if (m.extra_metadata.count("lrkv.plan") == 0) {
    return make_error(ErrorCode::kInvalidArgument, "--latent-bits needs a compressed model; {} is dense",
                      m.source_path);
  }
  LRKV_RETURN_IF_ERROR(check(q, "--latent-bits"));
  nlohmann::json j = {{"bits", q.bits}, {"group", q.group}, {"symmetric", q.symmetric}};
  m.extra_metadata[kKey] = j.dump();
  return Status::Ok();
}

Result<std::optional<LatentQuantParams>> default_latent_quant(const Model& m) {
  auto it = m.extra_metadata.find(kKey);
  if (it == m.extra_metadata.end()) return std::optional<LatentQuantParams>();
  const std::string where = m.source_path + ": metadata " + kKey;
  auto j = nlohmann::json::parse(it->second, nullptr, /*allow_exceptions=*/false);
  if (!j.is_object() || !j.contains("bits") || !j["bits"].is_number_integer() || !j.contains("group") ||
      !j["group"].is_number_integer() || !j.contains("symmetric") || !j["symmetric"].is_boolean()) {
    return make_error(ErrorCode::kInvalidArgument,
                      "{}: expected {{\"bits\": int, \"group\": int, \"symmetric\": bool}}, got '{}'", where,
                      it->second);
  }
  LatentQuantParams q;
  q.bits = j["bits"].get<int>();
  q.group = j["group"].get<int>();
  q.symmetric = j["symmetric"].get<bool>();
  LRKV_RETURN_IF_ERROR(check(q, where));
  return std::optional<LatentQuantParams>(q);
}

}  // namespace lrkv
