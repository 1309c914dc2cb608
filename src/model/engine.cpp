#include "model/engine.h"

#include <cmath>
#include <unordered_set>

#include "kernels/attention.h"
#include "kernels/elem.h"
#include "kernels/matmul.h"
#include "kernels/rmsnorm.h"
#include "kernels/rope.h"
#include "kernels/swiglu.h"

namespace lrkv {

namespace {
// y[T, n] (+)= x[T, k] · Wᵀ for a weight tensor [n, k].
void project(const float* x, int64_t T, const Tensor& w, float* y, bool accumulate = false) {
  MatmulParams p;
  p.x = x;
  p.ldx = w.dim(1);
  p.w = w.data();
  p.w_type = w.dtype();
  p.ldw = w.dim(1);
  p.y = y;
  p.ldy = w.dim(0);
  p.m = T;
  p.n = w.dim(0);
  p.k = w.dim(1);
  p.accumulate = accumulate;
  cpu::matmul(p);
}

void add_bias(float* y, int64_t T, const Tensor& b) {
  if (b.empty()) return;
  const int64_t n = b.dim(0);
  for (int64_t t = 0; t < T; ++t) {
    for (int64_t j = 0; j < n; ++j) y[t * n + j] += b.f32()[j];
  }
}

void rmsnorm_rows(const float* x, float* y, int64_t T, const Tensor& w, float eps) {
  RmsNormParams p;
  p.x = x;
  p.y = y;
  p.weight = w.f32();
  p.rows = T;
  p.cols = w.dim(0);
  p.ld = w.dim(0);
  p.eps = eps;
  cpu::rmsnorm(p);
}
}  // namespace

Engine::Engine(const Model& model) : model_(model), cfg_(model.config) {
  inv_freq_.resize(cfg_.head_dim / 2);
  rope_inverse_frequencies(cfg_, inv_freq_.data());
}

Result<std::unique_ptr<DenseKvCache>> Engine::make_dense_cache(int n_seq, int capacity,
                                                               DType dtype) const {
  return DenseKvCache::create(cfg_.n_layer, n_seq, capacity, cfg_.kv_dim(), dtype);
}

void Engine::emit(int layer, HookPoint point, const float* data, int64_t cols, int64_t ld) const {
  if (!hook_) return;
  hook_(HookEvent{layer, point, data, T_, cols, ld, pos_.data(), seq_of_.data()});
}

Status Engine::check_spans(const std::vector<SeqSpan>& spans, const KvCache& cache) const {
  if (cache.n_layer() != cfg_.n_layer) {
    return make_error(ErrorCode::kInvalidArgument, "cache has {} layers, model {}", cache.n_layer(),
                      cfg_.n_layer);
  }
  std::unordered_set<int> seen;
  for (const SeqSpan& s : spans) {
    if (s.seq < 0 || s.seq >= cache.n_seq()) {
      return make_error(ErrorCode::kInvalidArgument, "sequence {} outside the cache's {} sequences",
                        s.seq, cache.n_seq());
    }
    if (!seen.insert(s.seq).second) {
      return make_error(ErrorCode::kInvalidArgument, "sequence {} appears twice in one batch", s.seq);
    }
    if (s.n <= 0) return make_error(ErrorCode::kInvalidArgument, "empty span for sequence {}", s.seq);
    if (cache.length(s.seq) + s.n > cache.capacity()) {
      return make_error(ErrorCode::kInvalidArgument,
                        "sequence {}: {} cached + {} new tokens exceed the context of {}", s.seq,
                        cache.length(s.seq), s.n, cache.capacity());
    }
    for (int i = 0; i < s.n; ++i) {
      if (s.tokens[i] < 0 || s.tokens[i] >= cfg_.n_vocab) {
        return make_error(ErrorCode::kInvalidArgument, "token id {} outside the vocabulary of {}",
                          s.tokens[i], cfg_.n_vocab);
      }
    }
  }
  return Status::Ok();
}

void Engine::embed(const std::vector<SeqSpan>& spans) {
  const Tensor& e = model_.weights.tok_embd;
  const int64_t d = cfg_.d_model;
  const int64_t row_bytes = dtype_bytes(e.dtype(), d);
  int64_t t = 0;
  for (const SeqSpan& s : spans) {
    for (int i = 0; i < s.n; ++i, ++t) {
      load_row(static_cast<const uint8_t*>(e.data()) + s.tokens[i] * row_bytes, e.dtype(),
               x_.data() + t * d, d);
    }
  }
}

void Engine::attention_layer(int l, const std::vector<SeqSpan>& spans, DenseKvCache& cache) {
  const LayerWeights& w = model_.weights.layers[l];
  const int64_t d = cfg_.d_model, qd = cfg_.q_dim(), kvd = cfg_.kv_dim();
  emit(l, HookPoint::kAttnInput, x_.data(), d, d);
  rmsnorm_rows(x_.data(), h_.data(), T_, w.attn_norm, cfg_.norm_eps);
  emit(l, HookPoint::kKvInput, h_.data(), d, d);
  project(h_.data(), T_, w.wq, q_.data());
  project(h_.data(), T_, w.wk, k_.data());
  project(h_.data(), T_, w.wv, v_.data());
  add_bias(q_.data(), T_, w.bq);
  add_bias(k_.data(), T_, w.bk);
  add_bias(v_.data(), T_, w.bv);
  emit(l, HookPoint::kQPreRope, q_.data(), qd, qd);
  emit(l, HookPoint::kKPreRope, k_.data(), kvd, kvd);
  emit(l, HookPoint::kV, v_.data(), kvd, kvd);
  RopeParams rp;
  rp.rows = T_;
  rp.positions = pos_.data();
  rp.inv_freq = inv_freq_.data();
  rp.head_dim = cfg_.head_dim;
  rp.layout = cfg_.rope_layout;
  rp.x = q_.data();
  rp.ld = qd;
  rp.n_heads = cfg_.n_head;
  cpu::rope(rp);
  rp.x = k_.data();
  rp.ld = kvd;
  rp.n_heads = cfg_.n_kv_head;
  cpu::rope(rp);
  emit(l, HookPoint::kQPostRope, q_.data(), qd, qd);
  emit(l, HookPoint::kKPostRope, k_.data(), kvd, kvd);

  int64_t t0 = 0;
  for (const SeqSpan& s : spans) {
    const int start = cache.length(s.seq);
    cache.write(l, s.seq, start, s.n, k_.data() + t0 * kvd, v_.data() + t0 * kvd, kvd);
    AttentionParams ap;
    ap.q = q_.data() + t0 * qd;
    ap.ldq = qd;
    ap.q_pos = pos_.data() + t0;
    ap.n_q = s.n;
    ap.k = cache.keys(l, s.seq);
    ap.v = cache.values(l, s.seq);
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

void Engine::ffn_layer(int l) {
  const LayerWeights& w = model_.weights.layers[l];
  const int64_t d = cfg_.d_model, ff = cfg_.d_ff;
  rmsnorm_rows(x_.data(), h_.data(), T_, w.ffn_norm, cfg_.norm_eps);
  emit(l, HookPoint::kFfnInput, h_.data(), d, d);
  project(h_.data(), T_, w.w_gate, gate_.data());
  project(h_.data(), T_, w.w_up, up_.data());
  SwigluParams sp;
  sp.gate = gate_.data();
  sp.up = up_.data();
  sp.out = gate_.data();
  sp.rows = T_;
  sp.cols = ff;
  sp.ld = ff;
  cpu::swiglu(sp);
  project(gate_.data(), T_, w.w_down, x_.data(), /*accumulate=*/true);
}

void Engine::compute_logits(const std::vector<SeqSpan>& spans, LogitsMode mode,
                            std::vector<float>* logits) {
  const int64_t d = cfg_.d_model, V = cfg_.n_vocab;
  const Tensor& head = cfg_.tied_embeddings ? model_.weights.tok_embd : model_.weights.output;
  rmsnorm_rows(x_.data(), h_.data(), T_, model_.weights.out_norm, cfg_.norm_eps);
  emit(-1, HookPoint::kFinalHidden, h_.data(), d, d);
  if (mode == LogitsMode::kNone || logits == nullptr) return;
  if (mode == LogitsMode::kAll) {
    logits->resize(T_ * V);
    project(h_.data(), T_, head, logits->data());
    return;
  }
  // Last row of each span, gathered so one GEMM serves the batch.
  const int64_t rows = static_cast<int64_t>(spans.size());
  std::vector<float> last(rows * d);
  int64_t t = 0;
  for (int64_t i = 0; i < rows; ++i) {
    t += spans[i].n;
    std::copy_n(h_.data() + (t - 1) * d, d, last.data() + i * d);
  }
  logits->resize(rows * V);
  project(last.data(), rows, head, logits->data());
}

Status Engine::forward(const std::vector<SeqSpan>& spans, KvCache& cache_base, LogitsMode mode,
                       std::vector<float>* logits) {
  auto* cache = dynamic_cast<DenseKvCache*>(&cache_base);
  if (cache == nullptr) {
    return make_error(ErrorCode::kUnsupported, "this model needs a dense KV cache, got '{}'",
                      cache_base.kind());
  }
  LRKV_RETURN_IF_ERROR(check_spans(spans, cache_base));
  T_ = 0;
  for (const SeqSpan& s : spans) T_ += s.n;
  pos_.resize(T_);
  seq_of_.resize(T_);
  int64_t t = 0;
  for (const SeqSpan& s : spans) {
    for (int i = 0; i < s.n; ++i, ++t) {
      pos_[t] = cache->length(s.seq) + i;
      seq_of_[t] = s.seq;
    }
  }
  x_.resize(T_ * cfg_.d_model);
  h_.resize(T_ * cfg_.d_model);
  q_.resize(T_ * cfg_.q_dim());
  att_.resize(T_ * cfg_.q_dim());
  k_.resize(T_ * cfg_.kv_dim());
  v_.resize(T_ * cfg_.kv_dim());
  gate_.resize(T_ * cfg_.d_ff);
  up_.resize(T_ * cfg_.d_ff);

  embed(spans);
  for (int l = 0; l < cfg_.n_layer; ++l) {
    attention_layer(l, spans, *cache);
    ffn_layer(l);
  }
  for (const SeqSpan& s : spans) cache->advance(s.seq, s.n);
  compute_logits(spans, mode, logits);
  return Status::Ok();
}

}  // namespace lrkv
