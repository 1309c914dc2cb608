#include "kernels/attention.h"

#include <cmath>
#include <vector>

#include "kernels/elem.h"

namespace lrkv::ref {

void attention(const AttentionParams& p) {
  const int group = p.n_head / p.n_kv_head;
  std::vector<double> s;
  for (int64_t t = 0; t < p.n_q; ++t) {
    const int64_t n_vis = static_cast<int64_t>(p.q_pos[t]) + 1;
    for (int h = 0; h < p.n_head; ++h) {
      const float* q = p.q + t * p.ldq + int64_t{h} * p.head_dim;
      const int64_t koff = int64_t{h / group} * p.head_dim;
      s.assign(n_vis, 0.0);
      double mx = -INFINITY;
      for (int64_t j = 0; j < n_vis; ++j) {
        double d = 0.0;
        for (int c = 0; c < p.head_dim; ++c) d += static_cast<double>(q[c]) * load_elem(p.k, p.kv_type, p.rows(j) * p.ldkv + koff + c);
        s[j] = d * p.scale;
        mx = std::max(mx, s[j]);
      }
      double den = 0.0;
      for (auto& e : s) den += (e = std::exp(e - mx));
      float* o = p.out + t * p.ldo + int64_t{h} * p.head_dim;
      for (int c = 0; c < p.head_dim; ++c) {
        double acc = 0.0;
        for (int64_t j = 0; j < n_vis; ++j) acc += s[j] * load_elem(p.v, p.kv_type, p.rows(j) * p.ldkv + koff + c);
        o[c] = static_cast<float>(acc / den);
      }
    }
  }
}

}  // namespace lrkv::ref
