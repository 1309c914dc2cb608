#include "model/train/kv_projection.h"

#include <algorithm>
#include <cmath>

#include "model/train/train_ops.h"

namespace lrkv {

using train_ops::col_sums;
using train_ops::gemm;

KvProjections KvProjections::identity(const LlamaConfig& cfg) {
  KvProjections P;
  P.n_layer = cfg.n_layer;
  P.n_kv_head = cfg.n_kv_head;
  P.head_dim = cfg.head_dim;
  const int hd = cfg.head_dim;
  KvHeadProjection h;
  h.u_k.assign(static_cast<size_t>(hd) * hd, 0.0f);
  for (int i = 0; i < hd; ++i) h.u_k[static_cast<size_t>(i) * hd + i] = 1.0f;
  h.u_v = h.u_k;
  h.mu_k.assign(hd, 0.0f);
  h.mu_v.assign(hd, 0.0f);
  h.rank_k = h.rank_v = hd;
  P.heads.assign(static_cast<size_t>(P.n_layer) * P.n_kv_head, h);
  return P;
}

KvProjections KvProjections::zeros_like(const KvProjections& like) {
  KvProjections P = like;
  for (KvHeadProjection& h : P.heads) {
    std::fill(h.u_k.begin(), h.u_k.end(), 0.0f);
    std::fill(h.u_v.begin(), h.u_v.end(), 0.0f);
    std::fill(h.mu_k.begin(), h.mu_k.end(), 0.0f);
    std::fill(h.mu_v.begin(), h.mu_v.end(), 0.0f);
  }
  return P;
}

Status KvProjections::validate(const LlamaConfig& cfg) const {
  if (n_layer != cfg.n_layer || n_kv_head != cfg.n_kv_head || head_dim != cfg.head_dim ||
      heads.size() != static_cast<size_t>(n_layer) * n_kv_head) {
    return make_error(
        ErrorCode::kShapeMismatch,
        "KV projections are for {} layers x {} KV heads x head_dim {} ({} heads given); the "
        "model has {} x {} x {}",
        n_layer, n_kv_head, head_dim, heads.size(), cfg.n_layer, cfg.n_kv_head, cfg.head_dim);
  }
  const size_t hd = head_dim;
  for (size_t i = 0; i < heads.size(); ++i) {
    const KvHeadProjection& h = heads[i];
    const int l = static_cast<int>(i / n_kv_head), g = static_cast<int>(i % n_kv_head);
    if (h.u_k.size() != hd * hd || h.u_v.size() != hd * hd || h.mu_k.size() != hd ||
        h.mu_v.size() != hd) {
      return make_error(ErrorCode::kShapeMismatch,
                        "KV projection (layer {}, head {}): U must be [{}, {}], mu [{}]", l, g, hd,
                        hd, hd);
    }
    if (h.rank_k < 1 || h.rank_k > head_dim || h.rank_v < 1 || h.rank_v > head_dim) {
      return make_error(ErrorCode::kInvalidArgument,
                        "KV projection (layer {}, head {}): ranks {}/{} outside 1..{}", l, g,
                        h.rank_k, h.rank_v, head_dim);
    }
    for (const auto* v : {&h.u_k, &h.u_v, &h.mu_k, &h.mu_v}) {
      for (float x : *v) {
        if (!std::isfinite(x)) {
          return make_error(ErrorCode::kInvalidArgument,
                            "KV projection (layer {}, head {}) has a non-finite value", l, g);
        }
      }
    }
  }
  return Status::Ok();
}

std::vector<int> KvProjections::ranks_k(int layer) const {
  std::vector<int> r(n_kv_head);
  for (int g = 0; g < n_kv_head; ++g) r[g] = at(layer, g).rank_k;
  return r;
}

std::vector<int> KvProjections::ranks_v(int layer) const {
  std::vector<int> r(n_kv_head);
  for (int g = 0; g < n_kv_head; ++g) r[g] = at(layer, g).rank_v;
  return r;
}

namespace {

// out [T, hd] = x[:, :hd] (row stride ldx) − mu
void centre(const float* x, int64_t ldx, int64_t T, const std::vector<float>& mu, float* out) {
  const int64_t hd = static_cast<int64_t>(mu.size());
  for (int64_t t = 0; t < T; ++t) {
    for (int64_t i = 0; i < hd; ++i) out[t * hd + i] = x[t * ldx + i] - mu[i];
  }
}

// acc[:n] −= Σ_t y[t, :n]
void sub_col_sums(const float* y, int64_t ldy, int64_t T, int64_t n, float* acc) {
  std::vector<float> s(n);
  col_sums(y, ldy, T, n, s.data(), false);
  for (int64_t i = 0; i < n; ++i) acc[i] -= s[i];
}

}  // namespace

void kv_project_inputs(const KvProjections& P, int layer, const AttnLayout& L, int64_t T,
                       const float* q, const float* k, const float* v, float* qa, float* ka,
                       float* va) {
  const int64_t hd = L.head_dim, qd = int64_t{L.n_head} * hd, kvd = int64_t{L.n_kv_head} * hd;
  std::vector<float> c(static_cast<size_t>(T * hd));
  for (int g = 0; g < L.n_kv_head; ++g) {
    const KvHeadProjection& p = P.at(layer, g);
    const int64_t rk = L.k_width[g], rv = L.v_width[g];
    centre(k + g * hd, kvd, T, p.mu_k, c.data());  // ka_g [T, rk] = (k_g − mu_K) U_K[:, :rk]
    gemm(false, false, T, rk, hd, 1.0f, c.data(), hd, p.u_k.data(), hd, 0.0f, ka + L.k_off[g],
         L.k_ld);
    centre(v + g * hd, kvd, T, p.mu_v, c.data());  // va_g [T, rv] = (v_g − mu_V) U_V[:, :rv]
    gemm(false, false, T, rv, hd, 1.0f, c.data(), hd, p.u_v.data(), hd, 0.0f, va + L.v_off[g],
         L.v_ld);
    for (int h = g * L.group(); h < (g + 1) * L.group(); ++h) {  // qa_h [T, rk] = q_h U_K[:, :rk]
      gemm(false, false, T, rk, hd, 1.0f, q + h * hd, qd, p.u_k.data(), hd, 0.0f, qa + L.q_off[h],
           L.q_ld);
    }
  }
}

void kv_project_output(const KvProjections& P, int layer, const AttnLayout& L, int64_t T,
                       const float* za, float* att) {
  const int64_t hd = L.head_dim, qd = int64_t{L.n_head} * hd;
  for (int h = 0; h < L.n_head; ++h) {
    const int g = h / L.group();
    const KvHeadProjection& p = P.at(layer, g);
    float* out = att + h * hd;  // [T, hd] = za_h [T, rv] · U_V[:, :rv]ᵀ + mu_V
    gemm(false, true, T, hd, L.v_width[g], 1.0f, za + L.z_off[h], L.z_ld, p.u_v.data(), hd, 0.0f,
         out, qd);
    train_ops::add_bias(out, qd, T, p.mu_v.data(), hd);
  }
}

void kv_project_output_backward(const KvProjections& P, int layer, const AttnLayout& L, int64_t T,
                                const float* za, const float* datt, float* dza,
                                KvProjections& grads) {
  const int64_t hd = L.head_dim, qd = int64_t{L.n_head} * hd;
  for (int h = 0; h < L.n_head; ++h) {
    const int g = h / L.group();
    const int64_t rv = L.v_width[g];
    const KvHeadProjection& p = P.at(layer, g);
    KvHeadProjection& d = grads.at(layer, g);
    const float* dh = datt + h * hd;
    // dza_h [T, rv] = datt_h U_V[:, :rv];  dU_V[:, :rv] += datt_hᵀ za_h;  dmu_V += Σ_t datt_h
    gemm(false, false, T, rv, hd, 1.0f, dh, qd, p.u_v.data(), hd, 0.0f, dza + L.z_off[h], L.z_ld);
    gemm(true, false, hd, rv, T, 1.0f, dh, qd, za + L.z_off[h], L.z_ld, 1.0f, d.u_v.data(), hd);
    col_sums(dh, qd, T, hd, d.mu_v.data(), true);
  }
}

void kv_project_inputs_backward(const KvProjections& P, int layer, const AttnLayout& L, int64_t T,
                                const float* q, const float* k, const float* v, const float* dqa,
                                const float* dka, const float* dva, float* dq, float* dk, float* dv,
                                KvProjections& grads) {
  const int64_t hd = L.head_dim, qd = int64_t{L.n_head} * hd, kvd = int64_t{L.n_kv_head} * hd;
  std::vector<float> c(static_cast<size_t>(T * hd));
  for (int g = 0; g < L.n_kv_head; ++g) {
    const KvHeadProjection& p = P.at(layer, g);
    KvHeadProjection& d = grads.at(layer, g);
    const int64_t rk = L.k_width[g], rv = L.v_width[g];
    const float* dkg = dka + L.k_off[g];
    const float* dvg = dva + L.v_off[g];
    // dk_g = dka_g U_K[:, :rk]ᵀ;  dU_K += (k_g − mu_K)ᵀ dka_g;  dmu_K −= Σ_t dk_g
    gemm(false, true, T, hd, rk, 1.0f, dkg, L.k_ld, p.u_k.data(), hd, 0.0f, dk + g * hd, kvd);
    centre(k + g * hd, kvd, T, p.mu_k, c.data());
    gemm(true, false, hd, rk, T, 1.0f, c.data(), hd, dkg, L.k_ld, 1.0f, d.u_k.data(), hd);
    sub_col_sums(dk + g * hd, kvd, T, hd, d.mu_k.data());
    // same for values
    gemm(false, true, T, hd, rv, 1.0f, dvg, L.v_ld, p.u_v.data(), hd, 0.0f, dv + g * hd, kvd);
    centre(v + g * hd, kvd, T, p.mu_v, c.data());
    gemm(true, false, hd, rv, T, 1.0f, c.data(), hd, dvg, L.v_ld, 1.0f, d.u_v.data(), hd);
    sub_col_sums(dv + g * hd, kvd, T, hd, d.mu_v.data());
    for (int h = g * L.group(); h < (g + 1) * L.group();
         ++h) {  // dq_h = dqa_h U_Kᵀ; dU_K += q_hᵀ dqa_h
      const float* dqh = dqa + L.q_off[h];
      gemm(false, true, T, hd, rk, 1.0f, dqh, L.q_ld, p.u_k.data(), hd, 0.0f, dq + h * hd, qd);
      gemm(true, false, hd, rk, T, 1.0f, q + h * hd, qd, dqh, L.q_ld, 1.0f, d.u_k.data(), hd);
    }
  }
}

}  // namespace lrkv
