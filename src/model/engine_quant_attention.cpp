// The engine's attention over quantized caches: q8_0/q4_0 and KIVI dense caches, and quantized
// latents (both key modes). Rows are encoded when written; the kernels decode head slices inside
// their loops (kernels/quant_attention.h, kernels/kivi_attention.h). The rebuild-keys mode
// materialises full keys anyway (rebuild_keys.h), so it decodes the key latents once per step
// into f32 first; values are always read through the fused kernel.
#include <cmath>

#include "cache/kivi_kv_cache.h"
#include "cache/quantized_row_cache.h"
#include "core/thread_pool.h"
#include "kernels/kivi_attention.h"
#include "kernels/quant_attention.h"
#include "kernels/rebuild_keys.h"
#include "model/cpu_engine.h"

namespace lrkv {

namespace {

// Full post-RoPE keys [n_kv, kv_dim] of a rebuild-mode layer from its quantized key latents:
// decode the rows into `latents` (f32), then rebuild_keys.
void rebuild_from_quantized(const LatentLayer& L, const LlamaConfig& cfg, const float* inv_freq,
                            const uint8_t* rows, const RowMap& map, const RowCodec& kc, int n_kv,
                            std::vector<float>& latents, std::vector<float>& keys) {
  const int G = static_cast<int>(L.groups.size()), hd = cfg.head_dim;
  latents.resize(static_cast<size_t>(n_kv) * L.k_width);
  global_pool().parallel_for(n_kv, 64, [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r)
      cpu::decode_row(kc, rows + map(r) * kc.row_bytes, latents.data() + r * L.k_width);
  });
  std::vector<const float*> ups;
  std::vector<int> g_rows, g_rank;
  for (int g = 0; g < G; ++g) {
    ups.push_back(L.k_up[g].f32());
    g_rows.push_back(L.groups[g].n_kv_heads * hd);
    g_rank.push_back(L.groups[g].rank_k);
  }
  keys.resize(static_cast<size_t>(n_kv) * cfg.kv_dim());
  RebuildKeysParams rp;
  rp.c = latents.data();
  rp.ldc = L.k_width;
  rp.c_type = DType::kF32;
  rp.n_rows = n_kv;
  rp.n_groups = G;
  rp.group_rows = g_rows.data();
  rp.group_row_off = L.group_row_off.data();
  rp.group_lat_off = L.group_lat_k.data();
  rp.group_rank = g_rank.data();
  rp.up = ups.data();
  rp.bias = L.k_up_bias.empty() ? nullptr : L.k_up_bias.f32();
  rp.head_dim = hd;
  rp.inv_freq = inv_freq;
  rp.layout = cfg.rope_layout;
  rp.k = keys.data();
  rp.ldk = cfg.kv_dim();
  cpu::rebuild_keys(rp);
}

}  // namespace

void CpuEngine::attend_dense_quantized(int l, const std::vector<SeqSpan>& spans, KvCache& kv_cache) {
  const int64_t qd = cfg_.q_dim(), kvd = cfg_.kv_dim();
  const int hd = cfg_.head_dim, group = cfg_.group_size();
  const float scale = 1.0f / std::sqrt(static_cast<float>(hd));
  std::vector<int> head_off(cfg_.n_head), kv_head(cfg_.n_head);
  for (int h = 0; h < cfg_.n_head; ++h) {
    head_off[h] = h * hd;
    kv_head[h] = h / group;
  }
  auto* rows = kv_cache.as_quantized_rows();
  auto* kivi = kv_cache.as_kivi();
  LRKV_CHECK(rows || kivi, "attend_dense_quantized: cache '{}'", kv_cache.kind());
  int64_t t0 = 0;
  for (const SeqSpan& s : spans) {
    const int start = kv_cache.length(s.seq);
    const float* k = k_.data() + t0 * kvd;
    const float* v = v_.data() + t0 * kvd;
    if (kivi) {
      kivi->write(l, s.seq, start, s.n, k, kvd, v, kvd);
      KiviAttentionParams p;
      p.n_q = s.n;
      p.q_pos = pos_.data() + t0;
      p.q = q_.data() + t0 * qd;
      p.ldq = qd;
      p.n_head = cfg_.n_head;
      p.n_kv_head = cfg_.n_kv_head;
      p.head_dim = hd;
      p.scale = scale;
      p.out = att_.data() + t0 * qd;
      p.ldo = qd;
      kivi->fill_attention(l, s.seq, &p);
      cpu::kivi_attention(p);
    } else {
      rows->write(l, s.seq, start, s.n, k, kvd, v, kvd);
      QuantAttentionParams p;
      p.n_q = s.n;
      p.q_pos = pos_.data() + t0;
      p.n_head = cfg_.n_head;
      p.qk = q_.data() + t0 * qd;
      p.ldqk = qd;
      p.qk_off = head_off.data();
      const RowMap map = rows->row_map(s.seq);
      p.k = {rows->keys(l, s.seq), rows->k_codec(l).row_bytes, &rows->k_codec(l), DType::kF32,
             kv_head.data(), nullptr, nullptr, map};
      p.v = {rows->values(l, s.seq), rows->v_codec(l).row_bytes, &rows->v_codec(l), DType::kF32,
             kv_head.data(), nullptr, nullptr, map};
      p.z = att_.data() + t0 * qd;
      p.ldz = qd;
      p.z_off = head_off.data();
      p.scale = scale;
      cpu::quant_attention(p);
    }
    t0 += s.n;
  }
}

