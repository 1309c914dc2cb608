// CudaEngine's per-call activations (internal to cuda_engine*.cpp).
#pragma once

#include <algorithm>
#include <vector>

#include "backend/cuda/cuda_engine.h"
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
  PoolBuffer tokens, pos, seq;                   // int [T]
  PoolBuffer x, h, q, k, v, att, gate, up;       // f32: [T, d], [T, d], [T, qd], [T, kvd] x2, [T, qd], [T, ff] x2
  PoolBuffer ck, cv, qk, z;                      // latent: [T, k_w], [T, v_w], [T, qk_w], [T, z_w] (max over layers)
  PoolBuffer last, logits;                       // kLast: gathered rows [spans, d]; logits [n_logits, n_vocab]
  int64_t n_logits = 0;
  // > 0: attention splits are planned for this many cache rows instead of the spans' longest
  // (a replayed decode graph serves every length up to it; the kernels mask by position).
  int kv_plan = 0;
  int max_kv(int run_max) const { return kv_plan > 0 ? kv_plan : run_max; }
};

// One captured decode step: its key, the arena its buffers live in, the executable graph.
struct CudaEngine::DecodeGraph {
  uint64_t cache_serial = 0;
  std::vector<int> seqs;  // the spans' sequences, in order
  int kv_plan = 0;        // attention planned for this many cache rows
  DeviceBuffer arena;     // every buffer the captured kernels use (Step, workspaces, logits)
  Step st;                // its buffers point into `arena`
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
