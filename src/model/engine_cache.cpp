// CpuEngine::make_cache and the cache checks of forward(): which cache a model runs with, per
// KvCacheSpec (float, q8_0/q4_0, KIVI, quantized latents).
#include <fmt/format.h>

#include <functional>
#include <utility>

#include "cache/kivi_kv_cache.h"
#include "cache/quantized_row_cache.h"
#include "model/cpu_engine.h"

namespace lrkv {

namespace {

Result<QuantFormat> latent_format(const KvCacheSpec& spec) {
  if (spec.quant == KvQuant::kQ8_0) return q8_0_format();
  if (spec.quant == KvQuant::kQ4_0) return q4_0_format();
  return QuantFormat{spec.latent.symmetric ? QuantScheme::kSymmetric : QuantScheme::kAffine,
                     spec.latent.bits, spec.latent.group};
}

template <typename T>
Result<std::unique_ptr<KvCache>> as_base(Result<std::unique_ptr<T>> r) {
  if (!r.ok()) return r.status();
  return std::unique_ptr<KvCache>(std::move(r).value());
}

}  // namespace

Result<std::unique_ptr<KvCache>> CpuEngine::make_cache(int n_seq, int capacity,
                                                    const KvCacheSpec& spec) const {
  LRKV_RETURN_IF_ERROR(status_);
  LRKV_RETURN_IF_ERROR(spec.validate());
  const int hd = cfg_.head_dim;
  if (!compressed()) {
    if (spec.latent.bits > 0) {
      return make_error(ErrorCode::kInvalidArgument,
                        "--latent-bits needs a compressed model; {} is dense (use "
                        "--kv-type q8_0|q4_0|kivi2)",
                        model_.source_path);
    }
    if (spec.quant == KvQuant::kNone) {
      return as_base(make_dense_kv_cache(cfg_.n_layer, n_seq, capacity, cfg_.kv_dim(), spec.dtype,
                                         spec.paging));
    }
    if (spec.quant == KvQuant::kKivi) {
      if (spec.paging.paged()) {
        return make_error(ErrorCode::kUnsupported,
                          "--kv-type {} keeps per-channel key groups per sequence: it cannot be "
                          "paged (use f16, q8_0 or q4_0)",
                          spec.name());
      }
      return as_base(
          KiviKvCache::create(cfg_.n_layer, n_seq, capacity, cfg_.n_kv_head, hd, spec.kivi));
    }
    if (hd % 32 != 0) {
      return make_error(ErrorCode::kInvalidArgument,
                        "--kv-type {} needs head_dim a multiple of 32 (blocks of 32 "
                        "inside each KV head), this model has {}",
                        spec.name(), hd);
    }
    LRKV_ASSIGN_OR_RETURN(QuantFormat f, latent_format(spec));
    return as_base(
        make_ggml_dense_cache(cfg_.n_layer, n_seq, capacity, cfg_.n_kv_head, hd, f, spec.paging));
  }
  const std::string mode = key_mode_name(latent_[0].key_mode);
  if (!spec.quantized()) {
    std::vector<int> kw, vw;
    for (const LatentLayer& L : latent_) {
      kw.push_back(L.k_width);
      vw.push_back(L.v_width);
    }
    return as_base(
        RowKvCache::create(n_seq, capacity, std::move(kw), std::move(vw), spec.dtype,
                           fmt::format("latent {} ({} keys)", dtype_name(spec.dtype), mode),
                           spec.paging));
  }
  if (spec.quant == KvQuant::kKivi) {
    return make_error(ErrorCode::kInvalidArgument,
                      "--kv-type {} is a dense-cache baseline; {} is compressed: "
                      "quantize its latents with --latent-bits",
                      spec.name(), model_.source_path);
  }
  LRKV_ASSIGN_OR_RETURN(QuantFormat f, latent_format(spec));
  std::vector<RowCodec> kc, vc;
  for (int l = 0; l < cfg_.n_layer; ++l) {
    std::vector<int> kl, vl;
    for (const GroupPlan& g : latent_[l].groups) {
      kl.push_back(g.rank_k);
      vl.push_back(g.rank_v);
    }
    auto k = RowCodec::create(f, kl);
    auto v = RowCodec::create(f, vl);
    if (!k.ok() || !v.ok()) {
      return make_error(ErrorCode::kInvalidArgument, "layer {} latents as {}: {}", l, f.name(),
                        (k.ok() ? v.status() : k.status()).message());
    }
    kc.push_back(std::move(k).value());
    vc.push_back(std::move(v).value());
  }
  return as_base(QuantizedRowCache::create(n_seq, capacity, std::move(kc), std::move(vc),
                                           fmt::format("latent {} ({} keys)", f.name(), mode),
                                           spec.paging));
}

Status CpuEngine::check_cache(const KvCache& cache) const {
  if (cache.n_layer() != cfg_.n_layer) {
    return make_error(ErrorCode::kInvalidArgument, "cache has {} layers, model {}", cache.n_layer(),
                      cfg_.n_layer);
  }
  std::function<std::pair<int, int>(int)> widths;  // K and V row widths of layer l
  if (auto* r = cache.as_rows()) {
    widths = [r](int l) { return std::pair{r->k_width(l), r->v_width(l)}; };
  } else if (auto* q = cache.as_quantized_rows()) {
    widths = [q](int l) { return std::pair{q->k_width(l), q->v_width(l)}; };
  } else if (auto* kivi = cache.as_kivi()) {
    widths = [kivi](int) { return std::pair{kivi->width(), kivi->width()}; };
  } else {
    return make_error(ErrorCode::kUnsupported, "this engine cannot run a '{}' cache", cache.kind());
  }
  for (int l = 0; l < cfg_.n_layer; ++l) {
    const int want_k = compressed() ? latent_[l].k_width : cfg_.kv_dim();
    const int want_v = compressed() ? latent_[l].v_width : cfg_.kv_dim();
    const auto [k, v] = widths(l);
    if (k != want_k || v != want_v) {
      return make_error(
          ErrorCode::kInvalidArgument,
          "cache '{}' layer {} holds rows of {}/{} values, the model needs {}/{} (use make_cache)",
          cache.kind(), l, k, v, want_k, want_v);
    }
  }
  return Status::Ok();
}

}  // namespace lrkv
