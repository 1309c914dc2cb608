#include "kernels/kivi_attention.h"

#include <algorithm>
#include <cmath>
#include <vector>

#include "core/thread_pool.h"
#include "kernels/bitpack.h"
#include "kernels/cpu/simd.h"

namespace lrkv::cpu {

namespace {

constexpr int64_t kQueryTile = 16;  // queries sharing one decode of each row

// Decodes quantized key rows of one KV head; the channel scales/mins of the current token
// group are converted once per group.
struct KeyDecoder {
  const KiviAttentionParams& p;
  int g;
  int64_t kv, cur_group = -1;
  std::vector<float> sc, mn;
  std::vector<uint8_t> codes;
  KeyDecoder(const KiviAttentionParams& params, int kv_head)
      : p(params),
        g(kv_head),
        kv(int64_t{params.n_kv_head} * params.head_dim),
        sc(params.head_dim),
        mn(params.head_dim),
        codes(params.head_dim) {}
  void decode(int64_t j, float* out) {
    const int hd = p.head_dim;
    const int64_t tg = j / p.group;
    if (tg != cur_group) {
      convert_f16_to_f32(p.k_scale + tg * kv + int64_t{g} * hd, sc.data(), hd);
      convert_f16_to_f32(p.k_min + tg * kv + int64_t{g} * hd, mn.data(), hd);
      cur_group = tg;
    }
    unpack_bits(p.k_codes + j * p.k_code_bytes + g * packed_bytes(hd, p.bits), 0, hd, p.bits,
                codes.data());
    for (int c = 0; c < hd; ++c) out[c] = sc[c] * static_cast<float>(codes[c]) + mn[c];
  }
};

// Queries [t0, t1) of head h. Row j is decoded at most once per form the tile reads it in
// (quantized for queries past its flush, fp16 for the others).
void attend_tile(const KiviAttentionParams& p, int h, int64_t t0, int64_t t1) {
  const int hd = p.head_dim, g = h / (p.n_head / p.n_kv_head);
  const int64_t kv = int64_t{p.n_kv_head} * hd, nt = t1 - t0;
  std::vector<int64_t> kb(nt), vb(nt);
  int64_t n_max = 0, kb_lo = INT64_MAX, kb_hi = 0, vb_lo = INT64_MAX, vb_hi = 0;
  for (int64_t i = 0; i < nt; ++i) {
    const int64_t pos = p.q_pos[t0 + i];
    n_max = std::max(n_max, pos + 1);
    kb[i] = std::min(pos + 1, kivi_key_boundary(pos, p.residual));
    vb[i] = std::min(pos + 1, kivi_value_boundary(pos, p.residual));
    kb_lo = std::min(kb_lo, kb[i]), kb_hi = std::max(kb_hi, kb[i]);
    vb_lo = std::min(vb_lo, vb[i]), vb_hi = std::max(vb_hi, vb[i]);
  }
  std::vector<float> s(nt * n_max, 0.0f), qbuf(hd), fbuf(hd);
  KeyDecoder kd(p, g);
  const int64_t goff = int64_t{g} * hd;
  for (int64_t j = 0; j < n_max; ++j) {
    if (j < kb_hi) kd.decode(j, qbuf.data());
    if (j >= kb_lo) convert_f16_to_f32(p.k_res + (j - p.res_begin) * kv + goff, fbuf.data(), hd);
    for (int64_t i = 0; i < nt; ++i) {
      if (j > p.q_pos[t0 + i]) continue;
      const float* q = p.q + (t0 + i) * p.ldq + int64_t{h} * hd;
      s[i * n_max + j] = p.scale * dot(q, j < kb[i] ? qbuf.data() : fbuf.data(), hd);
    }
  }
  std::vector<float> inv_den(nt);
  for (int64_t i = 0; i < nt; ++i) {
    float* si = s.data() + i * n_max;
    const int64_t n_vis = p.q_pos[t0 + i] + 1;
    const float mx = *std::max_element(si, si + n_vis);
    float den = 0.0f;
    for (int64_t j = 0; j < n_vis; ++j) den += (si[j] = std::exp(si[j] - mx));
    inv_den[i] = 1.0f / den;
    float* o = p.out + (t0 + i) * p.ldo + int64_t{h} * hd;
    std::fill(o, o + hd, 0.0f);
  }
  const RowSegment& seg = p.v_codec->segments[g];
  for (int64_t j = 0; j < n_max; ++j) {
    if (j < vb_hi)
      decode_segment(p.v_codec->format, p.v_rows + j * p.v_codec->row_bytes + seg.byte, hd,
                     qbuf.data());
    if (j >= vb_lo) convert_f16_to_f32(p.v_res + (j - p.res_begin) * kv + goff, fbuf.data(), hd);
    for (int64_t i = 0; i < nt; ++i) {
      if (j > p.q_pos[t0 + i]) continue;
      axpy(p.out + (t0 + i) * p.ldo + int64_t{h} * hd, s[i * n_max + j],
           j < vb[i] ? qbuf.data() : fbuf.data(), hd);
    }
  }
  for (int64_t i = 0; i < nt; ++i)
    scale(p.out + (t0 + i) * p.ldo + int64_t{h} * hd, inv_den[i], hd);
}

}  // namespace

void kivi_attention(const KiviAttentionParams& p) {
  const int64_t tiles = (p.n_q + kQueryTile - 1) / kQueryTile;
  // Work item = (query tile, head), tiles zigzag (first, last, second, ...) so the pool's
  // contiguous ranges get similar causal work.
  global_pool().parallel_for(tiles * p.n_head, 1, [&](int64_t w0, int64_t w1) {
    for (int64_t w = w0; w < w1; ++w) {
      const int64_t i = w / p.n_head;
      const int64_t tile = i % 2 == 0 ? i / 2 : tiles - 1 - i / 2;
      const int h = static_cast<int>(w % p.n_head);
      attend_tile(p, h, tile * kQueryTile, std::min(p.n_q, (tile + 1) * kQueryTile));
    }
  });
}

}  // namespace lrkv::cpu
