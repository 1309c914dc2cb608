// cuBLAS projections y[m, n] (+)= x[m, k] · W[n, k]ᵀ with the CPU matmul's Params (device
// pointers): W in bf16/f16 (fp32 accumulate, f32 y) or f32 (plain f32 GEMM). With 16-bit W the
// f32 activations are rounded to W's type; with `split_inputs` they are split exactly enough
// into hi + lo halves (x ≈ hi + lo to ~2^-16 relative) stacked as 2m rows of one GEMM (W read
// once) and the halves' products added: f32-faithful activations at 2x the tensor FLOPs.
// One handle per stream; not thread-safe.
#pragma once

#include <cublas_v2.h>
#include <cuda_runtime.h>

#include "backend/cuda/device_pool.h"
#include "core/status.h"
#include "kernels/matmul.h"

namespace lrkv::cuda {

class CublasGemm {
 public:
  static Result<std::unique_ptr<CublasGemm>> create(cudaStream_t stream, DevicePool* pool, bool split_inputs);
  ~CublasGemm();
  CublasGemm(const CublasGemm&) = delete;
  CublasGemm& operator=(const CublasGemm&) = delete;
  Status matmul(const MatmulParams& p);

 private:
  CublasGemm() = default;
  cublasHandle_t handle_ = nullptr;
  cudaStream_t stream_ = nullptr;
  DevicePool* pool_ = nullptr;
  bool split_ = false;
};

const char* cublas_status_name(cublasStatus_t s);
// Ok for CUBLAS_STATUS_SUCCESS, else kInternal "what: CUBLAS_STATUS_...".
Status cublas_ok(cublasStatus_t s, const char* what);

}  // namespace lrkv::cuda
