#include "kernels/kivi_attention.h"

#include <cmath>
#include <vector>

#include "kernels/bitpack.h"

namespace lrkv::ref {

namespace {
// Key row j of KV head g as floats, from codes or the residual.
void key_row(const KiviAttentionParams& p, int64_t j, int g, bool quantized, float* out) {
  const int hd = p.head_dim;
  const int64_t kv = int64_t{p.n_kv_head} * hd;
  if (!quantized) {
    for (int c = 0; c < hd; ++c) out[c] = f16_to_f32(p.k_res[(j - p.res_begin) * kv + g * hd + c]);
    return;
  }
  std::vector<uint8_t> codes(hd);
  unpack_bits(p.k_codes + j * p.k_code_bytes + g * packed_bytes(hd, p.bits), 0, hd, p.bits,
              codes.data());
  const int64_t base = (j / p.group) * kv + g * hd;
  for (int c = 0; c < hd; ++c) {
    out[c] = static_cast<float>(static_cast<double>(f16_to_f32(p.k_scale[base + c])) * codes[c] +
                                f16_to_f32(p.k_min[base + c]));
  }
}

void value_row(const KiviAttentionParams& p, int64_t j, int g, bool quantized, float* out) {
  const int hd = p.head_dim;
  if (!quantized) {
    const int64_t kv = int64_t{p.n_kv_head} * hd;
    for (int c = 0; c < hd; ++c) out[c] = f16_to_f32(p.v_res[(j - p.res_begin) * kv + g * hd + c]);
    return;
  }
  const RowSegment& s = p.v_codec->segments[g];
  decode_segment(p.v_codec->format, p.v_rows + j * p.v_codec->row_bytes + s.byte, s.len, out);
}
}  // namespace

void kivi_attention(const KiviAttentionParams& p) {
  const int group = p.n_head / p.n_kv_head, hd = p.head_dim;
  std::vector<double> s;
  std::vector<float> buf(hd);
  for (int64_t t = 0; t < p.n_q; ++t) {
    const int64_t pos = p.q_pos[t], n_vis = pos + 1;
    const int64_t kb = kivi_key_boundary(pos, p.residual),
                  vb = kivi_value_boundary(pos, p.residual);
    for (int h = 0; h < p.n_head; ++h) {
      const int g = h / group;
      const float* q = p.q + t * p.ldq + int64_t{h} * hd;
      s.assign(n_vis, 0.0);
      double mx = -INFINITY;
      for (int64_t j = 0; j < n_vis; ++j) {
        key_row(p, j, g, j < kb, buf.data());
        double d = 0.0;
        for (int c = 0; c < hd; ++c) d += static_cast<double>(q[c]) * buf[c];
        s[j] = d * p.scale;
        mx = std::max(mx, s[j]);
      }
      double den = 0.0;
      for (auto& e : s) den += (e = std::exp(e - mx));
      std::vector<double> acc(hd, 0.0);
      for (int64_t j = 0; j < n_vis; ++j) {
        value_row(p, j, g, j < vb, buf.data());
        for (int c = 0; c < hd; ++c) acc[c] += s[j] * buf[c];
      }
      float* o = p.out + t * p.ldo + int64_t{h} * hd;
      for (int c = 0; c < hd; ++c) o[c] = static_cast<float>(acc[c] / den);
    }
  }
}

}  // namespace lrkv::ref
