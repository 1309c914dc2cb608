#include "kernels/rebuild_keys.h"

#include <cmath>
#include <vector>

#include "kernels/elem.h"

namespace lrkv::ref {

void rebuild_keys(const RebuildKeysParams& p) {
  const int half = p.head_dim / 2;
  std::vector<double> y;
  for (int64_t j = 0; j < p.n_rows; ++j) {
    for (int g = 0; g < p.n_groups; ++g) {
      const int rows = p.group_rows[g], r = p.group_rank[g];
      y.assign(rows, 0.0);
      for (int i = 0; i < rows; ++i) {
        double acc = p.bias ? p.bias[p.group_row_off[g] + i] : 0.0;
        for (int e = 0; e < r; ++e) {
          acc += static_cast<double>(p.up[g][i * r + e]) * load_elem(p.c, p.c_type, p.rows(j) * p.ldc + p.group_lat_off[g] + e);
        }
        y[i] = acc;
      }
      for (int h = 0; h < rows / p.head_dim; ++h) {
        double* x = y.data() + h * p.head_dim;
        for (int i = 0; i < half; ++i) {
          const double a = static_cast<double>(p.pos0 + j) * p.inv_freq[i];
          const int i0 = p.layout == RopeLayout::kInterleaved ? 2 * i : i;
          const int i1 = p.layout == RopeLayout::kInterleaved ? 2 * i + 1 : i + half;
          const double x0 = x[i0], x1 = x[i1];
          x[i0] = x0 * std::cos(a) - x1 * std::sin(a);
          x[i1] = x0 * std::sin(a) + x1 * std::cos(a);
        }
      }
      for (int i = 0; i < rows; ++i) p.k[j * p.ldk + p.group_row_off[g] + i] = static_cast<float>(y[i]);
    }
  }
}

}  // namespace lrkv::ref
