#include "model/train/causal_attention.h"

#include <algorithm>
#include <cmath>
#include <numeric>

#include "core/thread_pool.h"
#include "model/train/train_ops.h"

namespace lrkv {

using train_ops::gemm;

AttnLayout dense_attn_layout(const LlamaConfig& cfg) {
  return projected_attn_layout(cfg, std::vector<int>(cfg.n_kv_head, cfg.head_dim),
                               std::vector<int>(cfg.n_kv_head, cfg.head_dim));
}

AttnLayout projected_attn_layout(const LlamaConfig& cfg, const std::vector<int>& rank_k,
                                 const std::vector<int>& rank_v) {
  AttnLayout L;
  L.n_head = cfg.n_head;
  L.n_kv_head = cfg.n_kv_head;
  L.head_dim = cfg.head_dim;
  L.k_width = rank_k;
  L.v_width = rank_v;
  L.k_off.resize(L.n_kv_head);
  L.v_off.resize(L.n_kv_head);
  for (int g = 0; g < L.n_kv_head; ++g) {
    L.k_off[g] = L.k_ld;
    L.v_off[g] = L.v_ld;
    L.k_ld += rank_k[g];
    L.v_ld += rank_v[g];
  }
  L.q_off.resize(L.n_head);
  L.z_off.resize(L.n_head);
  for (int h = 0; h < L.n_head; ++h) {
    L.q_off[h] = L.q_ld;
    L.z_off[h] = L.z_ld;
    L.q_ld += rank_k[h / L.group()];
    L.z_ld += rank_v[h / L.group()];
  }
  return L;
}

namespace {

// Query rows are processed in blocks of kRowBlock: block [i0, i0 + m) sees key columns [0, i0 + m),
// so the GEMMs skip most of the masked upper triangle (about half the work for long sequences).
constexpr int64_t kRowBlock = 128;

// Row i (absolute) of a block, c visible columns, already scaled: softmax over j <= i, zero
// above; returns the lse.
float causal_softmax_row(float* s, int64_t i, int64_t c) {
  float mx = -INFINITY;
  for (int64_t j = 0; j <= i; ++j) mx = std::max(mx, s[j]);
  double sum = 0.0;
  for (int64_t j = 0; j <= i; ++j) sum += (s[j] = std::exp(s[j] - mx));
  const float inv = static_cast<float>(1.0 / sum);
  for (int64_t j = 0; j <= i; ++j) s[j] *= inv;
  for (int64_t j = i + 1; j < c; ++j) s[j] = 0.0f;
  return mx + static_cast<float>(std::log(sum));
}

// Pointers of one (sequence, head) problem, rows of the sequence from 0.
struct HeadPtrs {
  int64_t wk, wv;
  const float *q, *k, *v;              // q rows of head h; k, v rows of its KV head
  int64_t q_off, k_off, v_off, z_off;  // column offsets (for the gradient / output buffers)
};

HeadPtrs head_ptrs(const AttnLayout& L, const SeqRange& s, int h, const float* q, const float* k,
                   const float* v) {
  const int g = h / L.group();
  HeadPtrs p{L.k_width[g],
             L.v_width[g],
             nullptr,
             nullptr,
             nullptr,
             s.begin * L.q_ld + L.q_off[h],
             s.begin * L.k_ld + L.k_off[g],
             s.begin * L.v_ld + L.v_off[g],
             s.begin * L.z_ld + L.z_off[h]};
  p.q = q + p.q_off;
  p.k = k + p.k_off;
  p.v = v + p.v_off;
  return p;
}

// p [m, c] (row stride c) = scale · Q[i0 : i0+m] K[0 : c]ᵀ.
void block_scores(const AttnLayout& L, const HeadPtrs& hp, float scale, int64_t i0, int64_t m,
                  float* p) {
  const int64_t c = i0 + m;
  gemm(false, true, m, c, hp.wk, scale, hp.q + i0 * L.q_ld, L.q_ld, hp.k, L.k_ld, 0.0f, p, c);
}

// Forward of one row block: softmax, lse, z rows.
void forward_block(const AttnLayout& L, const HeadPtrs& hp, float scale, int64_t i0, int64_t m,
                   float* s, float* lse, float* z) {
  const int64_t c = i0 + m;
  block_scores(L, hp, scale, i0, m, s);
  global_pool().parallel_for(m, 16, [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r) lse[i0 + r] = causal_softmax_row(s + r * c, i0 + r, c);
  });
  gemm(false, false, m, hp.wv, c, 1.0f, s, c, hp.v, L.v_ld, 0.0f, z + i0 * L.z_ld,
       L.z_ld);  // [m, wv]
}

// Backward of one row block (see the header for the formulas); dk, dv accumulate.
void backward_block(const AttnLayout& L, const HeadPtrs& hp, float scale, int64_t i0, int64_t m,
                    const float* lse, const float* z, const float* dz, float* p, float* dp,
                    float* dq, float* dk, float* dv) {
  const int64_t c = i0 + m;
  const float* dzb = dz + i0 * L.z_ld;
  block_scores(L, hp, scale, i0, m, p);  // P rebuilt from the saved lse
  gemm(false, true, m, c, hp.wv, 1.0f, dzb, L.z_ld, hp.v, L.v_ld, 0.0f, dp,
       c);  // dP = dZ Vᵀ [m, c]
  global_pool().parallel_for(m, 16, [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r) {
      const int64_t i = i0 + r;
      float* pr = p + r * c;
      float* ds = dp + r * c;
      for (int64_t j = 0; j <= i; ++j) pr[j] = std::exp(pr[j] - lse[i]);
      for (int64_t j = i + 1; j < c; ++j) pr[j] = 0.0f;
      const float* zr = z + i * L.z_ld;
      const float di = std::inner_product(zr, zr + hp.wv, dz + i * L.z_ld, 0.0f);
      for (int64_t j = 0; j < c; ++j)
        ds[j] = pr[j] * (ds[j] - di);  // dS = P ⊙ (dP − rowsum(dZ ⊙ Z))
    }
  });
  gemm(true, false, c, hp.wv, m, 1.0f, p, c, dzb, L.z_ld, 1.0f, dv, L.v_ld);  // dV += Pᵀ dZ
  gemm(false, false, m, hp.wk, c, scale, dp, c, hp.k, L.k_ld, 0.0f, dq + i0 * L.q_ld,
       L.q_ld);  // dQ = s dS K
  gemm(true, false, c, hp.wk, m, scale, dp, c, hp.q + i0 * L.q_ld, L.q_ld, 1.0f, dk,
       L.k_ld);  // dK += s dSᵀ Q
}

}  // namespace

