// Value types shared by the training graphs (train_graph.h): token batches, what backward
// computes, and the gradients it returns (host memory).
#pragma once

#include <vector>

#include "model/train/kv_projection.h"

namespace lrkv {

// Token sequences of one batch; lengths may differ, each starts at position 0.
using TokenBatch = std::vector<std::vector<int>>;

struct BackwardOptions {
  bool kv_weights = true;   // dL/dW_k, dL/dW_v (and dL/db_k, dL/db_v with qkv biases)
  bool qo_weights = false;  // dL/dW_q, dL/dW_o (and dL/db_q)
};

struct LayerGradients {   // empty vectors for what was not requested
  std::vector<float> wq;  // [q_dim, d]
  std::vector<float> wk;  // [kv_dim, d]
  std::vector<float> wv;  // [kv_dim, d]
  std::vector<float> wo;  // [d, q_dim]
  std::vector<float> bq;  // [q_dim]
  std::vector<float> bk;  // [kv_dim]
  std::vector<float> bv;  // [kv_dim]
};

struct Gradients {
  std::vector<LayerGradients> layers;  // [n_layer]
  KvProjections projections;           // dL/dU, dL/dmu; empty (no heads) without projections
};

}  // namespace lrkv
