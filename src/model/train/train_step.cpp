#include "model/train/train_step.h"

namespace lrkv {

Result<LossValue> forward_backward(TrainForward& fwd, const TokenBatch& batch,
                                   const LossOptions& loss, const BackwardOptions& backward,
                                   Gradients* grads) {
  LRKV_RETURN_IF_ERROR(fwd.forward(batch));
  float* logits = fwd.logits().data();
  LRKV_ASSIGN_OR_RETURN(LossValue value, next_token_loss(fwd.sequences(), fwd.tokens(), logits,
                                                         fwd.config().n_vocab, loss, logits));
  LRKV_RETURN_IF_ERROR(fwd.backward(logits, backward, grads));
  return value;
}

}  // namespace lrkv
