// The distillation loop shared by MatryoshkaKV training (mkv_task.h) and MHA->GQA recovery
// tuning (gqa_task.h). Per step s (METHODS.md 4.3):
//   batch = batches[batch_for_step(seed, s)]          (epoch-wise shuffles, schedule.h)
//   task.prepare_step(s)                               (e.g. sample ranks)
//   teacher logits = teacher.forward(batch)            (the original model, no gradients)
//   L = ce_weight·CE + kl_weight·KL(teacher ‖ student) (losses.h), backward through the student
//   task.collect_gradients(); Adam step with lr(s)     (adam.h, schedule.h)
// Checkpoints (checkpoint.h) every checkpoint_every steps and at the end; resume continues at
// the saved step with the saved parameters and optimiser state and makes the same choices the
// uninterrupted run would have made. A progress bar shows the running mean loss.
// Cost per step: one teacher forward + one student forward/backward (train_forward.h).
#pragma once

#include <string>
#include <vector>

#include "compress/tune/adam.h"
#include "compress/tune/checkpoint.h"
#include "compress/tune/schedule.h"
#include "model/train/train_graph.h"

namespace lrkv {

// What a run trains. Parameter buffers must keep their addresses for the task's lifetime.
class DistillTask {
 public:
  virtual ~DistillTask() = default;
  virtual std::string kind() const = 0;  // checkpoint compatibility ("mkv", "gqa")
  virtual TrainGraph& student() = 0;
  virtual BackwardOptions backward_options() const = 0;
  virtual std::vector<ParamRef> params() = 0;
  // Before the student's forward of step `step`.
  virtual Status prepare_step(int64_t step) = 0;
  // Writes every parameter's gradient buffer from the backward's gradients.
  virtual Status collect_gradients(const Gradients& grads) = 0;
  // After the optimiser changed the parameters (and after a resume restored them).
  virtual Status after_update() { return Status::Ok(); }
  // Fixed tensors / metadata saved with checkpoints and checked or restored on resume.
  virtual void save_extra(Checkpoint* c) const {}
  virtual Status load_extra(const Checkpoint& c) { return Status::Ok(); }
};

struct DistillOptions {
  int64_t steps = 300;        // total steps of the run (a resumed run continues up to it)
  AdamOptions adam;           // lr is the peak learning rate
  int64_t warmup = 0;         // linear warm-up steps
  double min_lr_ratio = 1.0;  // cosine decay to this fraction of lr (1 = constant)
  float ce_weight = 0.75f, kl_weight = 0.25f;
  uint64_t seed = 1;
  std::string checkpoint;  // "" = none
  int64_t checkpoint_every = 100;
  bool resume = false;  // continue from `checkpoint` (must exist)
  bool progress = true;
};

struct DistillReport {
  int64_t start_step = 0, end_step = 0;
  std::vector<LossValue> losses;  // per step of the whole run (restored ones included)
  double mean_total(int64_t begin, int64_t end) const;  // over steps [begin, end)
};

// `teacher` runs the original model (made forward-only); it must be a different object from
// task.student(), on the same device.
Result<DistillReport> run_distillation(TrainGraph& teacher, DistillTask& task,
                                       const std::vector<TokenBatch>& batches,
                                       const DistillOptions& options);

}  // namespace lrkv
