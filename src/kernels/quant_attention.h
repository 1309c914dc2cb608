// Causal attention over cache rows that may be quantized (quant_row.h), with the dequantisation
// fused into the loop: for every visible row the kernel decodes only the slice head h reads, into
// a small buffer, and uses it at once -- the dequantised cache is never materialised.
// Same maths as latent_attention.h: for query row t (position q_pos[t]) and head h, over rows
// j = 0..q_pos[t]:
//   s_j  = scale * qk[t, qk_off[h] : +len_k(h)] · K_j(h)
//   z[t, z_off[h] : +len_v(h)] = sum_j softmax(s)_j V_j(h)
// where K_j(h) / V_j(h) is head h's slice of row j: a codec segment of a quantized row, or
// columns [off[h], off[h] + len[h]) of a plain f32/f16/bf16 row. Dense caches are the case
// qk = q, slices = the head's KV head; latent caches use the group latents (see latent_layer.h).
#pragma once

#include <cstdint>

#include "core/dtype.h"
#include "kernels/quant_row.h"
#include "kernels/row_map.h"

namespace lrkv {

// One side (keys or values) of the rows attention reads.
struct CacheRows {
  const void* base = nullptr;  // row j starts at base + map(j) * row_bytes
  int64_t row_bytes = 0;
  const RowCodec* codec = nullptr;  // quantized rows; null: plain rows of `dtype`
  DType dtype = DType::kF32;        // plain rows: f32, f16 or bf16
  const int* seg = nullptr;         // [n_head] quantized: codec segment read by head h
  const int* off = nullptr;         // [n_head] plain: first column read by head h
  const int* len = nullptr;         // [n_head] plain: columns read by head h
  RowMap map;                       // row j is at base + map(j) * row_bytes (paged caches)
  int slice_len(int h) const { return codec ? codec->segments[seg[h]].len : len[h]; }
};

struct QuantAttentionParams {
  int64_t n_q = 0;
  const int* q_pos = nullptr;  // [n_q]; rows 0..q_pos[t] are visible to query t
  int n_head = 0;
  const float* qk = nullptr;  // [n_q, ldqk]
  int64_t ldqk = 0;
  const int* qk_off = nullptr;  // [n_head]
  CacheRows k, v;
  float* z = nullptr;  // [n_q, ldz]
  int64_t ldz = 0;
  const int* z_off = nullptr;  // [n_head]
  float scale = 1.0f;
};

namespace ref {
// fp64 accumulation, rows decoded with ref::decode_segment.
void quant_attention(const QuantAttentionParams& p);
}  // namespace ref
namespace cpu {
// Threaded over (query, head); decode per row slice with cpu::decode_segment.
void quant_attention(const QuantAttentionParams& p);
}  // namespace cpu

}  // namespace lrkv
