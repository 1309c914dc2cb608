#include "backend/cuda/cuda_train_gemm.h"

#include <cublas_v2.h>
#include <cuda_runtime.h>

#include <atomic>
#include <mutex>

#include "core/log.h"
#include "kernels/cuda/cuda_status.h"
#include "model/train/train_ops.h"

namespace lrkv::cuda {

namespace {

// One handle and three growing buffers; GEMMs from several threads are serialised.
struct State {
  std::mutex mu;
  cublasHandle_t handle = nullptr;
  float* buf[3] = {nullptr, nullptr, nullptr};
  size_t cap[3] = {0, 0, 0};
  bool warned = false;
};
State g;
std::atomic<int64_t> g_calls{0};
std::atomic<double> g_flops{0.0};

bool ensure(int i, size_t floats) {
  if (g.cap[i] >= floats) return true;
  if (g.buf[i]) cudaFree(g.buf[i]);
  g.buf[i] = nullptr;
  g.cap[i] = 0;
  if (cudaMalloc(&g.buf[i], floats * sizeof(float)) != cudaSuccess) {
    (void)cudaGetLastError();
    return false;
  }
  g.cap[i] = floats;
  return true;
}

// Elements spanned by a row-major [rows, cols] matrix with row stride ld.
size_t span(int64_t rows, int64_t cols, int64_t ld) { return static_cast<size_t>((rows - 1) * ld + cols); }

// Row-major C = op(A) op(B) is column-major Cᵀ = op(B)ᵀ op(A)ᵀ: swap the operands.
bool gpu_gemm(bool ta, bool tb, int64_t m, int64_t n, int64_t k, float alpha, const float* a, int64_t lda,
              const float* b, int64_t ldb, float beta, float* c, int64_t ldc) {
  std::lock_guard<std::mutex> lock(g.mu);
  const size_t sa = ta ? span(k, m, lda) : span(m, k, lda);
  const size_t sb = tb ? span(n, k, ldb) : span(k, n, ldb);
  const size_t sc = span(m, n, ldc);
  bool ok = ensure(0, sa) && ensure(1, sb) && ensure(2, sc) &&
            cudaMemcpy(g.buf[0], a, sa * sizeof(float), cudaMemcpyHostToDevice) == cudaSuccess &&
            cudaMemcpy(g.buf[1], b, sb * sizeof(float), cudaMemcpyHostToDevice) == cudaSuccess &&
            (beta == 0.0f || cudaMemcpy2D(g.buf[2], ldc * sizeof(float), c, ldc * sizeof(float), n * sizeof(float), m,
                                          cudaMemcpyHostToDevice) == cudaSuccess);
  ok = ok && cublasSgemm(g.handle, tb ? CUBLAS_OP_T : CUBLAS_OP_N, ta ? CUBLAS_OP_T : CUBLAS_OP_N,
                         static_cast<int>(n), static_cast<int>(m), static_cast<int>(k), &alpha, g.buf[1],
                         static_cast<int>(ldb), g.buf[0], static_cast<int>(lda), &beta, g.buf[2],
                         static_cast<int>(ldc)) == CUBLAS_STATUS_SUCCESS;
  if (ok) {
    // C is being overwritten now: a failure here cannot fall back to the CPU.
    // Row by row: the padding between C's rows (ldc > n) is not C's and stays untouched.
    LRKV_CHECK(cudaMemcpy2D(c, ldc * sizeof(float), g.buf[2], ldc * sizeof(float), n * sizeof(float), m,
                            cudaMemcpyDeviceToHost) == cudaSuccess,
               "training GEMM: copying the result back from the GPU failed");
  }
  if (!ok) {
    (void)cudaGetLastError();
    if (!g.warned) log_warn("training GEMM on the GPU failed; continuing on the CPU");
    g.warned = true;
    return false;  // the CPU recomputes C from the untouched host operands
  }
  g_calls.fetch_add(1);
  g_flops.store(g_flops.load() + 2.0 * m * n * k);
  return true;
}

}  // namespace

Status enable_training_gemm(double min_flops) {
  std::lock_guard<std::mutex> lock(g.mu);
  if (g.handle == nullptr) {
    if (cublasCreate(&g.handle) != CUBLAS_STATUS_SUCCESS) {
      g.handle = nullptr;
      return make_error(ErrorCode::kUnsupported, "training on the GPU: cublasCreate failed");
    }
    // fp32 products as on the CPU (no TF32 down-conversion).
    cublasSetMathMode(g.handle, CUBLAS_PEDANTIC_MATH);
  }
  train_ops::set_gemm_backend(gpu_gemm, min_flops);
  return Status::Ok();
}

void disable_training_gemm() { train_ops::set_gemm_backend(nullptr, 0.0); }

int64_t training_gemm_calls() { return g_calls.load(); }
double training_gemm_flops() { return g_flops.load(); }

}  // namespace lrkv::cuda
