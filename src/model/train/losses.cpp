#include "model/train/losses.h"

#include <algorithm>
#include <cmath>

#include "core/thread_pool.h"

namespace lrkv {

namespace {

struct ExpRow {
  double lse;  // log Σ exp(x)
  float inv;   // 1 / Σ exp(x − max x): softmax = e · inv
};

// e[i] = exp(x[i] − max x) in float, sum in double.
ExpRow exp_row(const float* x, int64_t n, float* e) {
  float mx = -INFINITY;
  for (int64_t i = 0; i < n; ++i) mx = std::max(mx, x[i]);
  double s = 0.0;
  for (int64_t i = 0; i < n; ++i) s += (e[i] = std::exp(x[i] - mx));
  return {mx + std::log(s), static_cast<float>(1.0 / s)};
}

// One row: returns its CE term (0 without a target), writes its KL term to *kl and the weighted
// gradient a·(p_S − onehot) + b·(p_S − p_T) to g (g may alias x, not tx).
double row_loss(const float* x, const float* tx, int target, int64_t V, double a, double b,
                float* es, float* et, float* g, double* kl) {
  const ExpRow rs = exp_row(x, V, es);
  const double lse = rs.lse, ce = target >= 0 ? lse - x[target] : 0.0;
  const float inv_s = rs.inv;
  const float fa = static_cast<float>(target >= 0 ? a : 0.0);
  if (tx == nullptr) {
    for (int64_t v = 0; v < V; ++v) g[v] = fa * (es[v] * inv_s);
  } else {
    const ExpRow rt = exp_row(tx, V, et);
    const double tlse = rt.lse;
    const float inv_t = rt.inv;
    const float fb = static_cast<float>(b);
    double k = 0.0;
    for (int64_t v = 0; v < V; ++v) {
      const float ps = es[v] * inv_s, pt = et[v] * inv_t;
      k += static_cast<double>(pt) * ((tx[v] - tlse) - (x[v] - lse));
      g[v] = fa * ps + fb * (ps - pt);
    }
    *kl = k;
  }
  if (target >= 0) g[target] -= fa;
  return ce;
}

Status check_pointers(const float* logits, const LossOptions& o, const float* dlogits) {
  if (logits == nullptr || dlogits == nullptr)
    return make_error(ErrorCode::kInvalidArgument, "loss: null logits");
  if (o.kl_weight > 0.0f && o.teacher == nullptr) {
    return make_error(ErrorCode::kInvalidArgument, "loss: KL weight {} needs teacher logits",
                      o.kl_weight);
  }
  if (o.teacher != nullptr && o.teacher == dlogits) {
    return make_error(ErrorCode::kInvalidArgument, "loss: dlogits must not overwrite the teacher");
  }
  return Status::Ok();
}

}  // namespace

Result<LossRows> loss_rows(const std::vector<SeqRange>& seqs, const std::vector<int>& tokens,
                           const LossOptions& o) {
  int64_t T = 0;
  for (const SeqRange& s : seqs) {
    if (s.begin != T || s.n <= 0)
      return make_error(ErrorCode::kInvalidArgument, "loss: sequences must tile the rows");
    T += s.n;
  }
  if (T != static_cast<int64_t>(tokens.size())) {
    return make_error(ErrorCode::kInvalidArgument, "loss: {} rows of sequences, {} tokens", T,
                      tokens.size());
  }
  if (!(o.ce_weight >= 0.0f) || !(o.kl_weight >= 0.0f) ||
      !std::isfinite(o.ce_weight + o.kl_weight) || o.ce_weight + o.kl_weight == 0.0f) {
    return make_error(ErrorCode::kInvalidArgument,
                      "loss: weights CE {} / KL {} must be finite, >= 0, not both 0", o.ce_weight,
                      o.kl_weight);
  }
  if (o.mask != nullptr && static_cast<int64_t>(o.mask->size()) != T) {
    return make_error(ErrorCode::kInvalidArgument, "loss: mask has {} entries for {} rows",
                      o.mask->size(), T);
  }
  LossRows r;
  r.target.assign(T, -1);
  r.kl.assign(T, 0);
  for (const SeqRange& s : seqs) {
    for (int64_t t = s.begin; t < s.begin + s.n; ++t) {
      const bool on = o.mask == nullptr || (*o.mask)[t] != 0;
      if (on && o.ce_weight > 0.0f && t + 1 < s.begin + s.n) r.target[t] = tokens[t + 1];
      r.kl[t] = on && o.kl_weight > 0.0f;
      r.n_ce += r.target[t] >= 0;
      r.n_kl += r.kl[t];
    }
  }
  if (r.n_ce + r.n_kl == 0) {
    return make_error(ErrorCode::kInvalidArgument,
                      "loss: no rows to average over (sequences of one token or all masked)");
  }
  r.a = r.n_ce > 0 ? o.ce_weight / static_cast<double>(r.n_ce) : 0.0;
  r.b = r.n_kl > 0 ? o.kl_weight / static_cast<double>(r.n_kl) : 0.0;
  return r;
}

LossValue finish_loss(const LossRows& r, double ce_sum, double kl_sum, const LossOptions& o) {
  LossValue out;
  out.n_ce = r.n_ce;
  out.n_kl = r.n_kl;
  out.ce = r.n_ce > 0 ? ce_sum / static_cast<double>(r.n_ce) : 0.0;
  out.kl = r.n_kl > 0 ? kl_sum / static_cast<double>(r.n_kl) : 0.0;
  out.total = o.ce_weight * out.ce + o.kl_weight * out.kl;
  return out;
}

Result<LossValue> next_token_loss(const std::vector<SeqRange>& seqs, const std::vector<int>& tokens,
                                  const float* logits, int64_t V, const LossOptions& o,
                                  float* dlogits) {
  LRKV_RETURN_IF_ERROR(check_pointers(logits, o, dlogits));
  LRKV_ASSIGN_OR_RETURN(LossRows rows, loss_rows(seqs, tokens, o));
  const int64_t T = static_cast<int64_t>(tokens.size());
  std::vector<double> ce(T, 0.0), kl(T, 0.0);
  global_pool().parallel_for(T, 4, [&](int64_t t0, int64_t t1) {
    std::vector<float> es(V), et(V);  // exp rows of student / teacher
    for (int64_t t = t0; t < t1; ++t) {
      if (rows.target[t] < 0 && !rows.kl[t]) {
        std::fill_n(dlogits + t * V, V, 0.0f);
        continue;
      }
      ce[t] = row_loss(logits + t * V, rows.kl[t] ? o.teacher + t * V : nullptr, rows.target[t], V,
                       rows.a, rows.b, es.data(), et.data(), dlogits + t * V, &kl[t]);
    }
  });
  double ce_sum = 0.0, kl_sum = 0.0;
  for (int64_t t = 0; t < T; ++t) {
    ce_sum += ce[t];
    kl_sum += kl[t];
  }
  return finish_loss(rows, ce_sum, kl_sum, o);
}

}  // namespace lrkv
