#include <cmath>

#include "compress/factorize.h"
#include "compress/planners/planners.h"

namespace lrkv {

namespace {
// log κ of a layer's full K or V projection.
Result<double> log_condition(const Tensor& w) {
  LRKV_ASSIGN_OR_RETURN(Tensor f, w.dtype() == DType::kF32 ? Result<Tensor>(w) : w.to(DType::kF32));
  Mat W(w.dim(0), w.dim(1));
  for (size_t i = 0; i < W.a.size(); ++i) W.a[i] = f.f32()[i];
  LRKV_ASSIGN_OR_RETURN(Svd s, svd(W));
  const double smin = std::max(s.s.back(), s.s.front() * 1e-12);
  return std::log(s.s.front() / smin);
}
}  // namespace

Result<std::vector<int>> progressive_ranks(const Model& m, const std::vector<Slot>& slots, int64_t target) {
  const LlamaConfig& c = m.config;
  const int L = c.n_layer;
  std::vector<double> u[2];  // [K|V][layer], normalised log cumulative condition number
  for (int kv = 0; kv < 2; ++kv) {
    std::vector<double> logk(L), cum(L);
    for (int l = 0; l < L; ++l) {
      LRKV_ASSIGN_OR_RETURN(logk[l], log_condition(kv ? m.weights.layers[l].wv : m.weights.layers[l].wk));
    }
    double acc = 0.0;
    for (int l = L - 1; l >= 0; --l) cum[l] = (acc += logk[l]);  // log Π_{j≥l} κ_j
    const auto [lo, hi] = std::minmax_element(cum.begin(), cum.end());
    u[kv].resize(L);
    for (int l = 0; l < L; ++l) u[kv][l] = *hi > *lo ? (cum[l] - *lo) / (*hi - *lo) : 0.5;
  }
  const double b = static_cast<double>(target) / (2.0 * L * c.kv_dim());
  double mean_u = 0.0;
  for (int kv = 0; kv < 2; ++kv) {
    for (double x : u[kv]) mean_u += x / (2.0 * L);
  }
  std::vector<int> ranks(slots.size());
  for (size_t i = 0; i < slots.size(); ++i) {
    const double ui = u[slots[i].is_v][slots[i].layer];
    const double f = std::clamp(b + b * (ui - mean_u), 1.0 / slots[i].full, 1.0);
    ranks[i] = static_cast<int>(std::lround(f * slots[i].full));
  }
  LRKV_RETURN_IF_ERROR(fix_total(slots, &ranks, target, [&](size_t i, int) {
    return u[slots[i].is_v][slots[i].layer];
  }));
  return ranks;
}

}  // namespace lrkv
