// CudaEngine's step driver: spans -> one step (or a replayed decode graph, or chunks of a long
// prompt) -> logits downloaded or tokens sampled on the device (see cuda_engine.h).
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>

#include "backend/cuda/cuda_engine.h"
#include "backend/cuda/cuda_engine_step.h"
#include "core/finite_check.h"
#include "kernels/cuda/cuda_status.h"
#include "kernels/cuda/elementwise.h"
#include "kernels/cuda/sampling.h"

namespace lrkv::cuda {

struct CudaEngine::SampleJob {
  Selection sel;
  PoolBuffer dev;                // the device selection (Selection's block)
  std::vector<std::byte> store;  // its host copy; empty until deliver downloads it
  std::vector<float> rows;       // [rows, n_vocab]: rows with k = -1 only
  template <class T>
  T at(size_t offset) const {  // a 4-byte value of the block
    T v;
    std::memcpy(&v, store.data() + offset, sizeof v);
    return v;
  }
  int bad(int64_t r) const { return at<int32_t>(static_cast<size_t>(r) * 4); }
  int id(int64_t r, int i) const { return at<int32_t>(sel.ids_offset() + static_cast<size_t>(r * sel.width + i) * 4); }
  float value(int64_t r, int i) const {
    return at<float>(sel.values_offset() + static_cast<size_t>(r * sel.width + i) * 4);
  }
};

namespace {

// The error of a step whose logits hold `what` (nan, inf, -inf) at (row, col): as the CPU engine,
// never a token or logits computed from them.
const char* non_finite_name(float v) { return std::isnan(v) ? "nan" : (v > 0 ? "inf" : "-inf"); }
Status non_finite_logits(const std::string& source, const char* what, int64_t row, int64_t n_rows, int64_t col) {
  return make_error(ErrorCode::kInvalidArgument,
                    "{}: activations became non-finite ({}) in the output logits on the GPU (row {} of {}, "
                    "column {}); expected finite values: the weights overflow f32 or are corrupt (--device cpu "
                    "names the first layer where it happens)",
                    source, what, row, n_rows, col);
}

}  // namespace

// Asynchronous: the caller synchronises the stream before reading `host` or whole_rows.
Status CudaEngine::select_on_device(const float* logits, const Selection& sel, void* dev, void* host,
                                    float* whole_rows) {
  const int V = static_cast<int>(cfg_.n_vocab);
  char* d = static_cast<char*>(dev);
  for (int64_t r = 0; r < sel.rows(); ++r) {
    const int k = sel.k[r];
    const SampleRows row{logits + r * V, V, 1, V};
    int* ids = reinterpret_cast<int*>(d + sel.ids_offset()) + r * sel.width;
    float* vals = reinterpret_cast<float*>(d + sel.values_offset()) + r * sel.width;
    int* bad = reinterpret_cast<int*>(d) + r;
    if (k == 0) {
      LRKV_RETURN_IF_ERROR(argmax_rows(row, ids, bad, stream_));
    } else if (k > 0) {
      LRKV_RETURN_IF_ERROR(top_k_rows(row, k, vals, ids, bad, stream_));
    } else {
      if (whole_rows == nullptr) return make_error(ErrorCode::kInternal, "select_on_device: no room for whole rows");
      LRKV_CUDA_RETURN_IF_ERROR(cudaMemcpyAsync(whole_rows + r * V, logits + r * V, V * sizeof(float),
                                                cudaMemcpyDeviceToHost, stream_), "download logits row");
    }
  }
  LRKV_CUDA_RETURN_IF_ERROR(cudaMemcpyAsync(host, dev, sel.bytes(), cudaMemcpyDeviceToHost, stream_),
                            "download token selection");
  return Status::Ok();
}

// rmsnorm(x) and, when wanted, the LM head into st.logits ([n_logits, V]: every row, or the last
// row of each span; one-token spans, as in decode steps, need no gather).
Status CudaEngine::head(Step& st, LogitsMode mode, bool want_logits) {
  const int64_t d = cfg_.d_model, V = cfg_.n_vocab;
  const int64_t n_rows = mode == LogitsMode::kLast ? static_cast<int64_t>(st.spans.size()) : st.T;
  const bool gather = n_rows != st.T;
  LRKV_RETURN_IF_ERROR(rmsnorm(
      RmsNormParams{st.x.as<float>(), out_norm_.as<float>(), st.h.as<float>(), st.T, d, d, cfg_.norm_eps}, stream_));
  st.n_logits = 0;
  if (mode == LogitsMode::kNone || !want_logits) return Status::Ok();
  const Matrix& head = cfg_.tied_embeddings ? tok_embd_ : output_;
  const float* rows = st.h.as<float>();
  if (gather) {
    LRKV_ASSIGN_OR_RETURN(st.last, scratch<float>(pool_, n_rows * d, stream_));
    for (int64_t i = 0; i < n_rows; ++i) {
      const int64_t t = st.t0[i] + st.spans[i].n - 1;
      LRKV_CUDA_RETURN_IF_ERROR(cudaMemcpyAsync(st.last.as<float>() + i * d, st.h.as<float>() + t * d,
                                                d * sizeof(float), cudaMemcpyDeviceToDevice, stream_),
                                "gather last rows");
    }
    rows = st.last.as<float>();
  }
  LRKV_ASSIGN_OR_RETURN(st.logits, scratch<float>(pool_, n_rows * V, stream_));
  st.n_logits = n_rows;
  return project(rows, d, n_rows, head, st.logits.as<float>(), V);
}

// The step's logits to the caller: sampled on the device, or downloaded.
Status CudaEngine::deliver(const Step& st, std::vector<float>* logits, SampleJob* sample) {
  if (st.n_logits == 0) return Status::Ok();
  if (sample != nullptr) {
    const Selection& sel = sample->sel;
    if (sel.rows() != st.n_logits) {
      return make_error(ErrorCode::kInternal, "deliver: {} selections for {} logits rows", sel.rows(), st.n_logits);
    }
    LRKV_ASSIGN_OR_RETURN(sample->dev, scratch<char>(pool_, static_cast<int64_t>(sel.bytes()), stream_));
    sample->store.assign(sel.bytes(), std::byte{0});
    const bool whole = !sel.on_device();
    sample->rows.assign(whole ? sel.rows() * cfg_.n_vocab : 0, 0.0f);
    return select_on_device(st.logits.as<float>(), sel, sample->dev.data(), sample->store.data(),
                            whole ? sample->rows.data() : nullptr);
  }
  const int64_t V = cfg_.n_vocab;
  logits->resize(st.n_logits * V);
  LRKV_CUDA_RETURN_IF_ERROR(cudaMemcpyAsync(logits->data(), st.logits.data(), st.n_logits * V * sizeof(float),
                                            cudaMemcpyDeviceToHost, stream_),
                            "download logits");
  return Status::Ok();
}

namespace {

bool fits_one_step(const std::vector<SeqSpan>& spans, int max_chunk) {
  for (const SeqSpan& s : spans) {
    if (s.n > max_chunk) return false;
  }
  return true;
}

}  // namespace

// Spans longer than kMaxChunk run as consecutive chunks of one sequence at a time: the attention
// grid and the activations of a step grow with its tokens (a 32K-token prompt in one step passes
// the grid's limits).
Status CudaEngine::forward(const std::vector<SeqSpan>& spans, KvCache& cache, LogitsMode mode,
                           std::vector<float>* logits) {
  if (fits_one_step(spans, kMaxChunk)) return run_forward(spans, cache, mode, logits, nullptr);
  LRKV_RETURN_IF_ERROR(check_spans(spans, cache));
  if (logits) logits->clear();
  std::vector<float> part;
  for (const SeqSpan& s : spans) {
    for (int off = 0; off < s.n; off += kMaxChunk) {
      const int n = std::min(kMaxChunk, s.n - off);
      const bool last = off + n == s.n;
      const LogitsMode m = mode == LogitsMode::kAll ? mode : (last ? mode : LogitsMode::kNone);
      LRKV_RETURN_IF_ERROR(run_forward({SeqSpan{s.seq, s.tokens + off, n}}, cache, m, logits ? &part : nullptr,
                                       nullptr));
      if (logits && m != LogitsMode::kNone) logits->insert(logits->end(), part.begin(), part.end());
    }
  }
  return Status::Ok();
}

Status CudaEngine::forward_sample(const std::vector<SeqSpan>& spans, KvCache& cache, std::vector<Sampler>& samplers,
                                  std::vector<int>* next) {
  if (next == nullptr || samplers.size() != spans.size()) {
    return make_error(ErrorCode::kInvalidArgument, "forward_sample: {} samplers for {} spans", samplers.size(),
                      spans.size());
  }
  const int V = static_cast<int>(cfg_.n_vocab);
  SampleJob job;
  for (const Sampler& s : samplers) {  // what each row selects on the device (Selection)
    const int k = s.candidates_for(V);
    job.sel.k.push_back(k > kTopKMax ? -1 : k);
    if (k <= kTopKMax) job.sel.width = std::max(job.sel.width, k);  // whole rows take no room in the block
  }
  if (fits_one_step(spans, kMaxChunk)) {
    LRKV_RETURN_IF_ERROR(run_forward(spans, cache, LogitsMode::kLast, nullptr, &job));
  } else {  // all but the last chunk of each span first, then the last chunks and the sampling
    LRKV_RETURN_IF_ERROR(check_spans(spans, cache));
    std::vector<SeqSpan> heads, tails;
    for (const SeqSpan& s : spans) {
      const int tail = (s.n - 1) % kMaxChunk + 1;
      if (s.n > tail) heads.push_back(SeqSpan{s.seq, s.tokens, s.n - tail});
      tails.push_back(SeqSpan{s.seq, s.tokens + (s.n - tail), tail});
    }
    if (!heads.empty()) LRKV_RETURN_IF_ERROR(forward(heads, cache, LogitsMode::kNone, nullptr));
    LRKV_RETURN_IF_ERROR(run_forward(tails, cache, LogitsMode::kLast, nullptr, &job));
  }
  const int64_t n_rows = static_cast<int64_t>(spans.size());
  if (job.store.empty()) return make_error(ErrorCode::kInternal, "forward_sample: no selection was made");
  for (int64_t r = 0; r < n_rows; ++r) {  // the selection kernels' scan, or the downloaded row
    const bool on_device = job.sel.k[r] >= 0;
    const int64_t col = on_device ? job.bad(r) : first_non_finite(DType::kF32, job.rows.data() + r * V, V);
    if (col >= 0) {
      const char* what = on_device ? "nan or inf" : non_finite_name(job.rows[r * V + col]);
      return non_finite_logits(model_.source_path, what, r, n_rows, col);
    }
  }
  next->resize(spans.size());
  std::vector<std::pair<float, int>> cand;
  for (size_t r = 0; r < spans.size(); ++r) {
    Sampler& s = samplers[r];
    const int k = job.sel.k[r];
    if (k == 0) {
      (*next)[r] = job.id(r, 0);
    } else if (k > 0) {
      cand.resize(k);
      for (int i = 0; i < k; ++i) cand[i] = {job.value(r, i), job.id(r, i)};
      (*next)[r] = s.sample_candidates(cand);
    } else {
      (*next)[r] = s.sample(job.rows.data() + r * V, V);
    }
  }
  return Status::Ok();
}

Status CudaEngine::alloc_step(Step& st) {
  const int64_t T = st.T, d = cfg_.d_model, qd = cfg_.q_dim(), kvd = cfg_.kv_dim(), ff = cfg_.d_ff;
  int64_t kw = 0, vw = 0, qkw = 0, zw = 0;
  for (const LatentLayer& L : latent_) {
    kw = std::max<int64_t>(kw, L.k_width);
    vw = std::max<int64_t>(vw, L.v_width);
    qkw = std::max<int64_t>(qkw, L.qk_width);
    zw = std::max<int64_t>(zw, L.z_width);
  }
  LRKV_ASSIGN_OR_RETURN(st.ids, scratch<int>(pool_, 3 * T, stream_));
  for (auto [buf, n] : {std::pair{&st.x, T * d}, {&st.h, T * d}, {&st.q, T * qd}, {&st.k, T * kvd}, {&st.v, T * kvd},
                        {&st.att, T * qd}, {&st.gate, T * ff}, {&st.up, 2 * T * ff}, {&st.ck, T * kw}, {&st.cv, T * vw},
                        {&st.qk, T * qkw}, {&st.z, T * zw}}) {
    LRKV_ASSIGN_OR_RETURN(*buf, scratch<float>(pool_, n, stream_));
  }
  return Status::Ok();
}

// Everything between the uploaded ids and the logits, on stream_ (what a decode graph captures).
Status CudaEngine::run_step(Step& st, LogitsMode mode, bool want_logits) {
  const int64_t d = cfg_.d_model;
  LRKV_RETURN_IF_ERROR(embedding(
      EmbeddingParams{tok_embd_.buf.data(), tok_embd_.type, d, st.tokens(), st.T, st.x.as<float>(), d},
      stream_));
  for (int l = 0; l < cfg_.n_layer; ++l) {
    LRKV_RETURN_IF_ERROR(compressed() ? attention_latent(l, st) : attention_dense(l, st));
    LRKV_RETURN_IF_ERROR(ffn(l, st));
  }
  return head(st, mode, want_logits);
}

Status CudaEngine::run_forward(const std::vector<SeqSpan>& spans, KvCache& cache_base, LogitsMode mode,
                               std::vector<float>* logits, SampleJob* sample) {
  LRKV_RETURN_IF_ERROR(check_spans(spans, cache_base));
  LRKV_RETURN_IF_ERROR(reserve_span_rows(spans, cache_base));
  cache_ = static_cast<CudaKvCache*>(&cache_base);  // check_spans: made by this engine
  struct Release {
    CudaKvCache*& c;
    ~Release() { c = nullptr; }
  } release{cache_};
  const CudaKvCache& cache = *cache_;
  Step st;
  st.spans = spans;
  for (const SeqSpan& s : spans) st.T += s.n;
  std::vector<int> ids(3 * st.T);  // [3, T]: tokens, positions, sequences (Step::ids)
  int t = 0;
  for (const SeqSpan& s : spans) {
    st.t0.push_back(t);
    st.start.push_back(cache.length(s.seq));
    for (int i = 0; i < s.n; ++i, ++t) {
      ids[t] = s.tokens[i];
      ids[st.T + t] = cache.length(s.seq) + i;
      ids[2 * st.T + t] = s.seq;
    }
  }
  const bool want_logits = logits != nullptr || sample != nullptr;
  Step* run = &st;
  DecodeGraph* graph = nullptr;
  if (graph_eligible(st, mode, want_logits)) {
    auto g = decode_graph(st);
    if (g.ok()) {
      graph = *g;
      run = &graph->st;
    } else {
      // A step the graph cannot capture still runs (eagerly); later steps stop trying.
      std::fprintf(stderr, "lrkv: note: CUDA graphs off for this engine: %s\n", g.status().to_string().c_str());
      opt_.cuda_graphs = false;
    }
  }
  if (graph == nullptr) LRKV_RETURN_IF_ERROR(alloc_step(st));
  LRKV_RETURN_IF_ERROR(cache_->upload_tables(stream_));  // paged: the blocks reserve_span_rows mapped
  if (graph != nullptr) {  // the graph uploads the ids itself, from its pinned block
    std::copy(ids.begin(), ids.end(), graph->host_ids());
    LRKV_CUDA_RETURN_IF_ERROR(cudaGraphLaunch(graph->exec, stream_), "decode graph launch");
  } else {
    LRKV_CUDA_RETURN_IF_ERROR(cudaMemcpyAsync(st.ids.data(), ids.data(), ids.size() * sizeof(int),
                                              cudaMemcpyHostToDevice, stream_),
                              "upload ids");
    LRKV_RETURN_IF_ERROR(run_step(st, mode, want_logits));
  }
  LRKV_RETURN_IF_ERROR(deliver(*run, logits, sample));
  LRKV_CUDA_RETURN_IF_ERROR(cudaStreamSynchronize(stream_), "forward");
  for (const SeqSpan& s : spans) cache_->advance(s.seq, s.n);
  if (logits != nullptr && run->n_logits > 0) {  // as the CPU engine: never a nan result
    const int64_t V = cfg_.n_vocab, bad = first_non_finite(DType::kF32, logits->data(), run->n_logits * V);
    if (bad >= 0) {
      return non_finite_logits(model_.source_path, non_finite_name((*logits)[bad]), bad / V, run->n_logits, bad % V);
    }
  }
  return Status::Ok();
}

}  // namespace lrkv::cuda
