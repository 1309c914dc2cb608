// Causal attention where each query head reads its own segment of every cached row: the form
// shared by all latent caches. For query row t (position q_pos[t]) and head h, over rows
// j = 0..q_pos[t]:
//   s_j  = scale * qk[t, qk_off[h] : +k_len[h]] · K[j, k_off[h] : +k_len[h]]
//   z[t, z_off[h] : +v_len[h]] = sum_j softmax(s)_j V[j, v_off[h] : +v_len[h]]
// Dense attention is the special case qk = q, k_off = v_off = kv_head(h)*head_dim, lengths
// head_dim; a latent cache with the query absorbed uses qk = q̃ (query projected into the
// group's latent space) and offsets of the head's group in the latent row.
#pragma once

#include <cstdint>

#include "core/dtype.h"
#include "kernels/row_map.h"

namespace lrkv {

struct LatentAttentionParams {
  int64_t n_q = 0;
  const int* q_pos = nullptr;   // [n_q]
  int n_head = 0;
  const float* qk = nullptr;    // [n_q, ldqk]
  int64_t ldqk = 0;
  const int* qk_off = nullptr;  // [n_head]
  const void* k = nullptr;      // [n_kv, ldk] rows, dtype k_type (f32/f16/bf16)
  int64_t ldk = 0;
  DType k_type = DType::kF32;
  const int* k_off = nullptr;   // [n_head]
  const int* k_len = nullptr;   // [n_head]
  const void* v = nullptr;      // [n_kv, ldv] rows, dtype v_type
  int64_t ldv = 0;
  DType v_type = DType::kF32;
  const int* v_off = nullptr;   // [n_head]
  const int* v_len = nullptr;   // [n_head]
  float* z = nullptr;           // [n_q, ldz]
  int64_t ldz = 0;
  const int* z_off = nullptr;   // [n_head]
  float scale = 1.0f;
  RowMap k_rows, v_rows;        // row j of k (v) is row k_rows(j) (v_rows(j)) of its storage
};

namespace ref { void latent_attention(const LatentAttentionParams& p); }
namespace cpu { void latent_attention(const LatentAttentionParams& p); }

}  // namespace lrkv
