// Causal attention over a KIVI-style quantized dense cache (layout: cache/kivi_kv_cache.h), with
// dequantisation fused into the loop. For query t at position p = q_pos[t] the cache is read as
// it was when token p was decoded one at a time (so batched prefill equals step-by-step decode):
//   key j   quantized  iff j < floor((p + 1) / R) * R   (the residual is flushed R rows at a time)
//   value j quantized  iff j < p + 1 - R                (the R most recent values stay fp16)
// and full precision (fp16 residual rows) otherwise. Scores and outputs as in attention.h.
#pragma once

#include <cstdint>

#include "core/dtype.h"
#include "kernels/quant_row.h"

namespace lrkv {

// A query at position p reads key / value rows below these boundaries quantized, the rest fp16.
inline int64_t kivi_key_boundary(int64_t p, int residual) { return (p + 1) / residual * residual; }
inline int64_t kivi_value_boundary(int64_t p, int residual) {
  return p + 1 - residual > 0 ? p + 1 - residual : 0;
}

struct KiviAttentionParams {
  int64_t n_q = 0;
  const int* q_pos = nullptr;  // [n_q]
  const float* q = nullptr;    // [n_q, n_head*head_dim], row stride ldq (post-RoPE)
  int64_t ldq = 0;
  int n_head = 0, n_kv_head = 0, head_dim = 0;
  float scale = 1.0f;
  float* out = nullptr;  // [n_q, n_head*head_dim], row stride ldo
  int64_t ldo = 0;
  int bits = 2, group = 32, residual = 128;  // b, G (key tokens per scale), R
  // Keys: codes of row j at k_codes + j*k_code_bytes, KV head g's packed_bytes(head_dim, b)
  // bytes at g*packed_bytes(head_dim, b); scales/mins of channel c for rows of token group
  // j / G at k_scale[(j/G)*kv_dim + c], k_min[...].
  const uint8_t* k_codes = nullptr;
  int64_t k_code_bytes = 0;
  const f16_bits* k_scale = nullptr;
  const f16_bits* k_min = nullptr;
  // Values: row j at v_rows + j*v_codec->row_bytes, segment g = KV head g.
  const uint8_t* v_rows = nullptr;
  const RowCodec* v_codec = nullptr;
  // fp16 rows [kv_dim] of positions res_begin.. (must cover every row read in full precision).
  const f16_bits* k_res = nullptr;
  const f16_bits* v_res = nullptr;
  int64_t res_begin = 0;
};

namespace ref {
void kivi_attention(const KiviAttentionParams& p);
}
namespace cpu {
void kivi_attention(const KiviAttentionParams& p);
}

}  // namespace lrkv
