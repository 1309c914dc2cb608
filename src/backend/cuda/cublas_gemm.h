// cuBLAS projections y[m, n] (+)= x[m, k] · W[n, k]ᵀ with the CPU matmul's Params (device
// pointers): W in bf16/f16 (fp32 accumulate, f32 y) or f32. A GEMM of m <= exact_rows rows keeps
// f32-faithful inputs:
//   16-bit W: x is split into hi + lo halves (x ≈ hi + lo to ~2^-16 relative) stacked as 2m rows
//             of one GEMM (W read once) and the halves' products added (2x the tensor FLOPs);
//   f32 W:    plain f32 GEMM (CUDA cores).
// Larger GEMMs round x to W's type (16-bit W: relative error 2^-11 f16, 2^-8 bf16) or run f32 W
// on the tensor cores as TF32 (x and W rounded to 10-bit mantissas, 2^-11).
// One handle per stream; not thread-safe.
#pragma once

#include <cublas_v2.h>
#include <cuda_runtime.h>

#include <vector>

#include "backend/cuda/device_pool.h"
#include "core/status.h"
#include "kernels/matmul.h"

namespace lrkv::cuda {

class CublasGemm {
 public:
  static Result<std::unique_ptr<CublasGemm>> create(cudaStream_t stream, DevicePool* pool, int64_t exact_rows);
  ~CublasGemm();
  CublasGemm(const CublasGemm&) = delete;
  CublasGemm& operator=(const CublasGemm&) = delete;
  Status matmul(const MatmulParams& p);
  // Outputs over consecutive row ranges of one W from the same x (p.y, p.ldy, p.n, p.accumulate
  // unused): y_i (+)= x · W[rows of output i]ᵀ, with x converted (or split) once for all of them.
  struct Output {
    float* y;
    int64_t ldy, n;
    bool accumulate;
  };
  Status matmul_stacked(const MatmulParams& p, const std::vector<Output>& outs);

 private:
  CublasGemm() = default;
  cublasHandle_t handle_ = nullptr;
  cudaStream_t stream_ = nullptr;
  DevicePool* pool_ = nullptr;
  int64_t exact_rows_ = 0;
};

const char* cublas_status_name(cublasStatus_t s);
// Ok for CUBLAS_STATUS_SUCCESS, else kInternal "what: CUBLAS_STATUS_...".
Status cublas_ok(cublasStatus_t s, const char* what);

}  // namespace lrkv::cuda
