// Adam (Kingma & Ba 2015) with bias correction, over named float parameters that live elsewhere
// (projection skew matrices, model weights): each step reads the gradient buffers and updates the
// value buffers in place. Optional clipping of the global gradient L2 norm before the update.
// State: per parameter first/second moments m, v [n] (f32) and the step count; exported as named
// vectors for checkpoints (checkpoint.h). Not thread-safe; the update itself is threaded.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "core/status.h"

namespace lrkv {

// A trainable tensor of n floats: value and gradient buffers owned by the caller, addresses
// stable for the optimiser's lifetime; names unique (they key the optimiser state).
struct ParamRef {
  std::string name;
  float* value = nullptr;  // [n]
  float* grad = nullptr;   // [n]
  int64_t n = 0;
};

struct AdamOptions {
  double lr = 1e-3;
  double beta1 = 0.9, beta2 = 0.999, eps = 1e-8;
  double clip_norm = 0.0;  // clip the global gradient norm to this (0 = off)
};

class Adam {
 public:
  explicit Adam(AdamOptions options = {}) : o_(options) {}
  const AdamOptions& options() const { return o_; }

  // One update of every parameter with learning rate `lr` (the schedule is the caller's).
  // Returns the global gradient norm before clipping. The first call for a name creates its
  // zero state; a later call with a different size is an error.
  Result<double> step(const std::vector<ParamRef>& params, double lr);
  int64_t steps() const { return t_; }

  // Moments by parameter name (checkpoints).
  struct Moments {
    std::vector<float> m, v;  // [n]
  };
  const std::map<std::string, Moments>& state() const { return state_; }
  // Restores a saved state (step count and moments); shapes are checked against the next step.
  void restore(int64_t steps, std::map<std::string, Moments> state);

 private:
  AdamOptions o_;
  int64_t t_ = 0;
  std::map<std::string, Moments> state_;
};

// Global L2 norm of the gradients of `params` (fp64 accumulation).
double gradient_norm(const std::vector<ParamRef>& params);

}  // namespace lrkv
