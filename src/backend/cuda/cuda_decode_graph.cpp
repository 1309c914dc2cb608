// CudaEngine's decode graphs: a decode step (one new token for each of up to
// CudaEngineOptions::graph_max_seqs sequences) is captured once into a CUDA graph and replayed,
// so a step costs one launch instead of ~15 per layer. What a replay may not change is in the
// key: the cache (its buffers' addresses), the sequences of the spans (their offsets in the
// cache), and the number of cache rows the attention splits were planned for — a bucket above the
// longest sequence, so one graph serves a stretch of lengths (the kernels read positions from the
// device and mask by them).
// Token ids, positions and sequence ids are written into the graph's pinned host block before each
// replay; the graph's first node uploads them. (Capturing forward_sample's token selection and its
// download too was measured slower: bench/CUDA_NOTES.md part 17.)
// Every buffer the step uses comes from an arena owned by the graph (DevicePool arena mode):
// captured kernels keep their addresses, and no allocation enters the graph.
#include <algorithm>

#include "backend/cuda/cuda_engine.h"
#include "backend/cuda/cuda_engine_step.h"
#include "kernels/cuda/cuda_status.h"

namespace lrkv::cuda {
namespace {

// Cache rows the attention of a decode graph is planned for: the longest sequence after this
// token rounded up to a multiple of max(256, 2^floor(log2 n) / 8) (at most 1/8 more rows, a new
// graph every ~n/8 tokens), capped at the capacity.
int kv_bucket(int n, int capacity) {
  int pow2 = 1;
  while (pow2 * 2 <= n) pow2 *= 2;
  const int g = std::max(256, pow2 / 8);
  return std::min(capacity, (n + g - 1) / g * g);
}

}  // namespace

bool CudaEngine::graph_eligible(const Step& st, LogitsMode mode, bool want_logits) const {
  if (!opt_.cuda_graphs || device_hook_ || mode == LogitsMode::kNone || !want_logits) return false;
  if (st.spans.empty() || st.spans.size() > static_cast<size_t>(opt_.graph_max_seqs)) return false;
  for (const SeqSpan& s : st.spans) {
    if (s.n != 1) return false;
  }
  return true;
}

Result<CudaEngine::DecodeGraph*> CudaEngine::decode_graph(const Step& shape) {
  int longest = 0;
  std::vector<int> seqs;
  for (size_t i = 0; i < shape.spans.size(); ++i) {
    longest = std::max(longest, shape.start[i] + 1);
    seqs.push_back(shape.spans[i].seq);
  }
  const int plan = kv_bucket(longest, cache_->capacity());
  for (auto& g : graphs_) {
    if (g->cache_serial == cache_->serial() && g->kv_plan == plan && g->seqs == seqs) {
      g->last_used = ++graph_clock_;
      return g.get();
    }
  }
  auto g = std::make_unique<DecodeGraph>();
  g->cache_serial = cache_->serial();
  g->seqs = seqs;
  g->kv_plan = plan;
  g->st.spans = shape.spans;
  g->st.start = shape.start;
  g->st.t0 = shape.t0;
  g->st.T = shape.T;
  g->st.kv_plan = plan;
  LRKV_RETURN_IF_ERROR(capture(*g));
  g->last_used = ++graph_clock_;
  if (graphs_.size() >= kMaxGraphs) {
    auto lru = std::min_element(graphs_.begin(), graphs_.end(),
                                [](const auto& a, const auto& b) { return a->last_used < b->last_used; });
    graphs_.erase(lru);
  }
  graphs_.push_back(std::move(g));
  return graphs_.back().get();
}

// Captures g.st's step into g.exec with its buffers in g.arena; an arena too small is regrown
// past the peak the failed capture reached, and the capture repeated.
Status CudaEngine::capture(DecodeGraph& g) {
  const size_t ids_bytes = static_cast<size_t>(3 * g.st.T) * sizeof(int);
  LRKV_ASSIGN_OR_RETURN(g.host, PinnedBuffer::create(ids_bytes));
  size_t arena_bytes = size_t{8} << 20;
  Status s;
  for (int attempt = 0; attempt < 6; ++attempt) {
    g.st.ids = PoolBuffer{};
    LRKV_ASSIGN_OR_RETURN(g.arena, DeviceBuffer::create(arena_bytes));
    pool_.set_arena(g.arena.data(), arena_bytes);
    s = alloc_step(g.st);
    cudaGraph_t graph = nullptr;
    if (s.ok()) {
      s = cuda_status(cudaStreamBeginCapture(stream_, cudaStreamCaptureModeThreadLocal), "begin decode capture");
      if (s.ok()) {
        s = cuda_status(cudaMemcpyAsync(g.st.ids.data(), g.host.data(), ids_bytes, cudaMemcpyHostToDevice, stream_),
                        "capture ids upload");
        if (s.ok()) s = run_step(g.st, LogitsMode::kLast, /*want_logits=*/true);
        const Status end = cuda_status(cudaStreamEndCapture(stream_, &graph), "end decode capture");
        if (s.ok()) s = end;
      }
    }
    const size_t peak = pool_.arena_peak();
    pool_.set_arena(nullptr, 0);
    if (s.ok()) {
      s = cuda_status(cudaGraphInstantiate(&g.exec, graph, 0), "instantiate decode graph");
      cudaGraphDestroy(graph);
      return s;
    }
    if (graph) cudaGraphDestroy(graph);
    cudaGetLastError();  // a failed capture leaves a sticky launch error behind
    if (peak <= arena_bytes) return s;  // not the arena's size
    arena_bytes = std::max(2 * peak, 2 * arena_bytes);
  }
  return make_error(ErrorCode::kInternal, "decode graph: arena still too small at {} bytes ({})", arena_bytes,
                    s.message());
}

}  // namespace lrkv::cuda
