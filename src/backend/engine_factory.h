// make_engine: the one place a command turns `--device` into an Engine (model/engine.h).
//   cpu   CpuEngine (model/cpu_engine.h): every cache kind, f32 activations
//   cuda  CudaEngine (backend/cuda/cuda_engine.h): f16/bf16 rows and quantized latents, bf16 weights
//   auto  cuda when lrkv was built with it and a GPU is present, else cpu
#pragma once

#include <memory>
#include <string>

#include "core/kernel_trace.h"
#include "model/engine.h"

namespace lrkv {

struct EngineOptions {
  std::string device = "auto";  // cpu | cuda | auto
};

// The device `auto` resolves to here ("cuda" or "cpu"); other names are returned as given.
std::string resolve_device(const std::string& device);
// Whether `device` can run here: an unknown name, a build without CUDA, or no GPU is an error
// naming --device.
Status check_device(const std::string& device);
// Whether a cache of `spec` runs on `device` (the CUDA engine has no q8_0/q4_0/KIVI caches).
bool device_runs_cache(const std::string& device, const KvCacheSpec& spec);

// An engine for `model` (which must outlive it) on options.device.
Result<std::unique_ptr<Engine>> make_engine(const Model& model, const EngineOptions& options = {});

// A tracer of the kernels `engine` runs on its device (`lrkv bench --profile`): CUPTI for the CUDA
// engine. The CPU engine has none to trace: an error naming --device.
Result<std::unique_ptr<KernelTracer>> make_kernel_tracer(const Engine& engine);

}  // namespace lrkv
