// CudaEngine's per-call activations (internal to cuda_engine*.cpp).
#pragma once

#include <algorithm>
#include <vector>

#include "backend/cuda/cuda_engine.h"
#include "backend/cuda/pinned_buffer.h"
#include "kernels/rope.h"

namespace lrkv::cuda {

// n elements of T from the pool (at least one), on stream s.
template <class T>
Result<PoolBuffer> scratch(DevicePool& pool, int64_t n, cudaStream_t s) {
  return pool.alloc(static_cast<size_t>(std::max<int64_t>(n, 1)) * sizeof(T), s);
}

// RoPE of `rows` rows of n_heads heads (row stride ld) at the device positions `pos`.
inline RopeParams rope_rows(float* x, int64_t rows, int64_t ld, int n_heads, const LlamaConfig& c, const int* pos,
                            const float* inv_freq) {
  RopeParams rp;
  rp.x = x;
  rp.rows = rows;
  rp.ld = ld;
  rp.n_heads = n_heads;
  rp.head_dim = c.head_dim;
  rp.positions = pos;
  rp.inv_freq = inv_freq;
  rp.layout = c.rope_layout;
  return rp;
}

struct CudaEngine::Step {
  int64_t T = 0;
  std::vector<SeqSpan> spans;
  std::vector<int> start;    // per span: cached tokens before this call
  std::vector<int64_t> t0;   // per span: its first row in the batch
  PoolBuffer ids;  // int [3, T]: token ids, positions, sequence ids (one upload)
  int* tokens() const { return ids.as<int>(); }
  int* pos() const { return ids.as<int>() + T; }
  int* seq() const { return ids.as<int>() + 2 * T; }
  PoolBuffer x, h, q, k, v, att;                 // f32: [T, d], [T, d], [T, qd], [T, kvd] x2, [T, qd]
  PoolBuffer gate, up;                           // f32: SwiGLU [T, ff]; (gate, up) pairs [T, 2 ff] (GEMM steps)
  PoolBuffer ck, cv, qk, z;                      // latent: [T, k_w], [T, v_w], [T, qk_w], [T, z_w] (max over layers)
  PoolBuffer last, logits;                       // kLast: gathered rows [spans, d]; logits [n_logits, n_vocab]
  int64_t n_logits = 0;
  // > 0: attention splits are planned for this many cache rows instead of the spans' longest
  // (a replayed decode graph serves every length up to it; the kernels mask by position).
  int kv_plan = 0;
  int max_kv(int run_max) const { return kv_plan > 0 ? kv_plan : run_max; }
};

// What forward_sample selects from each logits row on the device, and where it lands: one block
// of 4-byte values, downloaded in one copy,
//   bad [rows] | ids [rows, width] | values [rows, width] (f32)
// bad[r]: the first non-finite column of row r, or -1; row r's ids / values start at r * width.
struct CudaEngine::Selection {
  std::vector<int> k;  // per row: 0 = argmax (ids[r, 0]), k = top-k, sorted; -1 = whole row downloaded
  int width = 1;       // max(1, the largest k >= 0)
  int64_t rows() const { return static_cast<int64_t>(k.size()); }
  size_t ids_offset() const { return static_cast<size_t>(rows()) * 4; }
  size_t values_offset() const { return ids_offset() + static_cast<size_t>(rows() * width) * 4; }
  size_t bytes() const { return values_offset() + static_cast<size_t>(rows() * width) * 4; }
  bool on_device() const {  // every row selected on the device
    return std::all_of(k.begin(), k.end(), [](int v) { return v >= 0; });
  }
};

// One captured decode step: its key, the arena its buffers live in, the executable graph.
// The graph's first node uploads the step's ids ([3, T] ints: tokens, positions, sequences) from
// the pinned block `host`, written before each replay.
struct CudaEngine::DecodeGraph {
  uint64_t cache_serial = 0;
  std::vector<int> seqs;  // the spans' sequences, in order
  int kv_plan = 0;        // attention planned for this many cache rows
  DeviceBuffer arena;     // every buffer the captured kernels use (Step, workspaces, logits)
  PinnedBuffer host;      // ids [3, T] ints
  Step st;                // its buffers point into `arena`
  int* host_ids() const { return static_cast<int*>(host.data()); }
  cudaGraphExec_t exec = nullptr;
  uint64_t last_used = 0;
  DecodeGraph() = default;
  DecodeGraph(const DecodeGraph&) = delete;
  DecodeGraph& operator=(const DecodeGraph&) = delete;
  ~DecodeGraph() {
    if (exec) cudaGraphExecDestroy(exec);
  }
};

}  // namespace lrkv::cuda
