#include "kernels/latent_attention.h"

#include <cmath>
#include <vector>

#include "kernels/elem.h"

namespace lrkv::ref {

void latent_attention(const LatentAttentionParams& p) {
  std::vector<double> s;
  for (int64_t t = 0; t < p.n_q; ++t) {
    const int64_t n_vis = static_cast<int64_t>(p.q_pos[t]) + 1;
    for (int h = 0; h < p.n_head; ++h) {
      const float* q = p.qk + t * p.ldqk + p.qk_off[h];
      s.assign(n_vis, 0.0);
      double mx = -INFINITY;
      for (int64_t j = 0; j < n_vis; ++j) {
        double d = 0.0;
        for (int c = 0; c < p.k_len[h]; ++c) {
          d += static_cast<double>(q[c]) * load_elem(p.k, p.k_type, p.k_rows(j) * p.ldk + p.k_off[h] + c);
        }
        s[j] = d * p.scale;
        mx = std::max(mx, s[j]);
      }
      double den = 0.0;
      for (auto& e : s) den += (e = std::exp(e - mx));
      float* z = p.z + t * p.ldz + p.z_off[h];
      for (int c = 0; c < p.v_len[h]; ++c) {
        double acc = 0.0;
        for (int64_t j = 0; j < n_vis; ++j) acc += s[j] * load_elem(p.v, p.v_type, p.v_rows(j) * p.ldv + p.v_off[h] + c);
        z[c] = static_cast<float>(acc / den);
      }
    }
  }
}

}  // namespace lrkv::ref
