#include "backend/engine_factory.h"

#include "model/cpu_engine.h"

#ifdef LRKV_HAVE_CUDA
#include "backend/cuda/cuda_engine.h"
#include "backend/cuda/cupti_tracer.h"
#include "backend/cuda/device_pool.h"
#endif

namespace lrkv {

namespace {

bool cuda_usable(std::string* why) {
#ifdef LRKV_HAVE_CUDA
  return cuda::device_available(why);
#else
  *why = "lrkv was built without CUDA (configure with -DLRKV_CUDA=ON)";
  return false;
#endif
}

}  // namespace

std::string resolve_device(const std::string& device) {
  if (device != "auto") return device;
  std::string why;
  return cuda_usable(&why) ? "cuda" : "cpu";
}

Status check_device(const std::string& device) {
  if (device == "cpu" || device == "auto") return Status::Ok();
  if (device != "cuda") return make_error(ErrorCode::kInvalidArgument, "--device {}: expected cpu, cuda or auto", device);
  std::string why;
  if (!cuda_usable(&why)) return make_error(ErrorCode::kUnsupported, "--device cuda: {}", why);
  return Status::Ok();
}

bool device_runs_cache(const std::string& device, const KvCacheSpec& spec) {
  if (resolve_device(device) != "cuda") return true;
  return spec.quant == KvQuant::kNone &&
         (spec.latent.bits > 0 || spec.dtype == DType::kF16 || spec.dtype == DType::kBF16);
}

Result<std::unique_ptr<Engine>> make_engine(const Model& model, const EngineOptions& o) {
  LRKV_RETURN_IF_ERROR(check_device(o.device));
  const std::string device = resolve_device(o.device);
#ifdef LRKV_HAVE_CUDA
  if (device == "cuda") {
    // 16-bit weights on the GPU: f16 when the model's matrices are f16 (`--dtype f16`: the same
    // numbers as on the CPU), else bf16 (f32 and bf16 checkpoints keep their range).
    cuda::CudaEngineOptions co;
    if (!model.weights.layers.empty() && model.weights.layers[0].wq.dtype() == DType::kF16) co.weight_dtype = DType::kF16;
    LRKV_ASSIGN_OR_RETURN(auto e, cuda::CudaEngine::create(model, co));
    return std::unique_ptr<Engine>(std::move(e));
  }
#endif
  auto e = std::make_unique<CpuEngine>(model);
  LRKV_RETURN_IF_ERROR(e->status());
  return std::unique_ptr<Engine>(std::move(e));
}

Result<std::unique_ptr<KernelTracer>> make_kernel_tracer(const Engine& engine) {
#ifdef LRKV_HAVE_CUDA
  if (engine.device() == "cuda") return cuda::make_cupti_tracer();
#endif
  return make_error(ErrorCode::kUnsupported,
                    "a kernel profile traces GPU kernels: it needs --device cuda (this engine runs on {})",
                    engine.device());
}

}  // namespace lrkv
