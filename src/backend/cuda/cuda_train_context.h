// CudaTrainContext: what the CUDA training graphs of one run share (cuda_train_graph.h): a
// stream, a cuBLAS handle (fp32, no TF32) and the device copies of each model's weights, so a
// teacher and a student built from one Model hold its weights once. Not thread-safe.
#pragma once

#include <cublas_v2.h>
#include <cuda_runtime.h>

#include <map>
#include <memory>
#include <vector>

#include "backend/cuda/device_buffer.h"
#include "model/model.h"
#include "model/train/train_weights.h"

namespace lrkv::cuda {

// Device f32 copies of a model's weights; `ptr` holds device pointers with TrainWeights' layout.
struct DeviceTrainWeights {
  const Model* model = nullptr;
  TrainWeights ptr;                   // device pointers (owned is empty)
  std::vector<DeviceBuffer> buffers;  // storage behind ptr
};

class CudaTrainContext {
 public:
  static Result<std::shared_ptr<CudaTrainContext>> create();
  ~CudaTrainContext();
  CudaTrainContext(const CudaTrainContext&) = delete;
  CudaTrainContext& operator=(const CudaTrainContext&) = delete;

  cudaStream_t stream() const { return stream_; }
  // The weights of `model` on the device (uploaded on first use; f16/bf16 converted to f32).
  Result<std::shared_ptr<DeviceTrainWeights>> weights(const Model& model);

  // Row-major C[m, n] = alpha·op(A)·op(B) + beta·C (train_ops::gemm's contract), `batch` times
  // with element strides sa, sb, sc between the problems (cublasSgemmStridedBatched).
  Status gemm(bool ta, bool tb, int64_t m, int64_t n, int64_t k, float alpha, const float* a, int64_t lda,
              const float* b, int64_t ldb, float beta, float* c, int64_t ldc, int64_t batch = 1, int64_t sa = 0,
              int64_t sb = 0, int64_t sc = 0);
  // y[T, n] (+)= x[T, k]·W[n, k]ᵀ; dx[T, k] (+)= dy[T, n]·W; dW[n, k] = dyᵀ·x (contiguous rows).
  Status linear(const float* x, int64_t T, const float* w, int64_t n, int64_t k, float* y, bool accumulate);
  Status linear_dx(const float* dy, int64_t T, const float* w, int64_t n, int64_t k, float* dx, bool accumulate);
  Status linear_dw(const float* dy, const float* x, int64_t T, int64_t n, int64_t k, float* dw);

 private:
  CudaTrainContext() = default;
  cudaStream_t stream_ = nullptr;
  cublasHandle_t blas_ = nullptr;
  std::map<const Model*, std::weak_ptr<DeviceTrainWeights>> weights_;
};

// A buffer of at least `floats` f32 (or `bytes`) elements, reallocated only when too small.
Result<float*> ensure_floats(DeviceBuffer& b, int64_t floats);
Result<void*> ensure_bytes(DeviceBuffer& b, size_t bytes);

}  // namespace lrkv::cuda
