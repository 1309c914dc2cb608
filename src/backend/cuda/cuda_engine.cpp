#include "backend/cuda/cuda_engine.h"

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <string>
#include <unordered_set>

#include "backend/cuda/cuda_engine_step.h"
#include "core/log.h"
#include "kernels/cuda/cuda_status.h"
#include "kernels/cuda/elementwise.h"
#include "kernels/cuda/env_switch.h"
#include "kernels/cuda/segment_project_args.h"
#include "kernels/cuda/skinny_matmul.h"

namespace lrkv::cuda {
namespace {

Result<DeviceBuffer> upload_vector(const Tensor& t) {
  if (t.empty()) return DeviceBuffer{};
  LRKV_ASSIGN_OR_RETURN(Tensor f, t.to(DType::kF32));
  LRKV_ASSIGN_OR_RETURN(DeviceBuffer b, DeviceBuffer::create(f.nbytes()));
  LRKV_RETURN_IF_ERROR(b.upload(f.data(), f.nbytes()));
  return b;
}

Result<CudaEngine::Matrix> upload_matrix(const Tensor& t, DType type) {
  CudaEngine::Matrix m;
  if (t.empty()) return m;
  LRKV_ASSIGN_OR_RETURN(Tensor c, t.to(type));
  LRKV_ASSIGN_OR_RETURN(m.buf, DeviceBuffer::create(c.nbytes()));
  LRKV_RETURN_IF_ERROR(m.buf.upload(c.data(), c.nbytes()));
  m.type = type;
  m.rows = t.dim(0);
  m.cols = t.ndim() > 1 ? t.dim(1) : 1;
  return m;
}

// Row-stacked [parts[0]; parts[1]; ...] (equal column counts) converted to `type`.
Result<CudaEngine::Matrix> upload_stacked(const std::vector<const Tensor*>& parts, DType type) {
  CudaEngine::Matrix m;
  m.type = type;
  m.cols = parts[0]->ndim() > 1 ? parts[0]->dim(1) : 1;
  for (const Tensor* t : parts) {
    if ((t->ndim() > 1 ? t->dim(1) : 1) != m.cols) {
      return make_error(ErrorCode::kInvalidArgument, "CUDA engine: stacked projections of {} and {} columns", m.cols,
                        t->ndim() > 1 ? t->dim(1) : 1);
    }
    m.rows += t->dim(0);
  }
  LRKV_ASSIGN_OR_RETURN(m.buf, DeviceBuffer::create(dtype_bytes(type, m.rows * m.cols)));
  size_t offset = 0;
  for (const Tensor* t : parts) {
    LRKV_ASSIGN_OR_RETURN(Tensor c, t->to(type));
    LRKV_RETURN_IF_ERROR(m.buf.upload(c.data(), c.nbytes(), offset));
    offset += c.nbytes();
  }
  return m;
}

// [W_gate; W_up] interleaved row by row (row 2j = W_gate[j], row 2j + 1 = W_up[j]) in `type`, so
// one skinny launch holds both rows of each pair and applies the SwiGLU in its epilogue.
Result<CudaEngine::Matrix> upload_gate_up(const Tensor& gate, const Tensor& up, DType type) {
  if (gate.ndim() != 2 || up.ndim() != 2 || gate.dim(0) != up.dim(0) || gate.dim(1) != up.dim(1)) {
    return make_error(ErrorCode::kInvalidArgument, "CUDA engine: W_gate {} and W_up {} differ in shape",
                      gate.shape_str(), up.shape_str());
  }
  CudaEngine::Matrix m;
  m.type = type;
  m.rows = 2 * gate.dim(0);
  m.cols = gate.dim(1);
  LRKV_ASSIGN_OR_RETURN(Tensor g, gate.to(type));
  LRKV_ASSIGN_OR_RETURN(Tensor u, up.to(type));
  const size_t row = dtype_bytes(type, m.cols);
  std::vector<char> pairs(row * m.rows);
  for (int64_t j = 0; j < gate.dim(0); ++j) {
    std::memcpy(pairs.data() + (2 * j) * row, static_cast<const char*>(g.data()) + j * row, row);
    std::memcpy(pairs.data() + (2 * j + 1) * row, static_cast<const char*>(u.data()) + j * row, row);
  }
  LRKV_ASSIGN_OR_RETURN(m.buf, DeviceBuffer::create(pairs.size()));
  LRKV_RETURN_IF_ERROR(m.buf.upload(pairs.data(), pairs.size()));
  return m;
}

// options.exact_gemm_rows, or LRKV_EXACT_GEMM_ROWS (a row count, "all" or "none") when set.
Result<int64_t> exact_rows(const CudaEngineOptions& options) {
  const char* env = std::getenv("LRKV_EXACT_GEMM_ROWS");
  if (env == nullptr || *env == '\0') return options.exact_gemm_rows;
  const std::string v = env;
  if (v == "all") return CudaEngineOptions::kAllRows;
  if (v == "none") return int64_t{0};
  char* end = nullptr;
  const long long n = std::strtoll(env, &end, 10);
  if (*end != '\0' || n < 0) {
    return make_error(ErrorCode::kInvalidArgument,
                      "LRKV_EXACT_GEMM_ROWS={}: expected a row count >= 0, 'all' or 'none'", v);
  }
  return int64_t{n};
}

// options.f32_factors, or LRKV_FACTOR_DTYPE (f32 or weight) when set.
Result<bool> f32_factors(const CudaEngineOptions& options) {
  const char* env = std::getenv("LRKV_FACTOR_DTYPE");
  if (env == nullptr || *env == '\0') return options.f32_factors;
  const std::string v = env;
  if (v != "f32" && v != "weight") {
    return make_error(ErrorCode::kInvalidArgument, "LRKV_FACTOR_DTYPE={}: expected f32 or weight", v);
  }
  return v == "f32";
}

}  // namespace

CudaEngine::CudaEngine(const Model& model, const CudaEngineOptions& options)
    : model_(model), cfg_(model.config), opt_(options) {}

CudaEngine::~CudaEngine() {
  graphs_.clear();
  gemm_.reset();
  if (stream_) cudaStreamDestroy(stream_);
}

Result<std::unique_ptr<CudaEngine>> CudaEngine::create(const Model& model, const CudaEngineOptions& options) {
  if (options.weight_dtype != DType::kBF16 && options.weight_dtype != DType::kF16) {
    return make_error(ErrorCode::kUnsupported, "CUDA engine: {} weights (bf16 or f16)", dtype_name(options.weight_dtype));
  }
  std::string why;
  if (!device_available(&why)) return make_error(ErrorCode::kUnsupported, "CUDA engine: {}", why);
  (void)sm90_code();  // the device-code query (a kernel attribute) runs here, never inside a graph capture
  std::unique_ptr<CudaEngine> e(new CudaEngine(model, options));
  e->opt_.fused_absorption = env_switch("LRKV_FUSED_ABSORB", options.fused_absorption);
  e->opt_.fused_absorption_quantized = env_switch("LRKV_FUSED_ABSORB", options.fused_absorption_quantized);
  e->opt_.early_attention_rows = env_switch("LRKV_ATTN_EARLY", options.early_attention_rows);
  e->opt_.rope_in_projection = env_switch("LRKV_ROPE_EPILOGUE", options.rope_in_projection);
  if (const int n = env_int("LRKV_GRAPH_SEQS"); n > 0) e->opt_.graph_max_seqs = n;
  auto plan = model_rank_plan(model);
  if (plan.ok()) {
    LRKV_ASSIGN_OR_RETURN(e->latent_, build_latent_layers(model, *plan));
    LRKV_ASSIGN_OR_RETURN(const bool f32, f32_factors(options));
    if (!f32) {
      const Status fit = round_factors(e->latent_, options.weight_dtype);
      if (fit.ok()) {
        e->factor_type_ = options.weight_dtype;
      } else {
        log_info("CUDA engine: latent factors stay f32 ({})", fit.message());
      }
    }
  } else if (plan.status().code() != ErrorCode::kNotFound) {
    return plan.status();
  }
  LRKV_CUDA_RETURN_IF_ERROR(cudaStreamCreateWithFlags(&e->stream_, cudaStreamNonBlocking), "cudaStreamCreate");
  LRKV_ASSIGN_OR_RETURN(const int64_t exact, exact_rows(options));
  LRKV_ASSIGN_OR_RETURN(e->gemm_, CublasGemm::create(e->stream_, &e->pool_, exact));
  if (Status up = e->upload(); !up.ok()) {
    if (up.code() == ErrorCode::kOutOfMemory) up.with_context("CUDA engine: the model's weights do not fit on the GPU");
    return up;
  }
  if (!e->latent_.empty() && e->opt_.fused_absorption_quantized) {  // a counter per (segment, row tile)
    const size_t n = size_t{kSegProjMaxSegments} * ((kSegmentProjectMaxRows + 7) / 8);
    LRKV_ASSIGN_OR_RETURN(e->encode_counters_, DeviceBuffer::create(n * sizeof(unsigned)));
    LRKV_CUDA_RETURN_IF_ERROR(cudaMemsetAsync(e->encode_counters_.data(), 0, e->encode_counters_.bytes(), e->stream_),
                              "zeroing the encoder counters");  // on the engine's stream: before any launch
  }
  return e;
}

Status CudaEngine::upload() {
  const DType wt = opt_.weight_dtype;
  const LlamaWeights& w = model_.weights;
  LRKV_ASSIGN_OR_RETURN(tok_embd_, upload_matrix(w.tok_embd, wt));
  if (!cfg_.tied_embeddings) {
    LRKV_ASSIGN_OR_RETURN(output_, upload_matrix(w.output, wt));
  }
  LRKV_ASSIGN_OR_RETURN(out_norm_, upload_vector(w.out_norm));
  std::vector<float> inv(cfg_.head_dim / 2);
  rope_inverse_frequencies(cfg_, inv.data());
  LRKV_ASSIGN_OR_RETURN(inv_freq_, DeviceBuffer::from_host(inv));
  layers_.resize(cfg_.n_layer);
  for (int l = 0; l < cfg_.n_layer; ++l) {
    const LayerWeights& s = w.layers[l];
    Layer& d = layers_[l];
    LRKV_ASSIGN_OR_RETURN(d.attn_norm, upload_vector(s.attn_norm));
    LRKV_ASSIGN_OR_RETURN(d.ffn_norm, upload_vector(s.ffn_norm));
    LRKV_ASSIGN_OR_RETURN(d.bq, upload_vector(s.bq));
    LRKV_ASSIGN_OR_RETURN(d.bk, upload_vector(s.bk));
    LRKV_ASSIGN_OR_RETURN(d.bv, upload_vector(s.bv));
    // Compressed models project attention outputs through the folded W_o (factors_[l].wo_folded):
    // W_o itself would be dead weight on the device (1 GB on the 8B shape).
    if (!compressed()) {
      LRKV_ASSIGN_OR_RETURN(d.wo, upload_matrix(s.wo, wt));
    }
    LRKV_ASSIGN_OR_RETURN(d.w_down, upload_matrix(s.w_down, wt));
    const bool need_k = !compressed() || latent_[l].key_mode == KeyMode::kAbsorbed;
    const bool stack_down = compressed() && factor_type_ == wt;
    const Tensor* k_down = stack_down && !need_k ? &latent_[l].k_down : nullptr;
    const Tensor* v_down = stack_down ? &latent_[l].v_down : nullptr;
    std::vector<const Tensor*> inputs = {&s.wq};
    if (need_k) inputs.push_back(&s.wk);
    if (!compressed()) inputs.push_back(&s.wv);
    if (k_down) inputs.push_back(k_down);
    if (v_down) inputs.push_back(v_down);
    LRKV_ASSIGN_OR_RETURN(d.qkv, upload_stacked(inputs, wt));
    int64_t row = 0;
    const auto view = [&](const Tensor* t) {  // the next rows of qkv
      const WeightView v(d.qkv, row, t->dim(0));
      row += t->dim(0);
      return v;
    };
    d.wq = view(&s.wq);
    if (need_k) d.wk = view(&s.wk);
    if (!compressed()) d.wv = view(&s.wv);
    if (k_down) d.k_down = view(k_down);
    if (v_down) d.v_down = view(v_down);
    LRKV_ASSIGN_OR_RETURN(d.gate_up, upload_gate_up(s.w_gate, s.w_up, wt));
  }
  factors_.resize(latent_.size());
  const DType ft = factor_type_;
  for (size_t l = 0; l < latent_.size(); ++l) {
    const LatentLayer& L = latent_[l];
    LatentFactors& f = factors_[l];
    if (L.key_mode == KeyMode::kRebuild) {
      if (layers_[l].k_down.empty()) {  // else stacked into qkv
        LRKV_ASSIGN_OR_RETURN(f.k_down, upload_matrix(L.k_down, ft));
      }
      LRKV_ASSIGN_OR_RETURN(f.k_down_bias, upload_vector(L.k_down_bias));
      LRKV_ASSIGN_OR_RETURN(f.k_up_bias, upload_vector(L.k_up_bias));
      for (const Tensor& up : L.k_up) {
        LRKV_ASSIGN_OR_RETURN(DeviceBuffer b, upload_vector(up));
        f.k_up_ptrs.push_back(b.as<float>());
        f.k_up.push_back(std::move(b));
      }
      const int hd = cfg_.head_dim;
      if (hd != 64 && hd != 80 && hd != 96 && hd != 128) {
        return make_error(ErrorCode::kUnsupported, "CUDA engine: rebuild-keys attention needs head_dim 64/80/96/128, "
                          "the model has {}", hd);
      }
    } else {
      LRKV_ASSIGN_OR_RETURN(f.k_mean, upload_vector(L.k_mean));
      for (const Tensor& pt : L.k_proj_t) {
        LRKV_ASSIGN_OR_RETURN(Matrix m, upload_matrix(pt, ft));
        f.k_proj_t.push_back(std::move(m));
      }
    }
    if (layers_[l].v_down.empty()) {  // else stacked into qkv
      LRKV_ASSIGN_OR_RETURN(f.v_down, upload_matrix(L.v_down, ft));
    }
    LRKV_ASSIGN_OR_RETURN(f.v_down_bias, upload_vector(L.v_down_bias));
    LRKV_ASSIGN_OR_RETURN(f.wo_folded, upload_matrix(L.wo_folded, ft));
    LRKV_ASSIGN_OR_RETURN(f.o_bias, upload_vector(L.o_bias));
  }
  return Status::Ok();
}

int64_t CudaEngine::decode_weight_bytes() const {
  int64_t n = 0;
  const auto add = [&](const DeviceBuffer& b) { n += static_cast<int64_t>(b.bytes()); };
  for (const Layer& d : layers_) {
    for (const DeviceBuffer* b : {&d.attn_norm, &d.ffn_norm, &d.bq, &d.bk, &d.bv, &d.qkv.buf, &d.wo.buf, &d.gate_up.buf,
                                  &d.w_down.buf}) {
      add(*b);
    }
  }
  for (const LatentFactors& f : factors_) {
    for (const DeviceBuffer* b : {&f.k_down.buf, &f.v_down.buf, &f.wo_folded.buf, &f.k_down_bias, &f.k_up_bias,
                                  &f.k_mean, &f.v_down_bias, &f.o_bias}) {
      add(*b);
    }
    for (const Matrix& m : f.k_proj_t) add(m.buf);
    for (const DeviceBuffer& b : f.k_up) add(b);
  }
  add(out_norm_);
  add(cfg_.tied_embeddings ? tok_embd_.buf : output_.buf);  // the LM head reads all of it
  if (!cfg_.tied_embeddings) n += dtype_bytes(tok_embd_.type, tok_embd_.cols);  // one embedding row
  return n;
}

Result<std::unique_ptr<KvCache>> CudaEngine::make_cache(int n_seq, int capacity, const KvCacheSpec& spec) const {
  auto cache = alloc_cache(n_seq, capacity, spec);
  if (cache.ok() || cache.status().code() != ErrorCode::kOutOfMemory) return cache;
  return make_error(ErrorCode::kOutOfMemory,
                    "the KV cache of {} sequence(s) x {} tokens does not fit next to the weights ({}); lower the "
                    "batch, the context or --kv-budget, or store less per token (a compressed model, "
                    "--latent-bits 4)",
                    n_seq, capacity, cache.status().message());
}

Result<std::unique_ptr<KvCache>> CudaEngine::alloc_cache(int n_seq, int capacity, const KvCacheSpec& spec) const {
  LRKV_RETURN_IF_ERROR(spec.validate());
  if (n_seq < 1 || capacity < 1) {
    return make_error(ErrorCode::kInvalidArgument, "CUDA engine cache: {} sequences of {} tokens", n_seq, capacity);
  }
  if (spec.quant != KvQuant::kNone) {
    return make_error(ErrorCode::kUnsupported, "--kv-type {}: the CUDA engine runs f16/bf16 rows and quantized "
                      "latents (--latent-bits); use --device cpu for it", spec.name());
  }
  const bool quant = spec.latent.bits > 0;
  if (!quant && spec.dtype != DType::kF16 && spec.dtype != DType::kBF16) {
    return make_error(ErrorCode::kUnsupported, "--kv-type {}: the CUDA engine stores f16 or bf16 rows",
                      dtype_name(spec.dtype));
  }
  std::string kind;
  if (quant) {
    kind = fmt::format("latent {} (absorbed keys, cuda)", spec.name());
  } else if (compressed()) {
    kind = fmt::format("latent {} ({} keys, cuda)", dtype_name(spec.dtype),
                       latent_[0].key_mode == KeyMode::kAbsorbed ? "absorbed" : "rebuilt");
  } else {
    kind = fmt::format("dense {} (cuda)", dtype_name(spec.dtype));
  }
  auto c = std::make_unique<CudaKvCache>(this, n_seq, capacity, spec, kind);
  LRKV_RETURN_IF_ERROR(c->alloc_tables());
  // Rows of one head / segment region: a sequence's (contiguous) or the block pool's (paged).
  const int64_t region_rows = c->region_rows(), buffers = c->pages() ? 1 : n_seq;
  const auto offset_fits = [&](int64_t bytes, const char* what) -> Status {
    if (bytes < (int64_t{1} << 31)) return Status::Ok();
    return make_error(ErrorCode::kInvalidArgument,
                      "CUDA engine cache: {} offsets reach {} (the kernels address < 2^31); lower --kv-budget",
                      what, bytes);
  };
  if (quant) {
    if (!compressed()) {
      return make_error(ErrorCode::kInvalidArgument, "--latent-bits {}: quantized latents need a compressed model",
                        spec.latent.bits);
    }
    const QuantFormat f{spec.latent.symmetric ? QuantScheme::kSymmetric : QuantScheme::kAffine, spec.latent.bits,
                        spec.latent.group};
    for (int l = 0; l < cfg_.n_layer; ++l) {
      const LatentLayer& L = latent_[l];
      if (L.key_mode != KeyMode::kAbsorbed) {
        return make_error(ErrorCode::kUnsupported,
                          "--latent-bits on the CUDA engine: layer {} rebuilds its keys; quantized latents need "
                          "absorbed keys (use --device cpu)", l);
      }
      std::vector<int> kl, vl;
      for (const GroupPlan& g : L.groups) {
        kl.push_back(g.rank_k);
        vl.push_back(g.rank_v);
      }
      int64_t token_bytes = 0;
      for (int kv = 0; kv < 2; ++kv) {
        auto codec = RowCodec::create(f, kv == 0 ? kl : vl);
        if (!codec.ok()) {
          return make_error(ErrorCode::kInvalidArgument, "CUDA engine: layer {} latents as {}: {}", l, f.name(),
                            codec.status().message());
        }
        QuantLayout q;
        q.codec = std::move(codec).value();
        q.seg_major = true;
        for (const RowSegment& seg : q.codec.segments) q.seg_major = q.seg_major && seg.len == q.codec.segments[0].len;
        const int64_t seg_bytes = segment_bytes(f, q.codec.segments[0].len);
        q.row_stride = q.seg_major ? seg_bytes : q.codec.row_bytes;
        // Segment-major regions start 256-byte aligned so the kernel copies whole tiles with
        // 16-byte cp.async whatever the capacity.
        const int64_t region = (region_rows * seg_bytes + 255) / 256 * 256;
        for (size_t g = 0; g < q.codec.segments.size(); ++g) {
          q.seg_off.push_back(q.seg_major ? static_cast<int64_t>(g) * region : q.codec.segments[g].byte);
        }
        LRKV_RETURN_IF_ERROR(offset_fits(q.seg_off.back(), "quantized segment"));
        const int64_t seq_bytes = q.seg_major ? region * static_cast<int64_t>(q.codec.segments.size())
                                              : region_rows * q.codec.row_bytes;
        q.seq_bytes = c->pages() ? 0 : seq_bytes;
        token_bytes += q.codec.row_bytes;
        LRKV_ASSIGN_OR_RETURN(DeviceBuffer b, DeviceBuffer::create(size_t(buffers) * seq_bytes));
        (kv == 0 ? c->k : c->v).push_back(std::move(b));
        (kv == 0 ? c->k_quant : c->v_quant).push_back(std::move(q));
      }
      c->token_bytes.push_back(token_bytes);
    }
    return std::unique_ptr<KvCache>(std::move(c));
  }
  const int64_t elem = dtype_bytes(spec.dtype, 1);
  for (int l = 0; l < cfg_.n_layer; ++l) {
    const int64_t kw = compressed() ? latent_[l].k_width : cfg_.kv_dim();
    const int64_t vw = compressed() ? latent_[l].v_width : cfg_.kv_dim();
    if (!compressed()) LRKV_RETURN_IF_ERROR(offset_fits((cfg_.n_kv_head - 1) * region_rows * cfg_.head_dim, "head"));
    LRKV_ASSIGN_OR_RETURN(DeviceBuffer k, DeviceBuffer::create(size_t(buffers) * region_rows * kw * elem));
    LRKV_ASSIGN_OR_RETURN(DeviceBuffer v, DeviceBuffer::create(size_t(buffers) * region_rows * vw * elem));
    c->k.push_back(std::move(k));
    c->v.push_back(std::move(v));
    c->token_bytes.push_back((kw + vw) * elem);
  }
  return std::unique_ptr<KvCache>(std::move(c));
}

Status CudaEngine::check_spans(const std::vector<SeqSpan>& spans, const KvCache& cache) const {
  if (cache.device_owner() != this) {
    return make_error(ErrorCode::kInvalidArgument, "CUDA engine: the '{}' cache was not made by this engine",
                      cache.kind());
  }
  const int n_seq = cache.n_seq(), capacity = cache.capacity();
  std::unordered_set<int> seen;
  for (const SeqSpan& s : spans) {
    if (s.seq < 0 || s.seq >= n_seq || !seen.insert(s.seq).second || s.n <= 0) {
      return make_error(ErrorCode::kInvalidArgument, "CUDA engine: bad span (sequence {}, {} tokens)", s.seq, s.n);
    }
    if (cache.length(s.seq) + s.n > capacity) {
      return make_error(ErrorCode::kInvalidArgument, "sequence {}: {} cached + {} new tokens exceed the context of {}",
                        s.seq, cache.length(s.seq), s.n, capacity);
    }
    for (int i = 0; i < s.n; ++i) {
      if (s.tokens[i] < 0 || s.tokens[i] >= cfg_.n_vocab) {
        return make_error(ErrorCode::kInvalidArgument, "CUDA engine: token id {} outside the vocabulary", s.tokens[i]);
      }
    }
  }
  return Status::Ok();
}

// One skinny_matmul launch for the outputs (consecutive row ranges of W from its first row) when
// the shapes allow it; false when the GEMM path has to run.
bool CudaEngine::try_skinny(const float* x, int64_t ldx, int64_t m, const void* w, int64_t ldw, DType type, int64_t k,
                            const std::vector<Output>& outs, Status* status, const SkinnyRope* rope,
                            bool swiglu_pairs) {
  if (m > kSkinnyMaxRows || outs.size() > static_cast<size_t>(kSkinnyMaxOutputs)) return false;
  SkinnyMatmulArgs a;
  a.x = x;
  a.ldx = ldx;
  a.m = static_cast<int>(m);
  a.w = w;
  a.ldw = ldw;
  a.k = k;
  a.w_type = type;
  a.n_out = static_cast<int>(outs.size());
  for (size_t s = 0; s < outs.size(); ++s) {
    a.out[s] = SkinnyOutput{outs[s].y, outs[s].ldy, a.n_rows, outs[s].n, outs[s].accumulate ? 1 : 0};
    a.n_rows += outs[s].n;
  }
  if (rope != nullptr) a.rope = *rope;
  if (swiglu_pairs) {  // one output of n values from 2n rows of W
    a.swiglu_pairs = 1;
    a.n_rows *= 2;
  }
  if (!skinny_matmul_fits(a)) return false;
  *status = skinny_matmul(a, stream_);
  return true;
}

Status CudaEngine::project(const float* x, int64_t ldx, int64_t m, const WeightView& w, float* y, int64_t ldy,
                           bool accumulate, int64_t w_row0, int64_t n, int64_t k, int64_t w_col0) {
  const void* wp = static_cast<const char*>(w.data) + dtype_bytes(w.type, w_row0 * w.cols + w_col0);
  n = n < 0 ? w.rows : n;
  k = k < 0 ? w.cols : k;
  Status s;
  if (try_skinny(x, ldx, m, wp, w.cols, w.type, k, {{y, ldy, n, accumulate}}, &s)) return s;
  MatmulParams p;
  p.x = x;
  p.ldx = ldx;
  p.w = wp;
  p.ldw = w.cols;
  p.w_type = w.type;
  p.y = y;
  p.ldy = ldy;
  p.m = m;
  p.n = n;
  p.k = k;
  p.accumulate = accumulate;
  return gemm_->matmul(p);
}

Status CudaEngine::project_stacked(const float* x, int64_t ldx, int64_t m, const WeightView& w,
                                   const std::vector<Output>& outs) {
  Status s;
  if (try_skinny(x, ldx, m, w.data, w.cols, w.type, w.cols, outs, &s)) return s;
  MatmulParams p;  // one conversion of x for every output
  p.x = x;
  p.ldx = ldx;
  p.w = w.data;
  p.ldw = w.cols;
  p.w_type = w.type;
  p.m = m;
  p.k = w.cols;
  std::vector<CublasGemm::Output> go;
  for (const Output& o : outs) go.push_back({o.y, o.ldy, o.n, o.accumulate});
  return gemm_->matmul_stacked(p, go);
}

Status CudaEngine::project_inputs(int l, Step& st, const SkinnyRope* rope, bool* roped) {
  const Layer& w = layers_[l];
  const int64_t d = cfg_.d_model, qd = cfg_.q_dim(), kvd = cfg_.kv_dim();
  LRKV_RETURN_IF_ERROR(rmsnorm(RmsNormParams{st.x.as<float>(), w.attn_norm.as<float>(), st.h.as<float>(), st.T, d, d,
                                             cfg_.norm_eps},
                               stream_));
  std::vector<Output> outs = {{st.q.as<float>(), qd, qd}};
  if (!w.wk.empty()) outs.push_back({st.k.as<float>(), kvd, kvd});
  if (!w.wv.empty()) outs.push_back({st.v.as<float>(), kvd, kvd});
  if (!w.k_down.empty()) outs.push_back({st.ck.as<float>(), latent_[l].k_width, w.k_down.rows});
  if (!w.v_down.empty()) outs.push_back({st.cv.as<float>(), latent_[l].v_width, w.v_down.rows});
  if (roped != nullptr) *roped = false;
  const bool biases = !w.bq.empty() || !w.bk.empty() || !w.bv.empty();
  Status s;
  if (rope != nullptr && !biases &&
      try_skinny(st.h.as<float>(), d, st.T, w.qkv.buf.data(), w.qkv.cols, w.qkv.type, w.qkv.cols, outs, &s, rope)) {
    LRKV_RETURN_IF_ERROR(s);
    if (roped != nullptr) *roped = true;
    return Status::Ok();
  }
  LRKV_RETURN_IF_ERROR(project_stacked(st.h.as<float>(), d, st.T, w.qkv, outs));
  if (!w.bq.empty()) LRKV_RETURN_IF_ERROR(add_row_vector(st.q.as<float>(), qd, st.T, qd, w.bq.as<float>(), 1.0f, stream_));
  if (!w.wk.empty() && !w.bk.empty()) {
    LRKV_RETURN_IF_ERROR(add_row_vector(st.k.as<float>(), kvd, st.T, kvd, w.bk.as<float>(), 1.0f, stream_));
  }
  if (!w.wv.empty() && !w.bv.empty()) {
    LRKV_RETURN_IF_ERROR(add_row_vector(st.v.as<float>(), kvd, st.T, kvd, w.bv.as<float>(), 1.0f, stream_));
  }
  return Status::Ok();
}

Status CudaEngine::ffn(int l, Step& st) {
  const Layer& w = layers_[l];
  const int64_t d = cfg_.d_model, ff = cfg_.d_ff;
  LRKV_RETURN_IF_ERROR(rmsnorm(RmsNormParams{st.x.as<float>(), w.ffn_norm.as<float>(), st.h.as<float>(), st.T, d, d,
                                             cfg_.norm_eps},
                               stream_));
  // silu(h · W_gateᵀ) ⊙ (h · W_upᵀ) into st.gate: one skinny launch over the interleaved pairs,
  // else the GEMM into st.up ([T, 2 ff] pairs) and the pairs' SwiGLU.
  Status s;
  if (try_skinny(st.h.as<float>(), d, st.T, w.gate_up.buf.data(), d, w.gate_up.type, d, {{st.gate.as<float>(), ff, ff}},
                 &s, nullptr, /*swiglu_pairs=*/true)) {
    LRKV_RETURN_IF_ERROR(s);
  } else {
    LRKV_RETURN_IF_ERROR(project(st.h.as<float>(), d, st.T, w.gate_up, st.up.as<float>(), 2 * ff));
    LRKV_RETURN_IF_ERROR(swiglu_pairs(st.up.as<float>(), 2 * ff, st.gate.as<float>(), ff, st.T, ff, stream_));
  }
  return project(st.gate.as<float>(), ff, st.T, w.w_down, st.x.as<float>(), d, /*accumulate=*/true);
}

}  // namespace lrkv::cuda
