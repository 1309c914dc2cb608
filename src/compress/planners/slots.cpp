#include "compress/planners/slots.h"

#include "compress/methods.h"

#include <cmath>
#include <functional>

#include "compress/factorize.h"

namespace lrkv {

std::vector<Slot> enumerate_slots(const LlamaConfig& cfg, int s) {
  std::vector<Slot> slots;
  for (int l = 0; l < cfg.n_layer; ++l) {
    for (int g = 0; g < cfg.n_kv_head / s; ++g) {
      for (bool v : {false, true}) slots.push_back({l, g, v, g * s, s, s * cfg.head_dim});
    }
  }
  return slots;
}

int64_t budget_target(const LlamaConfig& cfg, double budget) {
  return std::llround(budget * 2.0 * cfg.n_layer * cfg.kv_dim());
}

RankPlan assemble_plan(const LlamaConfig& cfg, const std::vector<Slot>& slots, const std::vector<int>& ranks,
                       const std::string& method, const std::string& granularity, const std::string& planner,
                       double budget, KeyMode mode) {
  RankPlan p;
  p.method = method;
  p.granularity = granularity;
  p.planner = planner;
  p.budget = budget;
  p.key_mode = mode;
  p.layers.resize(cfg.n_layer);
  for (size_t i = 0; i < slots.size(); ++i) {
    const Slot& s = slots[i];
    auto& groups = p.layers[s.layer].groups;
    if (static_cast<int>(groups.size()) <= s.group) groups.resize(s.group + 1);
    GroupPlan& g = groups[s.group];
    g.kv_head_begin = s.kv_head_begin;
    g.n_kv_heads = s.n_kv_heads;
    (s.is_v ? g.rank_v : g.rank_k) = ranks[i];
  }
  return p;
}

Status fix_total(const std::vector<Slot>& slots, std::vector<int>* ranks, int64_t target, const MarginalFn& value) {
  int64_t lo = static_cast<int64_t>(slots.size()), hi = 0, total = 0;
  for (size_t i = 0; i < slots.size(); ++i) {
    hi += slots[i].full;
    (*ranks)[i] = std::clamp((*ranks)[i], 1, slots[i].full);
    total += (*ranks)[i];
  }
  if (target < lo || target > hi) {
    return make_error(ErrorCode::kInvalidArgument, "budget of {} kept dimensions is outside [{}, {}] for {} slots",
                      target, lo, hi, slots.size());
  }
  while (total != target) {
    const bool add = total < target;
    size_t best = slots.size();
    double best_v = 0.0;
    for (size_t i = 0; i < slots.size(); ++i) {
      const int r = (*ranks)[i];
      if (add ? r >= slots[i].full : r <= 1) continue;
      const double v = add ? value(i, r) : value(i, r - 1);  // value of dimension index r (0-based)
      if (best == slots.size() || (add ? v > best_v : v < best_v)) {
        best = i;
        best_v = v;
      }
    }
    (*ranks)[best] += add ? 1 : -1;
    total += add ? 1 : -1;
  }
  return Status::Ok();
}

Result<std::vector<std::vector<double>>> slot_spectra(const Model& m, const std::vector<Slot>& slots,
                                                      const std::string& method, const CalibrationStats* calib) {
  LRKV_ASSIGN_OR_RETURN(const MethodDesc* desc, find_method(method));
  const Factoriser fz = desc->factoriser;
  if (fz != Factoriser::kPlainSvd && calib == nullptr) {
    return make_error(ErrorCode::kInvalidArgument, "spectra of method '{}' need calibration statistics (--calib)", method);
  }
  const int64_t hd = m.config.head_dim;
  std::vector<std::vector<double>> out(slots.size());
  for (size_t i = 0; i < slots.size(); ++i) {
    const Slot& s = slots[i];
    const int64_t row0 = s.kv_head_begin * hd, rows = s.full;
    const Tensor& w = s.is_v ? m.weights.layers[s.layer].wv : m.weights.layers[s.layer].wk;
    if (fz == Factoriser::kActivationPca || fz == Factoriser::kTrained) {
      const MomentStats& mom = s.is_v ? calib->layers[s.layer].v : calib->layers[s.layer].k_post;
      LRKV_ASSIGN_OR_RETURN(Eigh e, eigh(mom.covariance(calib->n_tokens, row0, rows)));
      for (double& v : e.w) v = std::max(v, 0.0);
      out[i] = std::move(e.w);
      continue;
    }
    LRKV_ASSIGN_OR_RETURN(Tensor f, w.dtype() == DType::kF32 ? Result<Tensor>(w) : w.to(DType::kF32));
    Mat W(rows, w.dim(1));
    for (int64_t r = 0; r < rows; ++r) {
      for (int64_t c = 0; c < W.cols; ++c) W(r, c) = f.f32()[(row0 + r) * W.cols + c];
    }
    if (fz == Factoriser::kWhitenedSvd) {
      LRKV_ASSIGN_OR_RETURN(Mat L, cholesky_lower(calib->layers[s.layer].xtx));
      W = matmul(W, L);
    }
    LRKV_ASSIGN_OR_RETURN(Svd sv, svd(W));
    for (double& v : sv.s) v = v * v;
    sv.s.resize(rows, 0.0);  // ranks above min(rows, d) add nothing
    out[i] = std::move(sv.s);
  }
  return out;
}

}  // namespace lrkv
