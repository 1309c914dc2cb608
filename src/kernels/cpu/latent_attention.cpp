#include "kernels/latent_attention.h"

#include <cmath>
#include <vector>

#include "core/thread_pool.h"
#include "kernels/cpu/simd.h"

namespace lrkv::cpu {

void latent_attention(const LatentAttentionParams& p) {
  const int64_t k_row = dtype_bytes(p.k_type, p.ldk), v_row = dtype_bytes(p.v_type, p.ldv);
  const int64_t k_elem = dtype_bytes(p.k_type, 1), v_elem = dtype_bytes(p.v_type, 1);
  const auto* kb = static_cast<const uint8_t*>(p.k);
  const auto* vb = static_cast<const uint8_t*>(p.v);
  global_pool().parallel_for(p.n_q * p.n_head, 1, [&](int64_t w0, int64_t w1) {
    std::vector<float> s;
    for (int64_t w = w0; w < w1; ++w) {
      const int64_t t = w / p.n_head;
      const int h = static_cast<int>(w % p.n_head);
      const int64_t n_vis = static_cast<int64_t>(p.q_pos[t]) + 1;
      const float* q = p.qk + t * p.ldqk + p.qk_off[h];
      const uint8_t* kh = kb + p.k_off[h] * k_elem;
      s.resize(n_vis);
      float mx = -INFINITY;
      for (int64_t j = 0; j < n_vis; ++j) {
        s[j] = p.scale * dot_any(q, kh + p.k_rows(j) * k_row, p.k_type, p.k_len[h]);
        mx = std::max(mx, s[j]);
      }
      float den = 0.0f;
      for (int64_t j = 0; j < n_vis; ++j) den += (s[j] = std::exp(s[j] - mx));
      float* z = p.z + t * p.ldz + p.z_off[h];
      std::fill(z, z + p.v_len[h], 0.0f);
      const uint8_t* vh = vb + p.v_off[h] * v_elem;
      for (int64_t j = 0; j < n_vis; ++j) axpy_any(z, s[j], vh + p.v_rows(j) * v_row, p.v_type, p.v_len[h]);
      scale(z, 1.0f / den, p.v_len[h]);
    }
  });
}

}  // namespace lrkv::cpu
