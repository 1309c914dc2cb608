#include <numeric>

#include "compress/planners/planners.h"

namespace lrkv {

Result<std::vector<int>> energy_ranks(const std::vector<Slot>& slots, const std::vector<std::vector<double>>& spectra,
                                      int64_t target) {
  const size_t n = slots.size();
  std::vector<std::vector<double>> cum(n);  // cumulative energy fraction after r dims
  for (size_t i = 0; i < n; ++i) {
    const auto& e = spectra[i];
    const double total = std::accumulate(e.begin(), e.end(), 0.0);
    cum[i].resize(slots[i].full + 1, 1.0);
    double acc = 0.0;
    cum[i][0] = 0.0;
    for (int r = 1; r <= slots[i].full; ++r) {
      acc += r - 1 < static_cast<int>(e.size()) ? e[r - 1] : 0.0;
      cum[i][r] = total > 0 ? acc / total : static_cast<double>(r) / slots[i].full;
    }
  }
  auto ranks_at = [&](double tau, std::vector<int>* r) {
    int64_t sum = 0;
    for (size_t i = 0; i < n; ++i) {
      const auto it = std::lower_bound(cum[i].begin() + 1, cum[i].end(), tau - 1e-15);
      (*r)[i] = static_cast<int>(std::min<int64_t>(it - cum[i].begin(), slots[i].full));
      sum += (*r)[i];
    }
    return sum;
  };
  std::vector<int> ranks(n);
  double lo = 0.0, hi = 1.0;
  for (int it = 0; it < 60; ++it) {  // largest τ whose total does not exceed the target
    const double mid = 0.5 * (lo + hi);
    (ranks_at(mid, &ranks) <= target ? lo : hi) = mid;
  }
  ranks_at(lo, &ranks);
  LRKV_RETURN_IF_ERROR(fix_total(slots, &ranks, target, [&](size_t i, int r) {
    return cum[i][r + 1] - cum[i][r];  // normalised energy of dimension r
  }));
  return ranks;
}

}  // namespace lrkv
