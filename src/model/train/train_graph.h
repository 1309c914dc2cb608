// TrainGraph: what the distillation loop (compress/tune/distill.h) needs from a training forward,
// independent of where it runs: TrainForward (CPU, train_forward.h) and CudaTrainGraph (GPU,
// backend/cuda/cuda_train_graph.h) implement it. One step is
//   teacher.forward(batch); student.forward(batch);
//   student.loss_backward(loss, &teacher, options, &grads)   (losses.h semantics)
// Gradients come back in host memory in both implementations.
#pragma once

#include <functional>
#include <memory>
#include <string>

#include "model/model.h"
#include "model/train/losses.h"
#include "model/train/train_types.h"

namespace lrkv {

class TrainGraph {
 public:
  virtual ~TrainGraph() = default;
  virtual const LlamaConfig& config() const = 0;
  // "cpu" or "cuda" (teacher and student of one run must match).
  virtual std::string device() const = 0;
  // MatryoshkaKV projections read by every later forward (nullptr: none); see train_forward.h.
  virtual Status set_projections(const KvProjections* projections) = 0;
  // false: only forward() will be called (a teacher); a graph may then keep fewer activations.
  virtual void set_needs_backward(bool needed) {}
  virtual Status forward(const TokenBatch& batch) = 0;
  // Next-token loss of the last forward (teacher: a graph on the same device whose last forward
  // ran the same batch, or nullptr without a KL term; loss.teacher is ignored), then backward.
  // Overwrites `grads` with what `options` asks for (and the projections' gradients).
  virtual Result<LossValue> loss_backward(const LossOptions& loss, TrainGraph* teacher,
                                          const BackwardOptions& options, Gradients* grads) = 0;
  // The Model's f32 tensor behind weight `which` ('q', 'k', 'v', 'o'; 'Q', 'K', 'V' for biases)
  // of `layer` was changed in place (recovery tuning's optimiser step). The CPU graph reads it in
  // place; a device graph copies it again.
  virtual Status weights_changed(int layer, char which) { return Status::Ok(); }
};

// Builds a graph for `model` (which must outlive it); chooses the device.
using TrainGraphFactory = std::function<Result<std::unique_ptr<TrainGraph>>(const Model& model)>;
// The CPU factory (TrainForward).
TrainGraphFactory cpu_train_graphs();

}  // namespace lrkv
