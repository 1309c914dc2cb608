#include "compress/tune/mkv_export.h"
#include "compress/methods.h"

#include "model/latent_layer.h"
#include "model/rank_plan.h"

namespace lrkv {

namespace {

Tensor f32_tensor(std::vector<int64_t> shape, const std::string& name) {
  return Tensor::zeros(DType::kF32, std::move(shape), name);
}

// Adds layer l's factors to `out` (W_v, b_v of `w` are f32).
void layer_factors(const LlamaConfig& c, const KvProjections& P, int l, const Tensor& wv,
                   const Tensor& bv, std::map<std::string, Tensor>* out) {
  const int64_t hd = c.head_dim, d = c.d_model, kv = c.kv_dim();
  Tensor k_mean = f32_tensor({kv}, factor_name(l, "k_mean"));
  Tensor v_down = f32_tensor({kv, d}, factor_name(l, "v_down"));
  Tensor v_down_bias = f32_tensor({kv}, factor_name(l, "v_down_bias"));
  Tensor v_up_bias = f32_tensor({kv}, factor_name(l, "v_up_bias"));
  for (int g = 0; g < c.n_kv_head; ++g) {
    const KvHeadProjection& p = P.at(l, g);
    Tensor k_proj = f32_tensor({hd, hd}, factor_name(l, "k_proj", g));
    Tensor v_up = f32_tensor({hd, hd}, factor_name(l, "v_up", g));
    std::copy(p.u_k.begin(), p.u_k.end(), k_proj.f32());
    std::copy(p.u_v.begin(), p.u_v.end(), v_up.f32());
    for (int64_t i = 0; i < hd; ++i) {
      k_mean.f32()[g * hd + i] = p.mu_k[i];
      v_up_bias.f32()[g * hd + i] = p.mu_v[i];
    }
    for (int64_t j = 0; j < hd; ++j) {  // latent j of head g: column j of U_V
      float* row = v_down.f32() + (g * hd + j) * d;
      double bias = 0.0;
      for (int64_t i = 0; i < hd; ++i) {
        const float u = p.u_v[i * hd + j];
        const float* w = wv.f32() + (g * hd + i) * d;
        for (int64_t x = 0; x < d; ++x) row[x] += u * w[x];
        bias += static_cast<double>(u) * ((bv.empty() ? 0.0f : bv.f32()[g * hd + i]) - p.mu_v[i]);
      }
      v_down_bias.f32()[g * hd + j] = static_cast<float>(bias);
    }
    (*out)[k_proj.name()] = std::move(k_proj);
    (*out)[v_up.name()] = std::move(v_up);
  }
  for (Tensor* t : {&k_mean, &v_down, &v_down_bias, &v_up_bias}) (*out)[t->name()] = std::move(*t);
}

}  // namespace

Result<Model> mkv_model(const Model& base, const KvProjections& P, const std::string& tune_info) {
  const LlamaConfig& c = base.config;
  if (base.compressed()) {
    return make_error(ErrorCode::kInvalidArgument,
                      "{} is already compressed; tune the original model", base.source_path);
  }
  LRKV_RETURN_IF_ERROR(P.validate(c));
  LRKV_ASSIGN_OR_RETURN(RankPlan plan, uniform_plan(c, "mkv", "head", 1.0));
  Model out;
  out.config = c;
  out.weights = base.weights;  // shares storage
  out.source_path = base.source_path;
  out.source_format = base.source_format;
  out.extra_tensors = base.extra_tensors;
  out.extra_metadata = base.extra_metadata;
  if (base.tokenizer) {
    LRKV_ASSIGN_OR_RETURN(out.tokenizer, make_tokenizer(base.tokenizer->vocab()));
  }
  for (int l = 0; l < c.n_layer; ++l) {
    const LayerWeights& w = base.weights.layers[l];
    LRKV_ASSIGN_OR_RETURN(
        Tensor wv, w.wv.dtype() == DType::kF32 ? Result<Tensor>(w.wv) : w.wv.to(DType::kF32));
    Tensor bv;
    if (!w.bv.empty()) {
      LRKV_ASSIGN_OR_RETURN(
          bv, w.bv.dtype() == DType::kF32 ? Result<Tensor>(w.bv) : w.bv.to(DType::kF32));
    }
    layer_factors(c, P, l, wv, bv, &out.extra_tensors);
  }
  CompressedAttention& ca = out.compression.emplace();
  ca.plan = plan;
  ca.provenance["version"] = "1";
  if (!tune_info.empty()) ca.provenance["tune"] = tune_info;
  return out;
}

}  // namespace lrkv
