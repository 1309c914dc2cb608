// Recovery tuning after MHA->GQA head merging (METHODS.md 3.3) as a distillation task: the
// merged model's attention projections W_q, W_k, W_v, W_o (and q/k/v biases when the model has
// them) of every layer train against the original model (KL + CE, distill.h); everything else
// stays frozen. The paper tunes with LoRA; here the blocks are tuned directly (small models).
// The trained tensors are replaced by private f32 copies at creation (they may share storage
// with the original model), updated in place by the optimiser and read in place by the
// training forward, so after the run the Model holds the tuned weights.
// Parameter names are the canonical weight names (blk.L.attn_q.weight, ...).
// Memory: the trained weights' gradients (one copy) next to the optimiser's two moments.
#pragma once

#include <memory>
#include <vector>

#include "compress/tune/distill.h"

namespace lrkv {

class GqaRecoveryTask final : public DistillTask {
 public:
  // `merged` must outlive the task; its attention tensors are replaced by f32 copies.
  // `graphs` builds the student's training graph (CPU by default).
  static Result<std::unique_ptr<GqaRecoveryTask>> create(
      Model* merged, const TrainGraphFactory& graphs = cpu_train_graphs());

  std::string kind() const override { return "gqa"; }
  TrainGraph& student() override { return *fwd_; }
  BackwardOptions backward_options() const override { return {true, true}; }
  std::vector<ParamRef> params() override;
  Status prepare_step(int64_t step) override { return Status::Ok(); }
  Status collect_gradients(const Gradients& grads) override;
  Status after_update() override;  // tells the graph which weights changed
  void save_extra(Checkpoint* c) const override;
  Status load_extra(const Checkpoint& c) override;

 private:
  struct Slot {
    std::string name;
    Tensor* weight;           // f32 tensor of the merged model
    std::vector<float> grad;  // [numel]
    int layer;
    char which;  // 'q', 'k', 'v', 'o', and 'Q', 'K', 'V' for biases
  };
  GqaRecoveryTask(std::unique_ptr<TrainGraph> fwd, std::vector<Slot> slots, int n_kv_head);
  std::unique_ptr<TrainGraph> fwd_;
  std::vector<Slot> slots_;
  int n_kv_head_;
};

}  // namespace lrkv
