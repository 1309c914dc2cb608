#include "model/train/train_step.h"

namespace lrkv {

Result<LossValue> TrainForward::loss_backward(const LossOptions& loss, TrainGraph* teacher,
                                              const BackwardOptions& options, Gradients* grads) {
  if (!have_forward_) {
    return make_error(ErrorCode::kInvalidArgument,
                      "training loss: no forward to differentiate (run forward() first)");
  }
  LossOptions o = loss;
  o.teacher = nullptr;
  if (teacher != nullptr) {
    auto* t = dynamic_cast<TrainForward*>(teacher);
    if (t == nullptr || t == this) {
      return make_error(ErrorCode::kInvalidArgument,
                        "training loss: the teacher must be another CPU graph (got {})",
                        t == this ? "the student itself" : teacher->device());
    }
    if (t->tokens() != tokens_ || t->rows() != T_ ||
        static_cast<int64_t>(t->logits().size()) != T_ * cfg_.n_vocab) {
      return make_error(ErrorCode::kInvalidArgument,
                        "training loss: the teacher's last forward ran a different batch");
    }
    o.teacher = t->logits().data();
  }
  float* l = logits_.data();
  LRKV_ASSIGN_OR_RETURN(LossValue value,
                        next_token_loss(seqs_, tokens_, l, cfg_.n_vocab, o, l));
  LRKV_RETURN_IF_ERROR(backward(l, options, grads));
  return value;
}

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

TrainGraphFactory cpu_train_graphs() {
  return [](const Model& model) -> Result<std::unique_ptr<TrainGraph>> {
    LRKV_ASSIGN_OR_RETURN(TrainForward f, TrainForward::create(model));
    return std::unique_ptr<TrainGraph>(new TrainForward(std::move(f)));
  };
}

}  // namespace lrkv
