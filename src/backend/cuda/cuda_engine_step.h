// CudaEngine's per-call activations (internal to cuda_engine*.cpp).
#pragma once

#include <vector>

#include "backend/cuda/cuda_engine.h"

namespace lrkv::cuda {

struct CudaEngine::Step {
  int64_t T = 0;
  std::vector<SeqSpan> spans;
  std::vector<int> start;    // per span: cached tokens before this call
  std::vector<int64_t> t0;   // per span: its first row in the batch
  PoolBuffer tokens, pos, seq;                   // int [T]
  PoolBuffer x, h, q, k, v, att, gate, up;       // f32: [T, d], [T, d], [T, qd], [T, kvd] x2, [T, qd], [T, ff] x2
  PoolBuffer ck, cv, qk, z;                      // latent: [T, k_w], [T, v_w], [T, qk_w], [T, z_w] (max over layers)
};

}  // namespace lrkv::cuda
