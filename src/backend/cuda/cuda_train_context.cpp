#include "backend/cuda/cuda_train_context.h"

#include "backend/cuda/cublas_gemm.h"
#include "kernels/cuda/cuda_status.h"

namespace lrkv::cuda {

Result<void*> ensure_bytes(DeviceBuffer& b, size_t bytes) {
  if (b.bytes() < bytes) {
    b.reset();
    LRKV_ASSIGN_OR_RETURN(b, DeviceBuffer::create(bytes));
  }
  return b.data();
}

Result<float*> ensure_floats(DeviceBuffer& b, int64_t floats) {
  LRKV_ASSIGN_OR_RETURN(void* p, ensure_bytes(b, static_cast<size_t>(std::max<int64_t>(floats, 1)) * sizeof(float)));
  return static_cast<float*>(p);
}

Result<std::shared_ptr<CudaTrainContext>> CudaTrainContext::create() {
  std::string why;
  if (!device_available(&why)) return make_error(ErrorCode::kUnsupported, "training on the GPU: {}", why);
  std::shared_ptr<CudaTrainContext> c(new CudaTrainContext());
  LRKV_CUDA_RETURN_IF_ERROR(cudaStreamCreateWithFlags(&c->stream_, cudaStreamNonBlocking), "training stream");
  LRKV_RETURN_IF_ERROR(cublas_ok(cublasCreate(&c->blas_), "training on the GPU: cublasCreate"));
  LRKV_RETURN_IF_ERROR(cublas_ok(cublasSetStream(c->blas_, c->stream_), "training on the GPU: cublasSetStream"));
  // Plain fp32 FMA GEMMs: results agree with the CPU graph to fp32 summation order.
  LRKV_RETURN_IF_ERROR(cublas_ok(cublasSetMathMode(c->blas_, CUBLAS_PEDANTIC_MATH), "training on the GPU: cublasSetMathMode"));
  return c;
}

CudaTrainContext::~CudaTrainContext() {
  if (blas_) cublasDestroy(blas_);
  if (stream_) cudaStreamDestroy(stream_);
}

Result<std::shared_ptr<DeviceTrainWeights>> CudaTrainContext::weights(const Model& model) {
  auto it = weights_.find(&model);
  if (it != weights_.end()) {
    if (auto w = it->second.lock()) return w;
  }
  LRKV_ASSIGN_OR_RETURN(TrainWeights host, make_train_weights(model));  // checks shapes, converts
  const LlamaConfig& c = model.config;
  const int64_t d = c.d_model, qd = c.q_dim(), kvd = c.kv_dim(), ff = c.d_ff, V = c.n_vocab;
  auto w = std::make_shared<DeviceTrainWeights>();
  w->model = &model;
  std::map<const float*, const float*> done;  // host -> device (tied embeddings upload once)
  auto up = [&](const float* h, int64_t n, const float** dst) -> Status {
    if (h == nullptr) {
      *dst = nullptr;
      return Status::Ok();
    }
    if (auto f = done.find(h); f != done.end()) {
      *dst = f->second;
      return Status::Ok();
    }
    LRKV_ASSIGN_OR_RETURN(DeviceBuffer b, DeviceBuffer::create(static_cast<size_t>(n) * sizeof(float)));
    LRKV_RETURN_IF_ERROR(b.upload(h, static_cast<size_t>(n) * sizeof(float)));
    *dst = b.as<float>();
    done[h] = *dst;
    w->buffers.push_back(std::move(b));
    return Status::Ok();
  };
  LRKV_RETURN_IF_ERROR(up(host.tok_embd, V * d, &w->ptr.tok_embd));
  LRKV_RETURN_IF_ERROR(up(host.out_norm, d, &w->ptr.out_norm));
  LRKV_RETURN_IF_ERROR(up(host.head, V * d, &w->ptr.head));
  w->ptr.layers.resize(c.n_layer);
  for (int l = 0; l < c.n_layer; ++l) {
    const TrainLayerWeights& h = host.layers[l];
    TrainLayerWeights& o = w->ptr.layers[l];
    LRKV_RETURN_IF_ERROR(up(h.attn_norm, d, &o.attn_norm));
    LRKV_RETURN_IF_ERROR(up(h.wq, qd * d, &o.wq));
    LRKV_RETURN_IF_ERROR(up(h.wk, kvd * d, &o.wk));
    LRKV_RETURN_IF_ERROR(up(h.wv, kvd * d, &o.wv));
    LRKV_RETURN_IF_ERROR(up(h.bq, qd, &o.bq));
    LRKV_RETURN_IF_ERROR(up(h.bk, kvd, &o.bk));
    LRKV_RETURN_IF_ERROR(up(h.bv, kvd, &o.bv));
    LRKV_RETURN_IF_ERROR(up(h.wo, d * qd, &o.wo));
    LRKV_RETURN_IF_ERROR(up(h.ffn_norm, d, &o.ffn_norm));
    LRKV_RETURN_IF_ERROR(up(h.w_gate, ff * d, &o.w_gate));
    LRKV_RETURN_IF_ERROR(up(h.w_up, ff * d, &o.w_up));
    LRKV_RETURN_IF_ERROR(up(h.w_down, d * ff, &o.w_down));
  }
  weights_[&model] = w;
  return w;
}

// Row-major C = op(A)·op(B) is column-major Cᵀ = op(B)ᵀ·op(A)ᵀ: swap the operands.
Status CudaTrainContext::gemm(bool ta, bool tb, int64_t m, int64_t n, int64_t k, float alpha, const float* a,
                              int64_t lda, const float* b, int64_t ldb, float beta, float* c, int64_t ldc,
                              int64_t batch, int64_t sa, int64_t sb, int64_t sc) {
  if (m == 0 || n == 0 || batch == 0) return Status::Ok();
  const auto opa = ta ? CUBLAS_OP_T : CUBLAS_OP_N, opb = tb ? CUBLAS_OP_T : CUBLAS_OP_N;
  if (batch == 1) {
    return cublas_ok(cublasSgemm(blas_, opb, opa, static_cast<int>(n), static_cast<int>(m), static_cast<int>(k),
                               &alpha, b, static_cast<int>(ldb), a, static_cast<int>(lda), &beta, c,
                               static_cast<int>(ldc)),
                   "training on the GPU: cublasSgemm");
  }
  return cublas_ok(cublasSgemmStridedBatched(blas_, opb, opa, static_cast<int>(n), static_cast<int>(m),
                                           static_cast<int>(k), &alpha, b, static_cast<int>(ldb), sb, a,
                                           static_cast<int>(lda), sa, &beta, c, static_cast<int>(ldc), sc,
                                           static_cast<int>(batch)),
                 "training on the GPU: cublasSgemmStridedBatched");
}

Status CudaTrainContext::linear(const float* x, int64_t T, const float* w, int64_t n, int64_t k, float* y,
                                bool accumulate) {
  return gemm(false, true, T, n, k, 1.0f, x, k, w, k, accumulate ? 1.0f : 0.0f, y, n);
}

Status CudaTrainContext::linear_dx(const float* dy, int64_t T, const float* w, int64_t n, int64_t k, float* dx,
                                   bool accumulate) {
  return gemm(false, false, T, k, n, 1.0f, dy, n, w, k, accumulate ? 1.0f : 0.0f, dx, k);
}

Status CudaTrainContext::linear_dw(const float* dy, const float* x, int64_t T, int64_t n, int64_t k, float* dw) {
  return gemm(true, false, n, k, T, 1.0f, dy, n, x, k, 0.0f, dw, k);
}

}  // namespace lrkv::cuda
