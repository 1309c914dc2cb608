#include "kernels/quant_attention.h"

#include <algorithm>
#include <cmath>
#include <vector>

#include "core/thread_pool.h"
#include "kernels/cpu/simd.h"

namespace lrkv::cpu {

namespace {

constexpr int64_t kQueryTile = 16;  // queries sharing one decode of each row slice

// Reads head h's slices of consecutive rows: decoded into `buf` for quantized rows, a pointer
// into the row for plain ones.
struct SliceReader {
  const CacheRows& r;
  const uint8_t* base;
  int64_t byte_off;  // of the slice inside a row
  int n;
  SliceReader(const CacheRows& rows, int h) : r(rows) {
    base = static_cast<const uint8_t*>(r.base);
    n = r.slice_len(h);
    byte_off = r.codec ? r.codec->segments[r.seg[h]].byte : dtype_bytes(r.dtype, r.off[h]);
  }
  const uint8_t* at(int64_t j) const { return base + r.map(j) * r.row_bytes + byte_off; }
  // Row j as f32: decoded into buf (quantized or f16/bf16), or a pointer into the cache (f32).
  const float* row(int64_t j, float* buf) const {
    if (r.codec) {
      decode_segment(r.codec->format, at(j), n, buf);
      return buf;
    }
    if (r.dtype == DType::kF32) return reinterpret_cast<const float*>(at(j));
    load_row_any(at(j), buf);
    return buf;
  }
  void load_row_any(const uint8_t* p, float* buf) const {
    if (r.dtype == DType::kF16) {
      convert_f16_to_f32(reinterpret_cast<const f16_bits*>(p), buf, n);
    } else {
      convert_bf16_to_f32(reinterpret_cast<const bf16_bits*>(p), buf, n);
    }
  }
};

// Queries [t0, t1) of head h: each visible row slice is decoded once for the whole tile.
void attend_tile(const QuantAttentionParams& p, int h, int64_t t0, int64_t t1,
                 std::vector<float>& s, std::vector<float>& buf) {
  const SliceReader kr(p.k, h), vr(p.v, h);
  const int64_t nt = t1 - t0;
  int64_t n_max = 0;
  for (int64_t t = t0; t < t1; ++t) n_max = std::max<int64_t>(n_max, p.q_pos[t] + 1);
  s.assign(nt * n_max, 0.0f);
  buf.resize(std::max(kr.n, vr.n));
  for (int64_t j = 0; j < n_max; ++j) {
    const float* k = kr.row(j, buf.data());
    for (int64_t t = t0; t < t1; ++t) {
      if (j <= p.q_pos[t])
        s[(t - t0) * n_max + j] = p.scale * dot(p.qk + t * p.ldqk + p.qk_off[h], k, kr.n);
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
    float* z = p.z + (t0 + i) * p.ldz + p.z_off[h];
    std::fill(z, z + vr.n, 0.0f);
  }
  for (int64_t j = 0; j < n_max; ++j) {
    const float* v = vr.row(j, buf.data());
    for (int64_t t = t0; t < t1; ++t) {
      if (j <= p.q_pos[t]) axpy(p.z + t * p.ldz + p.z_off[h], s[(t - t0) * n_max + j], v, vr.n);
    }
  }
  for (int64_t i = 0; i < nt; ++i) scale(p.z + (t0 + i) * p.ldz + p.z_off[h], inv_den[i], vr.n);
}

}  // namespace

void quant_attention(const QuantAttentionParams& p) {
  const int64_t tiles = (p.n_q + kQueryTile - 1) / kQueryTile;
  // Work item = (query tile, head). Causal tiles grow with position and the pool hands out
  // contiguous ranges, so tiles go zigzag (first, last, second, ...) to balance the ranges.
  global_pool().parallel_for(tiles * p.n_head, 1, [&](int64_t w0, int64_t w1) {
    std::vector<float> s, buf;
    for (int64_t w = w0; w < w1; ++w) {
      const int64_t i = w / p.n_head;
      const int64_t tile = i % 2 == 0 ? i / 2 : tiles - 1 - i / 2;
      const int h = static_cast<int>(w % p.n_head);
      attend_tile(p, h, tile * kQueryTile, std::min(p.n_q, (tile + 1) * kQueryTile), s, buf);
    }
  });
}

}  // namespace lrkv::cpu
