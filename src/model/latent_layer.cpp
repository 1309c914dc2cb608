#include "model/latent_layer.h"

#include "core/finite_check.h"
#include "model/model.h"

namespace lrkv {

std::string factor_name(int layer, const char* what, int group) {
  return group < 0 ? fmt::format("blk.{}.lrkv.{}", layer, what) : fmt::format("blk.{}.lrkv.{}.{}", layer, what, group);
}

Result<RankPlan> model_rank_plan(const Model& m) {
  if (!m.compressed()) return make_error(ErrorCode::kNotFound, "{}: not a compressed model", m.source_path);
  return m.compression->plan;
}

namespace {

// Fetches a factor as f32 with the expected shape; optional ones may be absent (empty tensor).
Result<Tensor> factor(const Model& m, const std::string& name, std::vector<int64_t> shape, bool optional) {
  auto it = m.extra_tensors.find(name);
  if (it == m.extra_tensors.end()) {
    if (optional) return Tensor();
    return make_error(ErrorCode::kNotFound, "{}: missing factor tensor '{}' (expected shape {})", m.source_path,
                      name, shape_to_string(shape));
  }
  if (it->second.shape() != shape) {
    return make_error(ErrorCode::kShapeMismatch, "{}: factor tensor '{}' has shape {}, expected {}",
                      m.source_path, name, it->second.shape_str(), shape_to_string(shape));
  }
  if (it->second.dtype() == DType::kF32) return it->second;
  return it->second.to(DType::kF32);
}

void layout_heads(const LlamaConfig& c, LatentLayer& L) {
  const int group = c.group_size();  // query heads per KV head
  int k_off = 0, v_off = 0;
  for (const GroupPlan& g : L.groups) {
    L.group_row_off.push_back(g.kv_head_begin * c.head_dim);
    L.group_lat_k.push_back(k_off);
    L.group_lat_v.push_back(v_off);
    k_off += g.rank_k;
    v_off += g.rank_v;
  }
  L.k_width = k_off;
  L.v_width = v_off;
  for (int h = 0; h < c.n_head; ++h) {
    const int kvh = h / group;
    int gi = 0;
    while (kvh >= L.groups[gi].kv_head_begin + L.groups[gi].n_kv_heads) ++gi;
    const GroupPlan& g = L.groups[gi];
    L.head_group.push_back(gi);
    L.k_off.push_back(L.group_lat_k[gi]);
    L.k_len.push_back(g.rank_k);
    L.v_off.push_back(L.group_lat_v[gi]);
    L.v_len.push_back(g.rank_v);
    L.z_off.push_back(L.z_width);
    L.z_width += g.rank_v;
    L.qk_off.push_back(L.qk_width);
    L.qk_width += g.rank_k;
  }
}

// W̃_o[:, z_off[h] : +r] = W_o[:, h*hd : +hd] · B_v,g[rows of h's KV head, :]; o_bias = Σ_h W_o,h b_v[h].
Status fold_values(const Model& m, LatentLayer& L, const Tensor& wo_in, const Tensor& v_up_bias) {
  const LlamaConfig& c = m.config;
  LRKV_ASSIGN_OR_RETURN(Tensor wo, wo_in.dtype() == DType::kF32 ? Result<Tensor>(wo_in) : wo_in.to(DType::kF32));
  const int64_t d = c.d_model, hd = c.head_dim, q = c.q_dim();
  L.wo_folded = Tensor::zeros(DType::kF32, {d, L.z_width});
  if (!v_up_bias.empty()) L.o_bias = Tensor::zeros(DType::kF32, {d});
  const int group = c.group_size();
  for (int h = 0; h < c.n_head; ++h) {
    const int gi = L.head_group[h];
    const Tensor& B = L.v_up[gi];  // [s*hd, r]
    const int r = L.groups[gi].rank_v;
    const int64_t row0 = (h / group - L.groups[gi].kv_head_begin) * hd;  // h's rows inside the group block
    for (int64_t i = 0; i < d; ++i) {
      const float* wrow = wo.f32() + i * q + h * hd;
      float* out = L.wo_folded.f32() + i * L.z_width + L.z_off[h];
      for (int64_t e = 0; e < hd; ++e) {
        const float w = wrow[e];
        const float* brow = B.f32() + (row0 + e) * r;
        for (int j = 0; j < r; ++j) out[j] += w * brow[j];
      }
      if (!v_up_bias.empty()) {
        const float* bias = v_up_bias.f32() + (h / group) * hd;
        double acc = 0.0;
        for (int64_t e = 0; e < hd; ++e) acc += static_cast<double>(wrow[e]) * bias[e];
        L.o_bias.f32()[i] += static_cast<float>(acc);
      }
    }
  }
  return Status::Ok();
}

}  // namespace

Result<std::vector<LatentLayer>> build_latent_layers(const Model& m, const RankPlan& plan) {
  const LlamaConfig& c = m.config;
  LRKV_RETURN_IF_ERROR(plan.validate(c, m.source_path));
  const int64_t d = c.d_model, kv = c.kv_dim(), hd = c.head_dim;
  std::vector<LatentLayer> layers(c.n_layer);
  for (int l = 0; l < c.n_layer; ++l) {
    LatentLayer& L = layers[l];
    L.key_mode = plan.key_mode;
    L.groups = plan.layers[l].groups;
    layout_heads(c, L);
    const int G = static_cast<int>(L.groups.size());
    if (L.key_mode == KeyMode::kRebuild) {
      LRKV_ASSIGN_OR_RETURN(L.k_down, factor(m, factor_name(l, "k_down"), {L.k_width, d}, false));
      LRKV_ASSIGN_OR_RETURN(L.k_down_bias, factor(m, factor_name(l, "k_down_bias"), {L.k_width}, true));
      LRKV_ASSIGN_OR_RETURN(L.k_up_bias, factor(m, factor_name(l, "k_up_bias"), {kv}, true));
    } else {
      LRKV_ASSIGN_OR_RETURN(L.k_mean, factor(m, factor_name(l, "k_mean"), {kv}, true));
    }
    for (int g = 0; g < G; ++g) {
      const int64_t rows = L.groups[g].n_kv_heads * hd;
      const char* kname = L.key_mode == KeyMode::kRebuild ? "k_up" : "k_proj";
      LRKV_ASSIGN_OR_RETURN(Tensor kt, factor(m, factor_name(l, kname, g), {rows, L.groups[g].rank_k}, false));
      if (L.key_mode == KeyMode::kAbsorbed) {
        Tensor tt = Tensor::zeros(DType::kF32, {L.groups[g].rank_k, rows});
        for (int64_t i = 0; i < rows; ++i) {
          for (int j = 0; j < L.groups[g].rank_k; ++j) tt.f32()[j * rows + i] = kt.f32()[i * L.groups[g].rank_k + j];
        }
        L.k_proj_t.push_back(std::move(tt));
      }
      (L.key_mode == KeyMode::kRebuild ? L.k_up : L.k_proj).push_back(std::move(kt));
      LRKV_ASSIGN_OR_RETURN(Tensor vt, factor(m, factor_name(l, "v_up", g), {rows, L.groups[g].rank_v}, false));
      L.v_up.push_back(std::move(vt));
    }
    LRKV_ASSIGN_OR_RETURN(L.v_down, factor(m, factor_name(l, "v_down"), {L.v_width, d}, false));
    LRKV_ASSIGN_OR_RETURN(L.v_down_bias, factor(m, factor_name(l, "v_down_bias"), {L.v_width}, true));
    LRKV_ASSIGN_OR_RETURN(Tensor v_up_bias, factor(m, factor_name(l, "v_up_bias"), {kv}, true));
    LRKV_RETURN_IF_ERROR(fold_values(m, L, m.weights.layers[l].wo, v_up_bias));
  }
  return layers;
}

Status round_factors(std::vector<LatentLayer>& layers, DType type) {
  if (type == DType::kF32) return Status::Ok();
  std::vector<std::pair<Tensor*, Tensor>> rounded;  // applied once every tensor fits
  for (size_t l = 0; l < layers.size(); ++l) {
    LatentLayer& L = layers[l];
    std::vector<std::pair<const char*, Tensor*>> ts = {{"k_down", &L.k_down}, {"v_down", &L.v_down},
                                                       {"wo_folded", &L.wo_folded}};
    for (Tensor& t : L.k_proj) ts.emplace_back("k_proj", &t);
    for (Tensor& t : L.k_proj_t) ts.emplace_back("k_proj (transposed)", &t);
    for (const auto& [what, t] : ts) {
      if (t->empty()) continue;
      LRKV_ASSIGN_OR_RETURN(Tensor narrow, t->to(type));
      LRKV_ASSIGN_OR_RETURN(Tensor back, narrow.to(DType::kF32));
      const int64_t bad = first_non_finite(DType::kF32, back.data(), back.numel());
      if (bad >= 0) {
        return make_error(ErrorCode::kInvalidArgument, "layer {} factor {}: element {} = {} does not fit {}", l, what,
                          bad, t->f32()[bad], dtype_name(type));
      }
      rounded.emplace_back(t, std::move(back));
    }
  }
  for (auto& [t, r] : rounded) *t = std::move(r);
  return Status::Ok();
}

}  // namespace lrkv
