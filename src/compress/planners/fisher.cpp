#include <algorithm>
#include <cmath>

#include "compress/planners/planners.h"

namespace lrkv {

int fisher_round_to(const std::vector<Slot>& slots) {
  int narrowest = 0;
  for (const Slot& s : slots) narrowest = narrowest == 0 ? s.full : std::min(narrowest, s.full);
  int q = 1;
  while (q * 2 <= narrowest / 32) q *= 2;
  return q;
}

Result<std::vector<int>> fisher_ranks(const std::vector<Slot>& slots, const std::vector<double>& importance,
                                      int64_t target, int round_to) {
  const size_t n = slots.size();
  if (importance.size() != n) {
    return make_error(ErrorCode::kInternal, "fisher planner: {} importances for {} slots", importance.size(), n);
  }
  if (round_to < 1) return make_error(ErrorCode::kInvalidArgument, "--round-to must be >= 1, got {}", round_to);
  for (double v : importance) {
    if (!(v >= 0.0) || !std::isfinite(v)) {
      return make_error(ErrorCode::kInvalidArgument, "fisher planner: importances must be finite and >= 0");
    }
  }
  // Proportional allocation with caps: slots that hit full are fixed and the rest re-shared.
  std::vector<double> share(n, 0.0);
  std::vector<bool> capped(n, false);
  double left = static_cast<double>(target);
  for (int pass = 0; pass < static_cast<int>(n) + 1; ++pass) {
    double total_imp = 0.0;
    for (size_t i = 0; i < n; ++i) {
      if (!capped[i]) total_imp += importance[i] + 1e-30;
    }
    bool changed = false;
    for (size_t i = 0; i < n; ++i) {
      if (capped[i]) continue;
      share[i] = left * (importance[i] + 1e-30) / total_imp;
      if (share[i] >= slots[i].full) {
        capped[i] = true;
        share[i] = slots[i].full;
        left -= slots[i].full;
        changed = true;
      }
    }
    if (!changed) break;
  }
  std::vector<int> ranks(n);
  for (size_t i = 0; i < n; ++i) {
    const int q = std::min(round_to, slots[i].full);
    ranks[i] = std::max(q, static_cast<int>(std::lround(share[i] / q)) * q);
  }
  // Exact total: whole rounding steps first (most important slot gains / least important loses),
  // then single dimensions for the remainder, so at most a slot or two leave the grid.
  int64_t total = 0;
  for (int r : ranks) total += r;
  for (;;) {
    const bool add = total < target;
    const int64_t gap = add ? target - total : total - target;
    size_t best = n;
    for (size_t i = 0; i < n; ++i) {
      const int q = std::min(round_to, slots[i].full);
      if (q > gap || (add ? ranks[i] + q > slots[i].full : ranks[i] - q < 1)) continue;
      if (best == n || (add ? importance[i] > importance[best] : importance[i] < importance[best])) best = i;
    }
    if (best == n) break;
    const int q = std::min(round_to, slots[best].full);
    ranks[best] += add ? q : -q;
    total += add ? q : -q;
  }
  LRKV_RETURN_IF_ERROR(fix_total(slots, &ranks, target, [&](size_t i, int) { return importance[i]; }));
  return ranks;
}

}  // namespace lrkv
