// The engine's attention block, dense and latent (see latent_layer.h for the latent maths).
#include <cmath>

#include "kernels/attention.h"
#include "kernels/latent_attention.h"
#include "kernels/matmul.h"
#include "kernels/rebuild_keys.h"
#include "kernels/rope.h"
#include "model/cpu_engine.h"
#include "model/engine_ops.h"

namespace lrkv {

using engine_ops::add_bias;
using engine_ops::project;
using engine_ops::rmsnorm_rows;

namespace {
RopeParams rope_params(const std::vector<int>& pos, const std::vector<float>& inv_freq, const LlamaConfig& c,
                       float* x, int64_t ld, int n_heads) {
  RopeParams rp;
  rp.x = x;
  rp.rows = static_cast<int64_t>(pos.size());
  rp.ld = ld;
  rp.n_heads = n_heads;
  rp.head_dim = c.head_dim;
  rp.positions = pos.data();
  rp.inv_freq = inv_freq.data();
  rp.layout = c.rope_layout;
  return rp;
}

// y[:, :n] (+)= x[:, off : off + k] · W[n, k]ᵀ with strides (f32 weights).
void gemm(const float* x, int64_t ldx, int64_t m, const float* w, int64_t ldw, int64_t n, int64_t k, float* y,
          int64_t ldy) {
  MatmulParams p;
  p.x = x;
  p.ldx = ldx;
  p.w = w;
  p.ldw = ldw;
  p.w_type = DType::kF32;
  p.y = y;
  p.ldy = ldy;
  p.m = m;
  p.n = n;
  p.k = k;
  cpu::matmul(p);
}
}  // namespace

void CpuEngine::project_queries(int l) {
  const LayerWeights& w = model_.weights.layers[l];
  const int64_t d = cfg_.d_model, qd = cfg_.q_dim();
  emit(l, HookPoint::kAttnInput, x_.data(), d, d);
  rmsnorm_rows(x_.data(), h_.data(), T_, w.attn_norm, cfg_.norm_eps);
  emit(l, HookPoint::kKvInput, h_.data(), d, d);
  project(h_.data(), T_, w.wq, q_.data());
  add_bias(q_.data(), T_, w.bq);
  emit(l, HookPoint::kQPreRope, q_.data(), qd, qd);
  cpu::rope(rope_params(pos_, inv_freq_, cfg_, q_.data(), qd, cfg_.n_head));
  emit(l, HookPoint::kQPostRope, q_.data(), qd, qd);
}

void CpuEngine::attention_dense(int l, const std::vector<SeqSpan>& spans, KvCache& kv_cache) {
  const LayerWeights& w = model_.weights.layers[l];
  const int64_t qd = cfg_.q_dim(), kvd = cfg_.kv_dim();
  project_queries(l);
  project(h_.data(), T_, w.wk, k_.data());
  project(h_.data(), T_, w.wv, v_.data());
  add_bias(k_.data(), T_, w.bk);
  add_bias(v_.data(), T_, w.bv);
  emit(l, HookPoint::kKPreRope, k_.data(), kvd, kvd);
  emit(l, HookPoint::kV, v_.data(), kvd, kvd);
  cpu::rope(rope_params(pos_, inv_freq_, cfg_, k_.data(), kvd, cfg_.n_kv_head));
  emit(l, HookPoint::kKPostRope, k_.data(), kvd, kvd);

  if (kv_cache.as_rows() == nullptr) {  // quantized (check_cache admitted it)
    attend_dense_quantized(l, spans, kv_cache);
    emit(l, HookPoint::kAttnOutput, att_.data(), qd, qd);
    project(att_.data(), T_, w.wo, x_.data(), /*accumulate=*/true);
    return;
  }
  RowKvCache& cache = static_cast<RowKvCache&>(kv_cache);
  int64_t t0 = 0;
  for (const SeqSpan& s : spans) {
    const int start = cache.length(s.seq);
    cache.write(l, s.seq, start, s.n, k_.data() + t0 * kvd, kvd, v_.data() + t0 * kvd, kvd);
    AttentionParams ap;
    ap.q = q_.data() + t0 * qd;
    ap.ldq = qd;
    ap.q_pos = pos_.data() + t0;
    ap.n_q = s.n;
    ap.k = cache.keys(l, s.seq);
    ap.v = cache.values(l, s.seq);
    ap.rows = cache.row_map(s.seq);
    ap.ldkv = kvd;
    ap.kv_type = cache.dtype();
    ap.n_kv = start + s.n;
    ap.n_head = cfg_.n_head;
    ap.n_kv_head = cfg_.n_kv_head;
    ap.head_dim = cfg_.head_dim;
    ap.scale = 1.0f / std::sqrt(static_cast<float>(cfg_.head_dim));
    ap.out = att_.data() + t0 * qd;
    ap.ldo = qd;
    cpu::attention(ap);
    t0 += s.n;
  }
  emit(l, HookPoint::kAttnOutput, att_.data(), qd, qd);
  project(att_.data(), T_, w.wo, x_.data(), /*accumulate=*/true);
}

void CpuEngine::absorb_queries(int l) {
  const LatentLayer& L = latent_[l];
  const int hd = cfg_.head_dim, group = cfg_.group_size();
  qk_.resize(T_ * L.qk_width);
  for (int h = 0; h < cfg_.n_head; ++h) {
    const int g = L.head_group[h];
    const int64_t rows = L.groups[g].n_kv_heads * hd;
    const int64_t row_h = (h / group - L.groups[g].kv_head_begin) * hd;  // h's rows in the group block
    // q̃_h = P_g[row_h : +hd, :]ᵀ q_h  =  q_h · (Pᵀ[:, row_h : +hd])ᵀ
    gemm(q_.data() + int64_t{h} * hd, cfg_.q_dim(), T_, L.k_proj_t[g].f32() + row_h, rows, L.groups[g].rank_k,
         hd, qk_.data() + L.qk_off[h], L.qk_width);
  }
}

void CpuEngine::attention_latent(int l, const std::vector<SeqSpan>& spans, KvCache& kv_cache) {
  const LayerWeights& w = model_.weights.layers[l];
  const LatentLayer& L = latent_[l];
  const int64_t kvd = cfg_.kv_dim();
  const int G = static_cast<int>(L.groups.size());
  project_queries(l);
  ck_.resize(T_ * L.k_width);
  cv_.resize(T_ * L.v_width);
  if (L.key_mode == KeyMode::kRebuild) {
    project(h_.data(), T_, L.k_down, ck_.data());
    add_bias(ck_.data(), T_, L.k_down_bias);
  } else {
    project(h_.data(), T_, w.wk, k_.data());
    add_bias(k_.data(), T_, w.bk);
    emit(l, HookPoint::kKPreRope, k_.data(), kvd, kvd);
    cpu::rope(rope_params(pos_, inv_freq_, cfg_, k_.data(), kvd, cfg_.n_kv_head));
    emit(l, HookPoint::kKPostRope, k_.data(), kvd, kvd);
    if (!L.k_mean.empty()) {
      for (int64_t t = 0; t < T_; ++t) {
        for (int64_t i = 0; i < kvd; ++i) k_[t * kvd + i] -= L.k_mean.f32()[i];
      }
    }
    for (int g = 0; g < G; ++g) {  // c_g = (k_g - mu_g) P_g
      const int64_t rows = L.groups[g].n_kv_heads * cfg_.head_dim;
      gemm(k_.data() + L.group_row_off[g], kvd, T_, L.k_proj_t[g].f32(), rows, L.groups[g].rank_k, rows,
           ck_.data() + L.group_lat_k[g], L.k_width);
    }
    absorb_queries(l);
  }
  project(h_.data(), T_, L.v_down, cv_.data());
  add_bias(cv_.data(), T_, L.v_down_bias);

  if (kv_cache.as_rows() == nullptr) {  // quantized latents
    attend_latent_quantized(l, spans, kv_cache);
    project(z_.data(), T_, L.wo_folded, x_.data(), /*accumulate=*/true);
    add_bias(x_.data(), T_, L.o_bias);
    return;
  }
  RowKvCache& cache = static_cast<RowKvCache&>(kv_cache);
  z_.resize(T_ * L.z_width);
  std::vector<int> full_off(cfg_.n_head), full_len(cfg_.n_head, cfg_.head_dim), q_off(cfg_.n_head);
  for (int h = 0; h < cfg_.n_head; ++h) {
    full_off[h] = (h / cfg_.group_size()) * cfg_.head_dim;
    q_off[h] = h * cfg_.head_dim;
  }
  std::vector<const float*> ups;
  std::vector<int> g_rows, g_rank;
  for (int g = 0; g < G; ++g) {
    ups.push_back(L.key_mode == KeyMode::kRebuild ? L.k_up[g].f32() : nullptr);
    g_rows.push_back(L.groups[g].n_kv_heads * cfg_.head_dim);
    g_rank.push_back(L.groups[g].rank_k);
  }
  int64_t t0 = 0;
  for (const SeqSpan& s : spans) {
    const int start = cache.length(s.seq), n_kv = start + s.n;
    cache.write(l, s.seq, start, s.n, ck_.data() + t0 * L.k_width, L.k_width, cv_.data() + t0 * L.v_width, L.v_width);
    LatentAttentionParams ap;
    ap.n_q = s.n;
    ap.q_pos = pos_.data() + t0;
    ap.n_head = cfg_.n_head;
    if (L.key_mode == KeyMode::kRebuild) {
      krec_.resize(static_cast<size_t>(n_kv) * kvd);
      RebuildKeysParams rp;
      rp.c = cache.keys(l, s.seq);
      rp.rows = cache.row_map(s.seq);
      rp.ldc = L.k_width;
      rp.c_type = cache.dtype();
      rp.n_rows = n_kv;
      rp.n_groups = G;
      rp.group_rows = g_rows.data();
      rp.group_row_off = L.group_row_off.data();
      rp.group_lat_off = L.group_lat_k.data();
      rp.group_rank = g_rank.data();
      rp.up = ups.data();
      rp.bias = L.k_up_bias.empty() ? nullptr : L.k_up_bias.f32();
      rp.head_dim = cfg_.head_dim;
      rp.inv_freq = inv_freq_.data();
      rp.layout = cfg_.rope_layout;
      rp.k = krec_.data();
      rp.ldk = kvd;
      cpu::rebuild_keys(rp);
      ap.qk = q_.data() + t0 * cfg_.q_dim();
      ap.ldqk = cfg_.q_dim();
      ap.qk_off = q_off.data();
      ap.k = krec_.data();
      ap.ldk = kvd;
      ap.k_type = DType::kF32;
      ap.k_off = full_off.data();
      ap.k_len = full_len.data();
    } else {
      ap.qk = qk_.data() + t0 * L.qk_width;
      ap.ldqk = L.qk_width;
      ap.qk_off = L.qk_off.data();
      ap.k = cache.keys(l, s.seq);
      ap.k_rows = cache.row_map(s.seq);
      ap.ldk = L.k_width;
      ap.k_type = cache.dtype();
      ap.k_off = L.k_off.data();
      ap.k_len = L.k_len.data();
    }
    ap.v = cache.values(l, s.seq);
    ap.v_rows = cache.row_map(s.seq);
    ap.ldv = L.v_width;
    ap.v_type = cache.dtype();
    ap.v_off = L.v_off.data();
    ap.v_len = L.v_len.data();
    ap.z = z_.data() + t0 * L.z_width;
    ap.ldz = L.z_width;
    ap.z_off = L.z_off.data();
    ap.scale = 1.0f / std::sqrt(static_cast<float>(cfg_.head_dim));
    cpu::latent_attention(ap);
    t0 += s.n;
  }
  project(z_.data(), T_, L.wo_folded, x_.data(), /*accumulate=*/true);
  add_bias(x_.data(), T_, L.o_bias);
}

}  // namespace lrkv
