// Fisher information of the K/V projection weights, as Palu's rank planner uses it
// (METHODS.md 1.6): per layer and element F(W) = sqrt(mean over calibration batches of
// (dL/dW)²), with L the mean next-token cross-entropy of one batch; plus the mean of F over each
// group of KV heads' rows (the planner's importance of a group) and over the whole matrix.
// Cost per batch: one training forward + backward (see train_forward.h).
#pragma once

#include <cstdint>
#include <vector>

#include "model/model.h"
#include "model/train/train_forward.h"

namespace lrkv {

struct FisherOptions {
  int heads_per_group = 1;  // KV heads per group for the group means (Palu's s; 1 = per head)
  bool progress = true;     // progress bar on stderr
};

struct LayerFisher {
  std::vector<float> wk, wv;             // [kv_dim, d] element-wise F of W_k, W_v
  std::vector<double> k_group, v_group;  // [n_kv_head / heads_per_group] mean F over group rows
  double k_mean = 0.0, v_mean = 0.0;     // mean F over the matrix
};

struct FisherStats {
  int n_layer = 0, n_kv_head = 0, head_dim = 0, d_model = 0, heads_per_group = 1;
  int64_t n_batches = 0, n_tokens = 0;
  double mean_loss = 0.0;  // mean CE over batches
  std::vector<LayerFisher> layers;
};

// Needs at least one batch with a sequence of 2+ tokens. Deterministic for a given thread count.
Result<FisherStats> fisher_information(const Model& model, const std::vector<TokenBatch>& batches,
                                       const FisherOptions& options = {});

// Cuts `tokens` into windows of `ctx` tokens (the tail shorter than ctx dropped) grouped
// `batch` windows per batch (the last batch may hold fewer); at most max_batches (0 = all).
Result<std::vector<TokenBatch>> make_token_batches(const std::vector<int>& tokens, int ctx,
                                                   int batch, int max_batches = 0);

}  // namespace lrkv
