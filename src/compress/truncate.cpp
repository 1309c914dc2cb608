#include "compress/truncate.h"

#include <cstring>

#include "model/latent_layer.h"

namespace lrkv {

namespace {

// Rows [r0, r0 + n) of a 2-D f32 tensor appended into `dst` at row `at`.
void copy_rows(const Tensor& src, int64_t r0, int64_t n, Tensor* dst, int64_t at) {
  const int64_t cols = src.ndim() == 2 ? src.dim(1) : 1;
  std::memcpy(dst->f32() + at * cols, src.f32() + r0 * cols, static_cast<size_t>(n * cols) * 4);
}

// First `r` columns of a [rows, R] f32 tensor.
Tensor first_columns(const Tensor& src, int64_t r, const std::string& name) {
  const int64_t rows = src.dim(0), R = src.dim(1);
  Tensor t = Tensor::zeros(DType::kF32, {rows, r}, name);
  for (int64_t i = 0; i < rows; ++i) std::memcpy(t.f32() + i * r, src.f32() + i * R, static_cast<size_t>(r) * 4);
  return t;
}

Result<Tensor> get(const Model& m, const std::string& name) {
  auto it = m.extra_tensors.find(name);
  if (it == m.extra_tensors.end()) return make_error(ErrorCode::kNotFound, "missing factor '{}'", name);
  if (it->second.dtype() != DType::kF32) return it->second.to(DType::kF32);
  return it->second;
}

// Slices the concatenated per-group down matrix (and bias) from `from` ranks to `to` ranks.
Status slice_down(const Model& full, int l, const char* what, const std::vector<int>& from,
                  const std::vector<int>& to, Model* out) {
  const std::string name = factor_name(l, what);
  auto t = get(full, name);
  if (!t.ok()) return (std::string(what).find("bias") != std::string::npos) ? Status::Ok() : t.status();
  int64_t total = 0;
  for (int r : to) total += r;
  std::vector<int64_t> shape = t->shape();
  shape[0] = total;
  Tensor d = Tensor::zeros(DType::kF32, shape, name);
  int64_t src = 0, dst = 0;
  for (size_t g = 0; g < from.size(); ++g) {
    copy_rows(*t, src, to[g], &d, dst);
    src += from[g];
    dst += to[g];
  }
  out->extra_tensors[name] = std::move(d);
  return Status::Ok();
}

}  // namespace

Result<Model> truncate_to_plan(const Model& full, const RankPlan& plan) {
  LRKV_ASSIGN_OR_RETURN(RankPlan fp, model_rank_plan(full));
  LRKV_RETURN_IF_ERROR(plan.validate(full.config, "truncated plan"));
  if (fp.key_mode != plan.key_mode || fp.layers.size() != plan.layers.size()) {
    return make_error(ErrorCode::kInvalidArgument, "cannot truncate a {} plan to a {} plan", key_mode_name(fp.key_mode),
                      key_mode_name(plan.key_mode));
  }
  Model out;
  out.config = full.config;
  out.weights = full.weights;
  out.source_path = full.source_path;
  out.source_format = full.source_format;
  out.extra_tensors = full.extra_tensors;
  out.extra_metadata = full.extra_metadata;
  out.compression = full.compression;
  if (full.tokenizer) {
    LRKV_ASSIGN_OR_RETURN(out.tokenizer, make_tokenizer(full.tokenizer->vocab()));
  }
  for (size_t l = 0; l < plan.layers.size(); ++l) {
    const auto& fg = fp.layers[l].groups;
    const auto& tg = plan.layers[l].groups;
    if (fg.size() != tg.size()) return make_error(ErrorCode::kInvalidArgument, "layer {}: different groups", l);
    std::vector<int> fk, fv, tk, tv;
    for (size_t g = 0; g < fg.size(); ++g) {
      if (fg[g].kv_head_begin != tg[g].kv_head_begin || fg[g].n_kv_heads != tg[g].n_kv_heads ||
          tg[g].rank_k > fg[g].rank_k || tg[g].rank_v > fg[g].rank_v) {
        return make_error(ErrorCode::kInvalidArgument, "layer {} group {}: plan is not a truncation of the model's", l, g);
      }
      fk.push_back(fg[g].rank_k);
      fv.push_back(fg[g].rank_v);
      tk.push_back(tg[g].rank_k);
      tv.push_back(tg[g].rank_v);
      const int li = static_cast<int>(l), gi = static_cast<int>(g);
      const char* kname = plan.key_mode == KeyMode::kRebuild ? "k_up" : "k_proj";
      LRKV_ASSIGN_OR_RETURN(Tensor ku, get(full, factor_name(li, kname, gi)));
      out.extra_tensors[factor_name(li, kname, gi)] = first_columns(ku, tg[g].rank_k, factor_name(li, kname, gi));
      LRKV_ASSIGN_OR_RETURN(Tensor vu, get(full, factor_name(li, "v_up", gi)));
      out.extra_tensors[factor_name(li, "v_up", gi)] = first_columns(vu, tg[g].rank_v, factor_name(li, "v_up", gi));
    }
    const int li = static_cast<int>(l);
    if (plan.key_mode == KeyMode::kRebuild) {
      LRKV_RETURN_IF_ERROR(slice_down(full, li, "k_down", fk, tk, &out));
      LRKV_RETURN_IF_ERROR(slice_down(full, li, "k_down_bias", fk, tk, &out));
    }
    LRKV_RETURN_IF_ERROR(slice_down(full, li, "v_down", fv, tv, &out));
    LRKV_RETURN_IF_ERROR(slice_down(full, li, "v_down_bias", fv, tv, &out));
  }
  out.compression->plan = plan;
  return out;
}

}  // namespace lrkv