void CpuEngine::attend_latent_quantized(int l, const std::vector<SeqSpan>& spans, KvCache& kv_cache) {
  auto& cache = *kv_cache.as_quantized_rows();  // check_cache admitted only quantized rows
  const LatentLayer& L = latent_[l];
  const int64_t kvd = cfg_.kv_dim();
  const int hd = cfg_.head_dim;
  const bool rebuild = L.key_mode == KeyMode::kRebuild;
  z_.resize(T_ * L.z_width);
  std::vector<int> full_off(cfg_.n_head), full_len(cfg_.n_head, hd), q_off(cfg_.n_head);
  for (int h = 0; h < cfg_.n_head; ++h) {
    full_off[h] = (h / cfg_.group_size()) * hd;
    q_off[h] = h * hd;
  }
  const RowCodec& kc = cache.k_codec(l);
  const RowCodec& vc = cache.v_codec(l);
  int64_t t0 = 0;
  for (const SeqSpan& s : spans) {
    const int start = cache.length(s.seq), n_kv = start + s.n;
    cache.write(l, s.seq, start, s.n, ck_.data() + t0 * L.k_width, L.k_width,
                cv_.data() + t0 * L.v_width, L.v_width);
    const RowMap map = cache.row_map(s.seq);
    QuantAttentionParams ap;
    ap.n_q = s.n;
    ap.q_pos = pos_.data() + t0;
    ap.n_head = cfg_.n_head;
    if (rebuild) {  // s_j = q_h · RoPE_j(B c_j): full keys, rebuilt from the decoded latents
      rebuild_from_quantized(L, cfg_, inv_freq_.data(), cache.keys(l, s.seq), map, kc, n_kv, cdec_,
                             krec_);
      ap.qk = q_.data() + t0 * cfg_.q_dim();
      ap.ldqk = cfg_.q_dim();
      ap.qk_off = q_off.data();
      ap.k = {krec_.data(), kvd * 4,         nullptr,        DType::kF32,
              nullptr,      full_off.data(), full_len.data(), RowMap{}};
    } else {  // s_j = q̃_h · c_j on the quantized latents
      ap.qk = qk_.data() + t0 * L.qk_width;
      ap.ldqk = L.qk_width;
      ap.qk_off = L.qk_off.data();
      ap.k = {cache.keys(l, s.seq), kc.row_bytes, &kc, DType::kF32, L.head_group.data(),
              nullptr, nullptr, map};
    }
    ap.v = {cache.values(l, s.seq), vc.row_bytes, &vc, DType::kF32, L.head_group.data(),
            nullptr, nullptr, map};
    ap.z = z_.data() + t0 * L.z_width;
    ap.ldz = L.z_width;
    ap.z_off = L.z_off.data();
    ap.scale = 1.0f / std::sqrt(static_cast<float>(hd));
    cpu::quant_attention(ap);
    t0 += s.n;
  }
}

}  // namespace lrkv
