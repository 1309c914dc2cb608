// Causal multi-head attention of new queries over a dense KV cache (GQA aware).
// For query row t at absolute position pos[t], head h, kv head g = h / (n_head / n_kv_head):
//   s_j = scale * q[t,h,:] · K[j,g,:]        for j = 0..pos[t]   (cache rows are positions)
//   out[t,h,:] = sum_j softmax(s)_j V[j,g,:]
#pragma once

#include <cstdint>

#include "core/dtype.h"
#include "kernels/row_map.h"

namespace lrkv {

struct AttentionParams {
  const float* q = nullptr;  // [n_q, n_head*head_dim], row stride ldq (post-RoPE)
  int64_t ldq = 0;
  const int* q_pos = nullptr;  // [n_q] absolute positions; rows 0..q_pos[t] of K/V are visible
  int64_t n_q = 0;
  const void* k = nullptr;   // [n_kv, n_kv_head*head_dim], row stride ldkv, dtype kv_type
  const void* v = nullptr;
  int64_t ldkv = 0;
  DType kv_type = DType::kF32;  // f32, f16 or bf16
  int64_t n_kv = 0;             // cache rows available (>= max(q_pos)+1)
  int n_head = 0, n_kv_head = 0, head_dim = 0;
  float scale = 1.0f;           // usually 1/sqrt(head_dim)
  float* out = nullptr;         // [n_q, n_head*head_dim], row stride ldo
  int64_t ldo = 0;
  RowMap rows;                  // row j of k/v is row rows(j) of the storage (paged caches)
};

namespace ref { void attention(const AttentionParams& p); }
namespace cpu {
// Threaded over (query, head); online softmax over the visible rows.
void attention(const AttentionParams& p);
}  // namespace cpu

}  // namespace lrkv
