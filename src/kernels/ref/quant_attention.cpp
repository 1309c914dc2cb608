#include "kernels/quant_attention.h"

#include <cmath>
#include <vector>

#include "kernels/elem.h"

namespace lrkv::ref {

namespace {
// Head h's slice of storage row j as floats.
void slice(const CacheRows& r, int64_t j, int h, float* out) {
  const auto* row = static_cast<const uint8_t*>(r.base) + j * r.row_bytes;
  if (r.codec) {
    const RowSegment& s = r.codec->segments[r.seg[h]];
    decode_segment(r.codec->format, row + s.byte, s.len, out);
  } else {
    for (int c = 0; c < r.len[h]; ++c) out[c] = load_elem(row, r.dtype, r.off[h] + c);
  }
}
}  // namespace

void quant_attention(const QuantAttentionParams& p) {
  std::vector<double> s;
  std::vector<float> buf;
  for (int64_t t = 0; t < p.n_q; ++t) {
    const int64_t n_vis = static_cast<int64_t>(p.q_pos[t]) + 1;
    for (int h = 0; h < p.n_head; ++h) {
      const float* q = p.qk + t * p.ldqk + p.qk_off[h];
      const int kl = p.k.slice_len(h), vl = p.v.slice_len(h);
      s.assign(n_vis, 0.0);
      double mx = -INFINITY;
      for (int64_t j = 0; j < n_vis; ++j) {
        buf.resize(kl);
        slice(p.k, p.k.map(j), h, buf.data());
        double d = 0.0;
        for (int c = 0; c < kl; ++c) d += static_cast<double>(q[c]) * buf[c];
        s[j] = d * p.scale;
        mx = std::max(mx, s[j]);
      }
      double den = 0.0;
      for (auto& e : s) den += (e = std::exp(e - mx));
      std::vector<double> acc(vl, 0.0);
      for (int64_t j = 0; j < n_vis; ++j) {
        buf.resize(vl);
        slice(p.v, p.v.map(j), h, buf.data());
        for (int c = 0; c < vl; ++c) acc[c] += s[j] * buf[c];
      }
      float* z = p.z + t * p.ldz + p.z_off[h];
      for (int c = 0; c < vl; ++c) z[c] = static_cast<float>(acc[c] / den);
    }
  }
}

}  // namespace lrkv::ref
