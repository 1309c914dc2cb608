// CudaEngine's attention blocks (see cuda_engine.h and model/latent_layer.h for the maths).
#include <cmath>

#include "backend/cuda/cuda_engine.h"
#include "backend/cuda/cuda_engine_step.h"
#include "kernels/cuda/segment_project.h"
#include "kernels/cuda/skinny_matmul_args.h"
#include "kernels/cuda/elementwise.h"
#include "kernels/cuda/latent_attention.h"
#include "kernels/cuda/quant_latent_attention.h"
#include "kernels/cuda/rebuild_attention.h"

namespace lrkv::cuda {
namespace {

// Consecutive spans with equal lengths over consecutive sequences run as one batch.
struct Run {
  size_t first = 0, count = 0;
};

std::vector<Run> batch_runs(const std::vector<SeqSpan>& spans) {
  std::vector<Run> runs;
  for (size_t i = 0; i < spans.size(); ++i) {
    if (!runs.empty()) {
      const SeqSpan& prev = spans[i - 1];
      if (spans[i].n == prev.n && spans[i].seq == prev.seq + 1) {
        ++runs.back().count;
        continue;
      }
    }
    runs.push_back(Run{i, 1});
  }
  return runs;
}

int run_max_kv(const std::vector<int>& start, const std::vector<SeqSpan>& spans, const Run& r) {
  int m = 0;
  for (size_t i = r.first; i < r.first + r.count; ++i) m = std::max(m, start[i] + spans[i].n);
  return m;
}

// Rows [T, width] into a cache whose regions hold `cap` rows (a sequence's, or a paged cache's
// storage rows found through `maps`): token rows, or head-major segments.
CacheWriteParams cache_rows(const float* src, int64_t T, int width, void* dst, DType type, const int* seq,
                            const int* pos, int64_t cap, int seg, const SeqRowMaps& maps) {
  CacheWriteParams p;
  p.src = src;
  p.ld_src = width;
  p.rows = T;
  p.width = width;
  p.dst = dst;
  p.type = type;
  p.seq = seq;
  p.pos = pos;
  p.seg = seg;
  p.seq_stride = int64_t{cap} * width;
  p.row_stride = seg;
  p.seg_stride = seg == width ? 0 : int64_t{cap} * seg;
  p.maps = maps;
  return p;
}

Status with_workspace(DevicePool& pool, cudaStream_t s, Result<size_t> bytes, PoolBuffer* ws) {
  LRKV_RETURN_IF_ERROR(bytes.status());
  LRKV_ASSIGN_OR_RETURN(*ws, pool.alloc(*bytes, s));
  return Status::Ok();
}

}  // namespace

RopeQkParams CudaEngine::rope_q(Step& st) const {
  RopeQkParams p;
  p.q = rope_rows(st.q.as<float>(), st.T, cfg_.q_dim(), cfg_.n_head, cfg_, st.pos(), inv_freq_.as<float>());
  p.k = p.q;
  p.k.x = nullptr;
  p.k.n_heads = 0;
  return p;
}

Status CudaEngine::attention_dense(int l, Step& st) {
  const Layer& w = layers_[l];
  const int64_t qd = cfg_.q_dim(), kvd = cfg_.kv_dim(), d = cfg_.d_model, T = st.T;
  const int hd = cfg_.head_dim, group = cfg_.group_size();
  // RoPE(q), RoPE(k) and both cache writes: in the projection's epilogue when it allows
  // (CudaEngineOptions::rope_in_projection), else one rope_qk launch.
  const DType ct = cache_->dtype();
  RopeQkParams rq = rope_q(st);
  rq.k = rope_rows(st.k.as<float>(), T, kvd, cfg_.n_kv_head, cfg_, st.pos(), inv_freq_.as<float>());
  rq.k_cache = cache_rows(st.k.as<float>(), T, static_cast<int>(kvd), cache_->k[l].data(), ct, st.seq(),
                          st.pos(), cache_->region_rows(), hd, cache_->maps(0));
  rq.v_cache = cache_rows(st.v.as<float>(), T, static_cast<int>(kvd), cache_->v[l].data(), ct, st.seq(),
                          st.pos(), cache_->region_rows(), hd, cache_->maps(0));
  bool roped = false;
  if (opt_.rope_in_projection && !device_hook_ && cfg_.rope_layout == RopeLayout::kInterleaved) {
    const SkinnyRope sr{rq.k.positions, rq.k.inv_freq, rq.k.head_dim, rq.k_cache, rq.v_cache};  // rope_qk's
    LRKV_RETURN_IF_ERROR(project_inputs(l, st, &sr, &roped));  // q, k, v rotated and cached
  } else {
    LRKV_RETURN_IF_ERROR(project_inputs(l, st));  // q, k, v (+ biases)
  }
  if (device_hook_) {
    LRKV_RETURN_IF_ERROR(device_hook_(l, HookPoint::kKvInput, st.h.as<float>(), T, d, d, stream_));
    LRKV_RETURN_IF_ERROR(device_hook_(l, HookPoint::kKPreRope, st.k.as<float>(), T, kvd, kvd, stream_));
    LRKV_RETURN_IF_ERROR(device_hook_(l, HookPoint::kV, st.v.as<float>(), T, kvd, kvd, stream_));
  }
  if (!roped) LRKV_RETURN_IF_ERROR(rope_qk(rq, stream_));
  if (device_hook_) LRKV_RETURN_IF_ERROR(device_hook_(l, HookPoint::kKPostRope, st.k.as<float>(), T, kvd, kvd, stream_));
  // Head-major cache: KV head g of a sequence (paged: of the storage) at g * region rows * hd,
  // row stride hd (make_cache keeps these offsets below 2^31).
  std::vector<int> q_off(cfg_.n_head), kv_off(cfg_.n_head), len(cfg_.n_head, hd);
  for (int h = 0; h < cfg_.n_head; ++h) {
    q_off[h] = h * hd;
    kv_off[h] = static_cast<int>((h / group) * cache_->region_rows() * hd);
  }
  const int64_t seq_elems = cache_->seq_rows() * kvd, eb = dtype_bytes(ct, 1);
  for (const Run& r : batch_runs(st.spans)) {
    const SeqSpan& s0 = st.spans[r.first];
    const int64_t t0 = st.t0[r.first];
    LatentAttentionBatch b;
    LatentAttentionParams& p = b.p;
    p.n_q = s0.n;
    p.q_pos = st.pos() + t0;
    p.n_head = cfg_.n_head;
    p.qk = st.q.as<float>() + t0 * qd;
    p.ldqk = qd;
    p.qk_off = p.z_off = q_off.data();
    p.k = static_cast<const char*>(cache_->k[l].data()) + s0.seq * seq_elems * eb;
    p.v = static_cast<const char*>(cache_->v[l].data()) + s0.seq * seq_elems * eb;
    p.ldk = p.ldv = hd;
    p.k_type = p.v_type = ct;
    p.k_off = p.v_off = kv_off.data();
    p.k_len = p.v_len = len.data();
    p.z = st.att.as<float>() + t0 * qd;
    p.ldz = qd;
    p.scale = 1.0f / std::sqrt(static_cast<float>(hd));
    b.n_seq = static_cast<int>(r.count);
    b.qk_seq = b.z_seq = int64_t{s0.n} * qd;
    b.k_seq = b.v_seq = seq_elems;
    b.maps = cache_->maps(s0.seq);
    b.max_kv = st.max_kv(run_max_kv(st.start, st.spans, r));
    b.early_rows = opt_.early_attention_rows;  // the queries are the spans' new rows, in order
    PoolBuffer ws;
    LRKV_RETURN_IF_ERROR(with_workspace(pool_, stream_, latent_attention_workspace_bytes(b), &ws));
    b.workspace = ws.data();
    b.workspace_bytes = ws.bytes();
    LRKV_RETURN_IF_ERROR(latent_attention(b, stream_));
  }
  return project(st.att.as<float>(), qd, T, w.wo, st.x.as<float>(), d, /*accumulate=*/true);
}

// Decode-sized steps: the per-group key latents and the per-head query absorption in one
// segment_project launch instead of one cuBLAS GEMM per group / head.
bool CudaEngine::absorb_in_one_launch(int l) const {
  const LatentLayer& L = latent_[l];
  const LatentFactors& f = factors_[l];
  if (cfg_.n_head + static_cast<int64_t>(L.groups.size()) > kSegProjMaxSegments) return false;
  for (const Matrix& m : f.k_proj_t) {
    if (m.type != f.k_proj_t[0].type || m.cols > 4096) return false;
  }
  return true;
}

// fused: RoPE and the mean applied to the staged inputs (rope_qk not launched) and, for an
// unquantized cache, both latents written into it (cache_write not launched).
Status CudaEngine::absorb_segments(int l, Step& st, bool fused, bool* cached) {
  const LatentLayer& L = latent_[l];
  const LatentFactors& f = factors_[l];
  const int64_t kvd = cfg_.kv_dim(), qd = cfg_.q_dim(), T = st.T;
  const int hd = cfg_.head_dim;
  *cached = false;
  SegmentProjectParams c;  // segments 0..G-1: c_g = P_gᵀ (k - μ)_g
  if (fused) {
    c.rope.pos = st.pos();
    c.rope.inv_freq = inv_freq_.as<float>();
    c.rope.x_mean = f.k_mean.empty() ? nullptr : f.k_mean.as<float>();
    c.rope.head_dim = hd;
    c.rope.half_split = cfg_.rope_layout == RopeLayout::kHalfSplit ? 1 : 0;
    if (quantized()) {
      LatentEncode e;
      latent_encode(l, st, &e);
      // The key codec's segments are the groups' latent slices (make_cache), which the kernel
      // encodes where it writes them; otherwise quant_encode_rows does it after this launch.
      bool same = e.side[0].n_segments == static_cast<int>(L.groups.size());
      for (size_t g = 0; same && g < L.groups.size(); ++g) {
        same = e.col[0][g] == L.group_lat_k[g] && e.len[0][g] == L.groups[g].rank_k;
      }
      if (same) {
        LRKV_RETURN_IF_ERROR(quant_encode_args(e.side[0], &c.k_enc));
        LRKV_RETURN_IF_ERROR(quant_encode_args(e.side[1], &c.v_enc));
        c.counters = encode_counters_.as<unsigned>();
        c.n_counters = static_cast<int>(encode_counters_.bytes() / sizeof(unsigned));
        *cached = true;
      }
    } else {
      latent_cache_writes(l, st, &c.y_cache, &c.v_cache);
      *cached = true;
    }
  }
  c.x = st.k.as<float>();
  c.ldx = kvd;
  c.rows = T;
  c.y = st.ck.as<float>();
  c.ldy = L.k_width;
  c.w_type = f.k_proj_t[0].type;
  const int G = static_cast<int>(L.groups.size());
  for (int g = 0; g < G; ++g) {
    c.w[g] = f.k_proj_t[g].buf.data();
    c.ldw[g] = static_cast<int>(f.k_proj_t[g].cols);
    c.in_len[g] = L.groups[g].n_kv_heads * hd;
    c.out_len[g] = L.groups[g].rank_k;
    c.x_off[g] = static_cast<int>(L.group_row_off[g]);
    c.y_off[g] = static_cast<int>(L.group_lat_k[g]);
  }
  c.x2 = st.q.as<float>();  // segments G..G+H-1 (second pair): q̃_h = P_g[rows of h]ᵀ q_h
  c.ldx2 = qd;
  c.y2 = st.qk.as<float>();
  c.ldy2 = L.qk_width;
  c.n_seg = G + cfg_.n_head;
  for (int h = 0; h < cfg_.n_head; ++h) {
    const int g = L.head_group[h], s = G + h;
    const int64_t row_h = int64_t{h / cfg_.group_size() - L.groups[g].kv_head_begin} * hd;
    const Matrix& P = f.k_proj_t[g];
    c.pair[s] = 1;
    c.w[s] = static_cast<const char*>(P.buf.data()) + dtype_bytes(P.type, row_h);
    c.ldw[s] = static_cast<int>(P.cols);
    c.in_len[s] = hd;
    c.out_len[s] = L.groups[g].rank_k;
    c.x_off[s] = h * hd;
    c.y_off[s] = static_cast<int>(L.qk_off[h]);
  }
  return segment_project(c, stream_);
}

Status CudaEngine::value_latents(int l, Step& st) {
  const LatentLayer& L = latent_[l];
  const LatentFactors& f = factors_[l];
  const int64_t d = cfg_.d_model, T = st.T;
  if (layers_[l].v_down.empty()) {  // else projected with q (project_inputs)
    LRKV_RETURN_IF_ERROR(project(st.h.as<float>(), d, T, f.v_down, st.cv.as<float>(), L.v_width));
  }
  if (f.v_down_bias.empty()) return Status::Ok();
  return add_row_vector(st.cv.as<float>(), L.v_width, T, L.v_width, f.v_down_bias.as<float>(), 1.0f, stream_);
}

Status CudaEngine::latent_keys(int l, Step& st, bool* cached) {
  const LatentLayer& L = latent_[l];
  const LatentFactors& f = factors_[l];
  const int64_t d = cfg_.d_model, kvd = cfg_.kv_dim(), qd = cfg_.q_dim(), T = st.T;
  const int hd = cfg_.head_dim;
  *cached = false;
  if (L.key_mode == KeyMode::kRebuild) {  // RoPE(q) only: the kernel rotates the rebuilt keys
    LRKV_RETURN_IF_ERROR(rope_qk(rope_q(st), stream_));
    if (layers_[l].k_down.empty()) {  // else projected with q (project_inputs)
      LRKV_RETURN_IF_ERROR(project(st.h.as<float>(), d, T, f.k_down, st.ck.as<float>(), L.k_width));
    }
    if (!f.k_down_bias.empty()) {
      LRKV_RETURN_IF_ERROR(
          add_row_vector(st.ck.as<float>(), L.k_width, T, L.k_width, f.k_down_bias.as<float>(), 1.0f, stream_));
    }
    return Status::Ok();
  }
  // Absorbed: c_g = (RoPE(k) - mu)_g P_g, and q̃_h = P_g[h rows]ᵀ q_h (k = h W_kᵀ + b_k came with q).
  const bool one_launch = T <= kSegmentProjectMaxRows && absorb_in_one_launch(l);
  const bool fused = quantized() ? opt_.fused_absorption_quantized : opt_.fused_absorption;
  if (one_launch && fused) return absorb_segments(l, st, /*fused=*/true, cached);
  // RoPE(q), RoPE(k) - mu: one launch.
  RopeQkParams rq = rope_q(st);
  rq.k = rope_rows(st.k.as<float>(), T, kvd, cfg_.n_kv_head, cfg_, st.pos(), inv_freq_.as<float>());
  if (!f.k_mean.empty()) rq.k_mean = f.k_mean.as<float>();
  LRKV_RETURN_IF_ERROR(rope_qk(rq, stream_));
  if (one_launch) return absorb_segments(l, st, /*fused=*/false, cached);
  for (size_t g = 0; g < L.groups.size(); ++g) {
    const int64_t rows = int64_t{L.groups[g].n_kv_heads} * hd;
    LRKV_RETURN_IF_ERROR(project(st.k.as<float>() + L.group_row_off[g], kvd, T, f.k_proj_t[g],
                                 st.ck.as<float>() + L.group_lat_k[g], L.k_width, false, 0, L.groups[g].rank_k, rows));
  }
  for (int h = 0; h < cfg_.n_head; ++h) {
    const int g = L.head_group[h];
    const int64_t row_h = int64_t{h / cfg_.group_size() - L.groups[g].kv_head_begin} * hd;
    LRKV_RETURN_IF_ERROR(project(st.q.as<float>() + int64_t{h} * hd, qd, T, f.k_proj_t[g],
                                 st.qk.as<float>() + L.qk_off[h], L.qk_width, false, 0, L.groups[g].rank_k, hd, row_h));
  }
  return Status::Ok();
}

Status CudaEngine::attention_latent(int l, Step& st) {
  const LatentLayer& L = latent_[l];
  const LatentFactors& f = factors_[l];
  const int64_t d = cfg_.d_model, qd = cfg_.q_dim(), T = st.T;
  const int hd = cfg_.head_dim;
  const DType ct = cache_->dtype();
  LRKV_RETURN_IF_ERROR(project_inputs(l, st));  // q (and k for absorbed keys)
  LRKV_RETURN_IF_ERROR(value_latents(l, st));   // before the keys: the fused launch caches cv
  bool cached = false;
  LRKV_RETURN_IF_ERROR(latent_keys(l, st, &cached));
  if (quantized()) {
    LRKV_RETURN_IF_ERROR(attention_latent_quantized(l, st, cached));
    LRKV_RETURN_IF_ERROR(
        project(st.z.as<float>(), L.z_width, T, f.wo_folded, st.x.as<float>(), d, /*accumulate=*/true));
    if (!f.o_bias.empty()) LRKV_RETURN_IF_ERROR(add_row_vector(st.x.as<float>(), d, T, d, f.o_bias.as<float>(), 1.0f, stream_));
    return Status::Ok();
  }
  if (!cached) {
    CacheWriteParams kw, vw;
    latent_cache_writes(l, st, &kw, &vw);
    LRKV_RETURN_IF_ERROR(cache_write(kw, vw, stream_));
  }
  const int G = static_cast<int>(L.groups.size());
  std::vector<int> q_off(cfg_.n_head), g_rows(G), g_rank(G);
  for (int h = 0; h < cfg_.n_head; ++h) q_off[h] = h * hd;
  for (int g = 0; g < G; ++g) {
    g_rows[g] = L.groups[g].n_kv_heads * hd;
    g_rank[g] = L.groups[g].rank_k;
  }
  const int64_t eb = dtype_bytes(ct, 1), k_seq = cache_->seq_rows() * L.k_width, v_seq = cache_->seq_rows() * L.v_width;
  const float scale = 1.0f / std::sqrt(static_cast<float>(hd));
  for (const Run& r : batch_runs(st.spans)) {
    const SeqSpan& s0 = st.spans[r.first];
    const int64_t t0 = st.t0[r.first];
    const void* kc = static_cast<const char*>(cache_->k[l].data()) + s0.seq * k_seq * eb;
    const void* vc = static_cast<const char*>(cache_->v[l].data()) + s0.seq * v_seq * eb;
    LatentAttentionParams a;
    a.n_q = s0.n;
    a.q_pos = st.pos() + t0;
    a.n_head = cfg_.n_head;
    a.v = vc;
    a.ldv = L.v_width;
    a.v_type = ct;
    a.v_off = L.v_off.data();
    a.v_len = L.v_len.data();
    a.z = st.z.as<float>() + t0 * L.z_width;
    a.ldz = L.z_width;
    a.z_off = L.z_off.data();
    a.scale = scale;
    PoolBuffer ws;
    if (L.key_mode == KeyMode::kRebuild) {
      RebuildAttentionBatch b;
      b.att = a;
      b.att.qk = st.q.as<float>() + t0 * qd;
      b.att.ldqk = qd;
      b.att.qk_off = q_off.data();
      RebuildKeysParams& k = b.keys;
      k.c = kc;
      k.ldc = L.k_width;
      k.c_type = ct;
      k.n_groups = G;
      k.group_rows = g_rows.data();
      k.group_row_off = L.group_row_off.data();
      k.group_lat_off = L.group_lat_k.data();
      k.group_rank = g_rank.data();
      k.up = f.k_up_ptrs.data();
      k.bias = f.k_up_bias.empty() ? nullptr : f.k_up_bias.as<float>();
      k.head_dim = hd;
      k.inv_freq = inv_freq_.as<float>();
      k.layout = cfg_.rope_layout;
      b.n_kv_head = cfg_.n_kv_head;
      b.n_seq = static_cast<int>(r.count);
      b.q_seq = int64_t{s0.n} * qd;
      b.c_seq = k_seq;
      b.v_seq = v_seq;
      b.z_seq = int64_t{s0.n} * L.z_width;
      b.maps = cache_->maps(s0.seq);
      b.max_kv = st.max_kv(run_max_kv(st.start, st.spans, r));
      b.early_rows = opt_.early_attention_rows;
      LRKV_RETURN_IF_ERROR(with_workspace(pool_, stream_, rebuild_attention_workspace_bytes(b), &ws));
      b.workspace = ws.data();
      b.workspace_bytes = ws.bytes();
      LRKV_RETURN_IF_ERROR(rebuild_attention(b, stream_));
    } else {
      LatentAttentionBatch b;
      b.p = a;
      b.p.qk = st.qk.as<float>() + t0 * L.qk_width;
      b.p.ldqk = L.qk_width;
      b.p.qk_off = L.qk_off.data();
      b.p.k = kc;
      b.p.ldk = L.k_width;
      b.p.k_type = ct;
      b.p.k_off = L.k_off.data();
      b.p.k_len = L.k_len.data();
      b.n_seq = static_cast<int>(r.count);
      b.qk_seq = int64_t{s0.n} * L.qk_width;
      b.k_seq = k_seq;
      b.v_seq = v_seq;
      b.z_seq = int64_t{s0.n} * L.z_width;
      b.maps = cache_->maps(s0.seq);
      b.max_kv = st.max_kv(run_max_kv(st.start, st.spans, r));
      b.early_rows = opt_.early_attention_rows;
      LRKV_RETURN_IF_ERROR(with_workspace(pool_, stream_, latent_attention_workspace_bytes(b), &ws));
      b.workspace = ws.data();
      b.workspace_bytes = ws.bytes();
      LRKV_RETURN_IF_ERROR(latent_attention(b, stream_));
    }
  }
  LRKV_RETURN_IF_ERROR(project(st.z.as<float>(), L.z_width, T, f.wo_folded, st.x.as<float>(), d, /*accumulate=*/true));
  if (!f.o_bias.empty()) LRKV_RETURN_IF_ERROR(add_row_vector(st.x.as<float>(), d, T, d, f.o_bias.as<float>(), 1.0f, stream_));
  return Status::Ok();
}

void CudaEngine::latent_cache_writes(int l, Step& st, CacheWriteParams* k, CacheWriteParams* v) const {
  const LatentLayer& L = latent_[l];
  const DType ct = cache_->dtype();
  *k = cache_rows(st.ck.as<float>(), st.T, L.k_width, cache_->k[l].data(), ct, st.seq(), st.pos(),
                  cache_->region_rows(), L.k_width, cache_->maps(0));
  *v = cache_rows(st.cv.as<float>(), st.T, L.v_width, cache_->v[l].data(), ct, st.seq(), st.pos(),
                  cache_->region_rows(), L.v_width, cache_->maps(0));
}

void CudaEngine::latent_encode(int l, Step& st, LatentEncode* e) const {
  const LatentLayer& L = latent_[l];
  const int G = static_cast<int>(L.groups.size());
  const QuantLayout* side[2] = {&cache_->k_quant[l], &cache_->v_quant[l]};
  const float* src[2] = {st.ck.as<float>(), st.cv.as<float>()};
  const int width[2] = {L.k_width, L.v_width};
  const DeviceBuffer* cache[2] = {&cache_->k[l], &cache_->v[l]};
  for (int kv = 0; kv < 2; ++kv) {
    const QuantLayout& q = *side[kv];
    e->col[kv].resize(G);
    e->len[kv].resize(G);
    for (int g = 0; g < G; ++g) {
      e->col[kv][g] = q.codec.segments[g].col;
      e->len[kv][g] = q.codec.segments[g].len;
    }
    QuantEncodeParams& p = e->side[kv];
    p.src = src[kv];
    p.ld_src = width[kv];
    p.rows = st.T;
    p.format = q.codec.format;
    p.n_segments = G;
    p.seg_col = e->col[kv].data();
    p.seg_len = e->len[kv].data();
    p.seg_dst = q.seg_off.data();
    p.dst = cache[kv]->data();
    p.row_bytes = q.row_stride;
    p.seq_bytes = q.seq_bytes;
    p.maps = cache_->maps(0);
    p.seq = st.seq();
    p.pos = st.pos();
  }
}

// Quantized latents: encode the new rows' ck / cv into the byte cache (unless the fused
// absorption did), then attention with the dequantisation fused into the kernel. Absorbed keys
// only (checked in make_cache).
Status CudaEngine::attention_latent_quantized(int l, Step& st, bool encoded) {
  const LatentLayer& L = latent_[l];
  if (!encoded) {
    LatentEncode e;
    latent_encode(l, st, &e);
    LRKV_RETURN_IF_ERROR(quant_encode_rows(e.side[0], e.side[1], stream_));
  }
  std::vector<int64_t> k_byte(cfg_.n_head), v_byte(cfg_.n_head);
  std::vector<int> k_len(cfg_.n_head), v_len(cfg_.n_head);
  for (int h = 0; h < cfg_.n_head; ++h) {
    const int g = L.head_group[h];
    k_byte[h] = cache_->k_quant[l].seg_off[g];
    v_byte[h] = cache_->v_quant[l].seg_off[g];
    k_len[h] = cache_->k_quant[l].codec.segments[g].len;
    v_len[h] = cache_->v_quant[l].codec.segments[g].len;
  }
  const int64_t k_seq = cache_->k_quant[l].seq_bytes, v_seq = cache_->v_quant[l].seq_bytes;
  for (const Run& r : batch_runs(st.spans)) {
    const SeqSpan& s0 = st.spans[r.first];
    const int64_t t0 = st.t0[r.first];
    QuantLatentAttentionBatch b;
    b.n_q = s0.n;
    b.q_pos = st.pos() + t0;
    b.n_head = cfg_.n_head;
    b.qk = st.qk.as<float>() + t0 * L.qk_width;
    b.ldqk = L.qk_width;
    b.qk_seq = int64_t{s0.n} * L.qk_width;
    b.qk_off = L.qk_off.data();
    b.k = QuantRows{static_cast<const char*>(cache_->k[l].data()) + s0.seq * k_seq, cache_->k_quant[l].row_stride, k_seq,
                    cache_->k_quant[l].codec.format, k_byte.data(), k_len.data()};
    b.v = QuantRows{static_cast<const char*>(cache_->v[l].data()) + s0.seq * v_seq, cache_->v_quant[l].row_stride, v_seq,
                    cache_->v_quant[l].codec.format, v_byte.data(), v_len.data()};
    b.z = st.z.as<float>() + t0 * L.z_width;
    b.ldz = L.z_width;
    b.z_seq = int64_t{s0.n} * L.z_width;
    b.z_off = L.z_off.data();
    b.scale = 1.0f / std::sqrt(static_cast<float>(cfg_.head_dim));
    b.n_seq = static_cast<int>(r.count);
    b.maps = cache_->maps(s0.seq);
    b.max_kv = st.max_kv(run_max_kv(st.start, st.spans, r));
    b.early_rows = opt_.early_attention_rows;
    PoolBuffer ws;
    LRKV_RETURN_IF_ERROR(with_workspace(pool_, stream_, quant_latent_attention_workspace_bytes(b), &ws));
    b.workspace = ws.data();
    b.workspace_bytes = ws.bytes();
    LRKV_RETURN_IF_ERROR(quant_latent_attention(b, stream_));
  }
  return Status::Ok();
}

}  // namespace lrkv::cuda
