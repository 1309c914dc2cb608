// The obviously-correct twin of TrainForward and next_token_loss: scalar loops in double, one
// token at a time, no BLAS and no threads. Tests differentiate it by central finite differences
// to check the fp32 backward. Slow: O(T² · d_h + T · params) per sequence; tiny models only.
#pragma once

#include <functional>
#include <vector>

#include "model/hooks.h"
#include "model/model.h"
#include "model/train/kv_projection.h"
#include "model/train/losses.h"
#include "model/train/train_forward.h"

namespace lrkv::ref {

// Tap at the same named points as TrainForward's forward hook; data [rows, cols] of one
// sequence (`seq`), writable (finite-difference perturbations).
using RefHookFn = std::function<void(int seq, int layer, HookPoint point, double* data,
                                     int64_t rows, int64_t cols)>;

// logits [T, n_vocab] of the batch (sequences in order), with MatryoshkaKV projections when
// `proj` is non-null (including the paper's q·mu_K score term, which softmax cancels).
std::vector<double> train_logits(const Model& model, const KvProjections* proj,
                                 const TokenBatch& batch, const RefHookFn& hook = {});

// next_token_loss's definition evaluated in double on `logits` [T, n_vocab].
double train_loss(const std::vector<double>& logits, const TokenBatch& batch, int64_t n_vocab,
                  const LossOptions& options);

}  // namespace lrkv::ref
