// Distillation checkpoints: one safetensors file (readable by numpy/torch) holding
//   param/<name>    the trained parameters, e.g. param/blk.3.kv.2.a_k [hd, hd]
//   adam.m/<name>   Adam first moments  [n]        adam.v/<name>  second moments [n]
//   const/<name>    fixed tensors of the task, e.g. const/blk.3.kv.2.u0_k (the PCA basis)
// and "__metadata__" strings: lrkv.tune.kind ("mkv" | "gqa"), lrkv.tune.step (steps completed),
// lrkv.tune.adam_steps, lrkv.tune.model (shape fingerprint), lrkv.tune.losses (JSON list of
// per-step [total, ce, kl]) and task-specific keys. Written atomically (write_safetensors), so an
// interrupted save leaves the previous checkpoint intact.
#pragma once

#include <map>
#include <string>

#include "core/tensor.h"
#include "model/llama_config.h"

namespace lrkv {

struct Checkpoint {
  std::map<std::string, std::string> metadata;
  std::map<std::string, Tensor>
      tensors;  // F32 (F64 for fixed fp64 tensors), names with their prefix

  // Metadata lookup with a one-line error naming the key.
  Result<std::string> meta(const std::string& key) const;
  Result<int64_t> meta_int(const std::string& key) const;
  // Tensor lookup; checks the dtype, and the element count when n >= 0.
  Result<const Tensor*> tensor(const std::string& name, int64_t n = -1,
                               DType dtype = DType::kF32) const;
};

Status save_checkpoint(const Checkpoint& c, const std::string& path);
// Loads and checks every tensor is F32 or F64; errors name the file.
Result<Checkpoint> load_checkpoint(const std::string& path);

// "layers=6 d=256 heads=4/4 hd=64 vocab=32000": refuses resuming on another model.
std::string model_fingerprint(const LlamaConfig& cfg);

}  // namespace lrkv