void causal_attention_forward(const AttnLayout& L, const std::vector<SeqRange>& seqs, int64_t T,
                              float scale, const float* q, const float* k, const float* v, float* z,
                              float* lse) {
  std::vector<float> s;
  for (const SeqRange& sr : seqs) {
    s.resize(static_cast<size_t>(std::min(sr.n, kRowBlock) * sr.n));
    for (int h = 0; h < L.n_head; ++h) {
      const HeadPtrs hp = head_ptrs(L, sr, h, q, k, v);
      for (int64_t i0 = 0; i0 < sr.n; i0 += kRowBlock) {
        forward_block(L, hp, scale, i0, std::min(kRowBlock, sr.n - i0), s.data(),
                      lse + int64_t{h} * T + sr.begin, z + hp.z_off);
      }
    }
  }
}

void causal_attention_backward(const AttnLayout& L, const std::vector<SeqRange>& seqs, int64_t T,
                               float scale, const float* q, const float* k, const float* v,
                               const float* z, const float* lse, const float* dz, float* dq,
                               float* dk, float* dv) {
  std::fill_n(dk, T * L.k_ld, 0.0f);
  std::fill_n(dv, T * L.v_ld, 0.0f);
  std::vector<float> p, dp;
  for (const SeqRange& sr : seqs) {
    p.resize(static_cast<size_t>(std::min(sr.n, kRowBlock) * sr.n));
    dp.resize(p.size());
    for (int h = 0; h < L.n_head; ++h) {
      const HeadPtrs hp = head_ptrs(L, sr, h, q, k, v);
      for (int64_t i0 = 0; i0 < sr.n; i0 += kRowBlock) {
        backward_block(L, hp, scale, i0, std::min(kRowBlock, sr.n - i0),
                       lse + int64_t{h} * T + sr.begin, z + hp.z_off, dz + hp.z_off, p.data(),
                       dp.data(), dq + hp.q_off, dk + hp.k_off, dv + hp.v_off);
      }
    }
  }
}

}  // namespace lrkv
