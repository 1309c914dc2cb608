// One training/calibration step on a TrainForward: forward, next-token loss, backward.
#pragma once

#include "model/train/losses.h"
#include "model/train/train_forward.h"

namespace lrkv {

// Runs `batch` forward, evaluates the loss (teacher rows, if any, in batch order [T, n_vocab])
// and back-propagates it. dL/dlogits overwrites fwd.logits(). Returns the loss value.
Result<LossValue> forward_backward(TrainForward& fwd, const TokenBatch& batch,
                                   const LossOptions& loss, const BackwardOptions& backward,
                                   Gradients* grads);

}  // namespace lrkv
