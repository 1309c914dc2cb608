#include "backend/cuda/cublas_gemm.h"

#include <algorithm>
#include <memory>

#include "kernels/cuda/cuda_status.h"
#include "kernels/cuda/elementwise.h"

namespace lrkv::cuda {

Status cublas_ok(cublasStatus_t s, const char* what) {
  if (s == CUBLAS_STATUS_SUCCESS) return Status::Ok();
  return make_error(ErrorCode::kInternal, "{}: {}", what, cublas_status_name(s));
}

const char* cublas_status_name(cublasStatus_t s) {
  switch (s) {
    case CUBLAS_STATUS_SUCCESS: return "success";
    case CUBLAS_STATUS_NOT_INITIALIZED: return "not initialized";
    case CUBLAS_STATUS_ALLOC_FAILED: return "alloc failed";
    case CUBLAS_STATUS_INVALID_VALUE: return "invalid value";
    case CUBLAS_STATUS_ARCH_MISMATCH: return "arch mismatch";
    case CUBLAS_STATUS_EXECUTION_FAILED: return "execution failed";
    case CUBLAS_STATUS_NOT_SUPPORTED: return "not supported";
    default: return "error";
  }
}

Result<std::unique_ptr<CublasGemm>> CublasGemm::create(cudaStream_t stream, DevicePool* pool, int64_t exact_rows) {
  std::unique_ptr<CublasGemm> g(new CublasGemm());
  const cublasStatus_t s = cublasCreate(&g->handle_);
  if (s != CUBLAS_STATUS_SUCCESS) return make_error(ErrorCode::kInternal, "cublasCreate: {}", cublas_status_name(s));
  cublasSetStream(g->handle_, stream);
  g->stream_ = stream;
  g->pool_ = pool;
  g->exact_rows_ = exact_rows;
  return g;
}

CublasGemm::~CublasGemm() {
  if (handle_) cublasDestroy(handle_);
}

Status CublasGemm::matmul(const MatmulParams& p) {
  return matmul_stacked(p, {Output{p.y, p.ldy, p.n, p.accumulate}});
}

Status CublasGemm::matmul_stacked(const MatmulParams& p, const std::vector<Output>& outs) {
  if (p.m == 0) return Status::Ok();
  // Row-major y[m,n] = x Wᵀ is column-major yᵀ[n,m] = W[n,k] (as k x n column-major, transposed) · xᵀ.
  cudaDataType_t wt;
  switch (p.w_type) {
    case DType::kF32: wt = CUDA_R_32F; break;
    case DType::kF16: wt = CUDA_R_16F; break;
    case DType::kBF16: wt = CUDA_R_16BF; break;
    default: return make_error(ErrorCode::kUnsupported, "CUDA matmul: weights of type {}", dtype_name(p.w_type));
  }
  const bool exact = p.m <= exact_rows_;
  const bool split = exact && p.w_type != DType::kF32;
  const cublasComputeType_t compute =
      p.w_type == DType::kF32 && !exact ? CUBLAS_COMPUTE_32F_FAST_TF32 : CUBLAS_COMPUTE_32F;
  // The GEMM input, once: f32 x as is (f32 W), rounded to W's type, or split into 2m rows.
  const void* x = p.x;
  int64_t ldx = p.ldx, m = p.m, n_max = 0;
  for (const Output& o : outs) n_max = std::max(n_max, o.n);
  if (n_max == 0) return Status::Ok();
  PoolBuffer xb, y2;
  if (p.w_type != DType::kF32) {
    LRKV_ASSIGN_OR_RETURN(xb, pool_->alloc(size_t(p.m) * p.k * 2 * (split ? 2 : 1), stream_));
    if (split) {
      LRKV_CUDA_RETURN_IF_ERROR(launch_split_rows(p.x, p.ldx, xb.data(), p.w_type, p.m, p.k, stream_), "split rows");
      LRKV_ASSIGN_OR_RETURN(y2, pool_->alloc(size_t(2 * p.m) * n_max * sizeof(float), stream_));
      m = 2 * p.m;
    } else {
      LRKV_RETURN_IF_ERROR(convert_rows(p.x, p.ldx, xb.data(), p.w_type, p.k, p.m, p.k, stream_));
    }
    x = xb.data();
    ldx = p.k;
  }
  const float alpha = 1.0f;
  int64_t row0 = 0;
  for (const Output& o : outs) {
    const void* w = static_cast<const char*>(p.w) + dtype_bytes(p.w_type, row0 * p.ldw);
    row0 += o.n;
    if (o.n == 0) continue;
    const float beta = split ? 0.0f : (o.accumulate ? 1.0f : 0.0f);
    void* y = split ? y2.data() : o.y;
    const int64_t ldy = split ? o.n : o.ldy;
    const cublasStatus_t s =
        cublasGemmEx(handle_, CUBLAS_OP_T, CUBLAS_OP_N, static_cast<int>(o.n), static_cast<int>(m),
                     static_cast<int>(p.k), &alpha, w, wt, static_cast<int>(p.ldw), x, wt, static_cast<int>(ldx), &beta,
                     y, CUDA_R_32F, static_cast<int>(ldy), compute, CUBLAS_GEMM_DEFAULT);
    if (s != CUBLAS_STATUS_SUCCESS) {
      return make_error(ErrorCode::kInternal, "cublasGemmEx (m {}, n {}, k {}): {}", m, o.n, p.k, cublas_status_name(s));
    }
    if (split) {
      LRKV_CUDA_RETURN_IF_ERROR(launch_add_halves(y2.as<float>(), p.m, o.n, o.y, o.ldy, o.accumulate, stream_),
                                "add halves");
    }
  }
  return Status::Ok();
}

}  // namespace lrkv::cuda
