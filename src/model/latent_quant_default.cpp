#include "model/latent_quant_default.h"

namespace lrkv {

Status set_default_latent_quant(Model& m, const LatentQuantParams& q) {
  if (!m.compressed()) {
    return make_error(ErrorCode::kInvalidArgument, "--latent-bits needs a compressed model; {} is dense",
                      m.source_path);
  }
  KvCacheSpec s(DType::kF16);
  s.latent = q;
  Status st = s.validate();
  if (!st.ok()) return make_error(ErrorCode::kInvalidArgument, "--latent-bits: {}", st.message());
  m.compression->latent_quant = q;
  return Status::Ok();
}

Result<std::optional<LatentQuantParams>> default_latent_quant(const Model& m) {
  if (!m.compressed()) return std::optional<LatentQuantParams>();
  return m.compression->latent_quant;
}

}  // namespace lrkv
