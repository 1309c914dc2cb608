#include "cache_args.h"

#include "cache/kivi_kv_cache.h"
#include "core/log.h"
#include "model/latent_hadamard.h"
#include "model/latent_quant_default.h"

namespace lrkv::cli {

void CacheArgs::add_to(CLI::App* cmd) {
  cmd->add_option("--kv-type", kv_type,
                  "KV cache: f32, f16, bf16 (float rows), q8_0, q4_0 (llama.cpp blocks of "
                  "32), kivi2, kivi4 (KIVI, dense models)")
      ->capture_default_str();
  latent_bits_flag = cmd->add_option("--latent-bits", latent.bits,
                                     "Compressed models: quantize latents to 8, 4, 3 or 2 bits (0 = keep "
                                     "--kv-type floats; default: the model's own, if `lrkv compress "
                                     "--latent-bits` stored one, else 0)");
  cmd->add_option("--latent-group", latent.group,
                  "Latent values per fp16 scale inside a group slice (0 = the "
                  "whole slice)")
      ->capture_default_str();
  cmd->add_flag("--latent-sym", latent.symmetric,
                "Symmetric latent quantisation (scale only, no minimum)");
  cmd->add_option("--kivi-group", kivi.group, "KIVI: key tokens / value channels per scale")
      ->capture_default_str();
  cmd->add_option("--kivi-residual", kivi.residual,
                  "KIVI: recent tokens kept in fp16 (a multiple of --kivi-group)")
      ->capture_default_str();
  cmd->add_flag("--hadamard", hadamard,
                "Compressed models: fold the Walsh-Hadamard rotation into the latent "
                "factors at load (spreads outliers before --latent-bits quantisation)");
}

Status CacheArgs::prepare(Model& m) const {
  if (!hadamard) return Status::Ok();
  if (!m.compressed()) {
    return make_error(ErrorCode::kInvalidArgument,
                      "--hadamard needs a compressed model; {} is dense", m.source_path);
  }
  if (has_hadamard(m)) {
    log_info("{}: the Hadamard rotation is already folded in", m.source_path);
    return Status::Ok();
  }
  return fold_hadamard_factors(m);
}

Result<KvCacheSpec> CacheArgs::spec(const Model* model) const {
  LRKV_ASSIGN_OR_RETURN(KvCacheSpec s, parse_kv_type("--kv-type", kv_type));
  s.latent = latent;
  const bool explicit_bits = latent_bits_flag != nullptr && latent_bits_flag->count() > 0;
  if (model != nullptr && !explicit_bits) {
    LRKV_ASSIGN_OR_RETURN(std::optional<LatentQuantParams> stored, default_latent_quant(*model));
    if (stored) {
      s.latent = *stored;
      log_info("{}: latent cache {}-bit g{} {} (stored by lrkv compress; --latent-bits 0 for floats)",
               model->source_path, stored->bits, stored->group, stored->symmetric ? "sym" : "asym");
    }
  }
  if (s.quant == KvQuant::kKivi) {
    const int bits = s.kivi.bits;
    s.kivi = kivi;
    s.kivi.bits = bits;
  }
  LRKV_RETURN_IF_ERROR(s.validate());
  return s;
}

double bytes_per_token_at(const LlamaConfig& cfg, const KvCacheSpec& spec, int64_t steady,
                          int ctx) {
  if (spec.quant != KvQuant::kKivi || ctx <= 0) return static_cast<double>(steady);
  auto c = KiviKvCache::create(cfg.n_layer, 1, 1, cfg.n_kv_head, cfg.head_dim, spec.kivi);
  if (!c.ok()) return static_cast<double>(steady);
  int64_t total = 0;
  for (int l = 0; l < cfg.n_layer; ++l) total += (*c)->bytes_at_length(l, ctx);
  return static_cast<double>(total) / ctx;
}

}  // namespace lrkv::cli
