#include "backend/device_compute.h"

#include <algorithm>

#include "compress/calibrate_text.h"
#include "core/log.h"

#ifdef LRKV_HAVE_CUDA
#include "backend/cuda/cuda_calibration.h"
#include "backend/cuda/cuda_engine.h"
#include "backend/cuda/cuda_factorize.h"
#include "backend/cuda/cuda_train_graph.h"
#endif

namespace lrkv {

Result<Factorizer> make_factorizer(const std::string& device) {
  LRKV_RETURN_IF_ERROR(check_device(device));
#ifdef LRKV_HAVE_CUDA
  if (resolve_device(device) == "cuda") return cuda::gpu_factorizer();
#endif
  return Factorizer();
}

Result<TrainGraphFactory> training_graphs(const std::string& device) {
  LRKV_RETURN_IF_ERROR(check_device(device));
#ifdef LRKV_HAVE_CUDA
  if (resolve_device(device) == "cuda") {
    log_info("training forward/backward on the GPU (fp32, cuBLAS without TF32)");
    return cuda::cuda_train_graphs();
  }
#endif
  return cpu_train_graphs();
}

Result<CalibrationStats> calibrate_from_text_on(const Model& m, const TextSourceOptions& text,
                                                const CalibrationOptions& options, const std::string& device) {
  LRKV_RETURN_IF_ERROR(check_device(device));
  if (resolve_device(device) == "cpu") return calibrate_from_text(m, text, options);
#ifdef LRKV_HAVE_CUDA
  if (!m.tokenizer) {
    return make_error(ErrorCode::kInvalidArgument, "{}: no tokenizer found; pass --tokenizer FILE", m.source_path);
  }
  LRKV_ASSIGN_OR_RETURN(auto docs, read_documents(text));
  const std::vector<int> tokens = tokenize_documents(*m.tokenizer, docs, true);
  log_info("calibration text {} (GPU): {} documents, {} tokens (using {})", text.path, docs.size(), tokens.size(),
           options.max_tokens > 0 ? std::min<int64_t>(options.max_tokens, tokens.size()) : tokens.size());
  cuda::CudaEngineOptions co;  // statistics for the compression: f32-faithful GEMM inputs at every size
  co.exact_gemm_rows = cuda::CudaEngineOptions::kAllRows;
  LRKV_ASSIGN_OR_RETURN(auto engine, cuda::CudaEngine::create(m, co));
  if (engine->compressed()) {
    return make_error(ErrorCode::kInvalidArgument, "{} is already compressed; calibrate the original model",
                      m.source_path);
  }
  LRKV_ASSIGN_OR_RETURN(CalibrationStats s, cuda::run_calibration_cuda(*engine, tokens, options));
  s.text = text.path + (text.range.empty() ? "" : " [" + text.range + "]");
  return s;
#else
  return make_error(ErrorCode::kInternal, "unreachable");
#endif
}

}  // namespace lrkv
