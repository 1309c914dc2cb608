#include "model/cpu_engine.h"

#include <cmath>
#include <unordered_set>

#include "core/finite_check.h"

#include "kernels/elem.h"
#include "kernels/swiglu.h"
#include "model/engine_ops.h"

namespace lrkv {

using engine_ops::project;
using engine_ops::rmsnorm_rows;

CpuEngine::CpuEngine(const Model& model, DType factor_type) : model_(model), cfg_(model.config) {
  inv_freq_.resize(cfg_.head_dim / 2);
  rope_inverse_frequencies(cfg_, inv_freq_.data());
  auto plan = model_rank_plan(model);
  if (!plan.ok()) {
    if (plan.status().code() != ErrorCode::kNotFound) status_ = plan.status();
    return;
  }
  auto layers = build_latent_layers(model, *plan);
  if (!layers.ok()) {
    status_ = layers.status();
    return;
  }
  status_ = round_factors(*layers, factor_type);
  if (status_.ok()) latent_ = std::move(layers).value();
}

Result<std::unique_ptr<RowKvCache>> CpuEngine::make_dense_cache(int n_seq, int capacity, DType dtype) const {
  if (compressed()) {
    return make_error(ErrorCode::kInvalidArgument, "{} is compressed: it runs with a latent cache",
                      model_.source_path);
  }
  return make_dense_kv_cache(cfg_.n_layer, n_seq, capacity, cfg_.kv_dim(), dtype);
}

Status CpuEngine::check_finite_rows(int layer, const float* data, int64_t rows, int64_t cols) const {
  const int64_t bad = first_non_finite(DType::kF32, data, rows * cols);
  if (bad < 0) return Status::Ok();
  const std::string where = layer < 0               ? std::string("the token embeddings")
                            : layer == cfg_.n_layer ? std::string("the output logits")
                                                    : fmt::format("layer {}", layer);
  const float v = data[bad];
  return make_error(ErrorCode::kInvalidArgument,
                    "{}: activations became non-finite ({}) in {} (row {} of {}, column {}); "
                    "expected finite values: the weights overflow f32 or are corrupt",
                    model_.source_path, std::isnan(v) ? "nan" : (v > 0 ? "inf" : "-inf"), where,
                    bad / cols, rows, bad % cols);
}

void CpuEngine::emit(int layer, HookPoint point, const float* data, int64_t cols, int64_t ld) const {
  if (!hook_) return;
  hook_(HookEvent{layer, point, data, T_, cols, ld, pos_.data(), seq_of_.data()});
}

Status CpuEngine::check_spans(const std::vector<SeqSpan>& spans, const KvCache& cache) const {
  if (cache.n_layer() != cfg_.n_layer) {
    return make_error(ErrorCode::kInvalidArgument, "cache has {} layers, model {}", cache.n_layer(), cfg_.n_layer);
  }
  std::unordered_set<int> seen;
  for (const SeqSpan& s : spans) {
    if (s.seq < 0 || s.seq >= cache.n_seq()) {
      return make_error(ErrorCode::kInvalidArgument, "sequence {} outside the cache's {} sequences", s.seq,
                        cache.n_seq());
    }
    if (!seen.insert(s.seq).second) {
      return make_error(ErrorCode::kInvalidArgument, "sequence {} appears twice in one batch", s.seq);
    }
    if (s.n <= 0) return make_error(ErrorCode::kInvalidArgument, "empty span for sequence {}", s.seq);
    if (cache.length(s.seq) + s.n > cache.capacity()) {
      return make_error(ErrorCode::kInvalidArgument, "sequence {}: {} cached + {} new tokens exceed the context of {}",
                        s.seq, cache.length(s.seq), s.n, cache.capacity());
    }
    for (int i = 0; i < s.n; ++i) {
      if (s.tokens[i] < 0 || s.tokens[i] >= cfg_.n_vocab) {
        return make_error(ErrorCode::kInvalidArgument, "token id {} outside the vocabulary of {}", s.tokens[i],
                          cfg_.n_vocab);
      }
    }
  }
  return Status::Ok();
}

void CpuEngine::embed(const std::vector<SeqSpan>& spans) {
  const Tensor& e = model_.weights.tok_embd;
  const int64_t d = cfg_.d_model;
  const int64_t row_bytes = dtype_bytes(e.dtype(), d);
  int64_t t = 0;
  for (const SeqSpan& s : spans) {
    for (int i = 0; i < s.n; ++i, ++t) {
      load_row(static_cast<const uint8_t*>(e.data()) + s.tokens[i] * row_bytes, e.dtype(), x_.data() + t * d, d);
    }
  }
}

void CpuEngine::ffn_layer(int l) {
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

void CpuEngine::compute_logits(const std::vector<SeqSpan>& spans, LogitsMode mode, std::vector<float>* logits) {
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

Status CpuEngine::forward(const std::vector<SeqSpan>& spans, KvCache& cache_base, LogitsMode mode,
                       std::vector<float>* logits) {
  LRKV_RETURN_IF_ERROR(status_);
  KvCache* cache = &cache_base;
  LRKV_RETURN_IF_ERROR(check_cache(cache_base));
  LRKV_RETURN_IF_ERROR(check_spans(spans, cache_base));
  LRKV_RETURN_IF_ERROR(reserve_span_rows(spans, cache_base));
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

  const int64_t d = cfg_.d_model;
  embed(spans);
  LRKV_RETURN_IF_ERROR(check_finite_rows(-1, x_.data(), T_, d));
  for (int l = 0; l < cfg_.n_layer; ++l) {
    if (compressed()) {
      attention_latent(l, spans, *cache);
    } else {
      attention_dense(l, spans, *cache);
    }
    ffn_layer(l);
    LRKV_RETURN_IF_ERROR(check_finite_rows(l, x_.data(), T_, d));
  }
  for (const SeqSpan& s : spans) cache->advance(s.seq, s.n);
  compute_logits(spans, mode, logits);
  if (mode != LogitsMode::kNone && logits != nullptr) {
    const int64_t V = cfg_.n_vocab;
    LRKV_RETURN_IF_ERROR(
        check_finite_rows(cfg_.n_layer, logits->data(), static_cast<int64_t>(logits->size()) / V, V));
  }
  return Status::Ok();
}

}  // namespace lrkv
