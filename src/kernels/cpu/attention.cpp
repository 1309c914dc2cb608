#include "kernels/attention.h"

#include <cmath>
#include <vector>

#include "core/thread_pool.h"
#include "kernels/cpu/simd.h"

namespace lrkv::cpu {

void attention(const AttentionParams& p) {
  const int group = p.n_head / p.n_kv_head;
  const int64_t k_row_bytes = dtype_bytes(p.kv_type, p.ldkv);
  const auto* kbase = static_cast<const uint8_t*>(p.k);
  const auto* vbase = static_cast<const uint8_t*>(p.v);
  const int64_t elem = dtype_bytes(p.kv_type, 1);
  // Work item = (query row, head).
  global_pool().parallel_for(p.n_q * p.n_head, 1, [&](int64_t w0, int64_t w1) {
    std::vector<float> s;
    for (int64_t w = w0; w < w1; ++w) {
      const int64_t t = w / p.n_head;
      const int h = static_cast<int>(w % p.n_head);
      const int64_t n_vis = static_cast<int64_t>(p.q_pos[t]) + 1;
      const float* q = p.q + t * p.ldq + int64_t{h} * p.head_dim;
      const int64_t off = int64_t{h / group} * p.head_dim * elem;
      s.resize(n_vis);
      float mx = -INFINITY;
      for (int64_t j = 0; j < n_vis; ++j) {
        s[j] = p.scale * dot_any(q, kbase + p.rows(j) * k_row_bytes + off, p.kv_type, p.head_dim);
        mx = std::max(mx, s[j]);
      }
      float den = 0.0f;
      for (int64_t j = 0; j < n_vis; ++j) den += (s[j] = std::exp(s[j] - mx));
      float* o = p.out + t * p.ldo + int64_t{h} * p.head_dim;
      std::fill(o, o + p.head_dim, 0.0f);
      for (int64_t j = 0; j < n_vis; ++j) {
        axpy_any(o, s[j], vbase + p.rows(j) * k_row_bytes + off, p.kv_type, p.head_dim);
      }
      scale(o, 1.0f / den, p.head_dim);
    }
  });
}

}  // namespace lrkv::cpu
