#include "model/latent_hadamard.h"

#include "kernels/hadamard.h"
#include "model/latent_layer.h"
#include "model/rank_plan.h"

namespace lrkv {

namespace {

// The factor as a fresh f32 tensor (stored back in the model), or null when absent.
Result<Tensor*> writable(Model& m, const std::string& name, bool optional) {
  auto it = m.extra_tensors.find(name);
  if (it == m.extra_tensors.end()) {
    if (optional) return static_cast<Tensor*>(nullptr);
    return make_error(ErrorCode::kNotFound, "{}: missing factor tensor '{}'", m.source_path, name);
  }
  LRKV_ASSIGN_OR_RETURN(Tensor t, it->second.to(DType::kF32));
  t.set_name(name);
  it->second = std::move(t);
  return &it->second;
}

// Rotates one side (keys "k" or values "v") of one layer.
Status fold_side(Model& m, int l, const LayerPlan& lp, KeyMode mode, bool keys) {
  const char* down_name = keys ? "k_down" : "v_down";
  const char* bias_name = keys ? "k_down_bias" : "v_down_bias";
  const char* up_name = keys ? (mode == KeyMode::kRebuild ? "k_up" : "k_proj") : "v_up";
  const bool has_down = !keys || mode == KeyMode::kRebuild;
  Tensor* down = nullptr;
  Tensor* bias = nullptr;
  if (has_down) {
    LRKV_ASSIGN_OR_RETURN(down, writable(m, factor_name(l, down_name), false));
    LRKV_ASSIGN_OR_RETURN(bias, writable(m, factor_name(l, bias_name), true));
  }
  int64_t off = 0;
  for (size_t g = 0; g < lp.groups.size(); ++g) {
    const int64_t r = keys ? lp.groups[g].rank_k : lp.groups[g].rank_v;
    LRKV_ASSIGN_OR_RETURN(Tensor * up,
                          writable(m, factor_name(l, up_name, static_cast<int>(g)), false));
    if (up->ndim() != 2 || up->dim(1) != r ||
        (down && (down->ndim() != 2 || down->dim(0) < off + r))) {
      return make_error(ErrorCode::kShapeMismatch,
                        "{}: layer {} group {}: factor shapes do not match the plan "
                        "(rank {})",
                        m.source_path, l, g, r);
    }
    const int64_t d = down ? down->dim(1) : 0;
    fold_hadamard(down ? down->f32() + off * d : nullptr, d, r, d,
                  bias ? bias->f32() + off : nullptr, up->f32(), r, up->dim(0));
    off += r;
  }
  return Status::Ok();
}

}  // namespace

bool has_hadamard(const Model& m) { return m.compressed() && m.compression->hadamard; }

Status fold_hadamard_factors(Model& m) {
  LRKV_ASSIGN_OR_RETURN(RankPlan plan, model_rank_plan(m));
  if (has_hadamard(m)) {
    return make_error(ErrorCode::kInvalidArgument, "{}: the Hadamard rotation is already folded in",
                      m.source_path);
  }
  for (int l = 0; l < static_cast<int>(plan.layers.size()); ++l) {
    LRKV_RETURN_IF_ERROR(fold_side(m, l, plan.layers[l], plan.key_mode, true));
    LRKV_RETURN_IF_ERROR(fold_side(m, l, plan.layers[l], plan.key_mode, false));
  }
  m.compression->hadamard = true;
  return Status::Ok();
}

}  // namespace lrkv
