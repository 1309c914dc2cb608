#include "backend/cuda/cuda_calibration.h"

#include <cublas_v2.h>

#include <algorithm>

#include "backend/cuda/cublas_gemm.h"
#include "core/progress.h"
#include "kernels/cuda/cuda_status.h"
#include "kernels/cuda/moments.h"

namespace lrkv::cuda {
namespace {

// Σ y and Σ y yᵀ of one activation on the device; the Gram matrix's column-major upper triangle
// (the row-major lower one) is accumulated.
struct DeviceMoments {
  int64_t n = 0;
  DeviceBuffer sum, sxx;
  Status init(int64_t width) {
    n = width;
    LRKV_ASSIGN_OR_RETURN(sum, DeviceBuffer::create(n * sizeof(double)));
    LRKV_ASSIGN_OR_RETURN(sxx, DeviceBuffer::create(n * n * sizeof(double)));
    LRKV_RETURN_IF_ERROR(sum.fill_bytes(0));
    return sxx.fill_bytes(0);
  }
  // Downloads into `m` (sum; sxx symmetrised), releasing the device copy.
  Status fetch(MomentStats& m) {
    m.sum.resize(n);
    m.sxx = Mat(n, n);
    LRKV_RETURN_IF_ERROR(sum.download(m.sum.data(), n * sizeof(double)));
    LRKV_RETURN_IF_ERROR(sxx.download(m.sxx.a.data(), n * n * sizeof(double)));
    for (int64_t i = 0; i < n; ++i) {
      for (int64_t j = i + 1; j < n; ++j) m.sxx(i, j) = m.sxx(j, i);
    }
    sum.reset();
    sxx.reset();
    return Status::Ok();
  }
};

struct LayerMoments {
  DeviceMoments x, k_pre, k_post, v;
  DeviceBuffer k_freq;  // [hd/2, H, H] complex<double>
};

class DeviceCollector {
 public:
  static Result<std::unique_ptr<DeviceCollector>> create(const LlamaConfig& c) {
    std::unique_ptr<DeviceCollector> dc(new DeviceCollector(c));
    LRKV_RETURN_IF_ERROR(cublas_ok(cublasCreate(&dc->blas_), "cublasCreate"));
    LRKV_RETURN_IF_ERROR(cublas_ok(cublasSetMathMode(dc->blas_, CUBLAS_DEFAULT_MATH), "cublasSetMathMode"));
    dc->layers_.resize(c.n_layer);
    const int64_t freq = int64_t{c.head_dim / 2} * c.n_kv_head * c.n_kv_head;
    for (LayerMoments& L : dc->layers_) {
      LRKV_RETURN_IF_ERROR(L.x.init(c.d_model));
      for (DeviceMoments* m : {&L.k_pre, &L.k_post, &L.v}) LRKV_RETURN_IF_ERROR(m->init(c.kv_dim()));
      LRKV_ASSIGN_OR_RETURN(L.k_freq, DeviceBuffer::create(std::max<int64_t>(freq, 1) * 2 * sizeof(double)));
      LRKV_RETURN_IF_ERROR(L.k_freq.fill_bytes(0));
    }
    return dc;
  }
  ~DeviceCollector() {
    if (blas_) cublasDestroy(blas_);
  }

  Status on_rows(int layer, HookPoint point, const float* y, int64_t rows, int64_t cols, int64_t ld, cudaStream_t s) {
    if (layer < 0 || layer >= static_cast<int>(layers_.size())) return Status::Ok();
    LayerMoments& L = layers_[layer];
    DeviceMoments* m = point == HookPoint::kKvInput     ? &L.x
                       : point == HookPoint::kKPreRope  ? &L.k_pre
                       : point == HookPoint::kKPostRope ? &L.k_post
                       : point == HookPoint::kV         ? &L.v
                                                        : nullptr;
    if (m == nullptr) return Status::Ok();
    if (point == HookPoint::kKvInput && layer == 0) n_tokens_ += rows;
    LRKV_RETURN_IF_ERROR(accumulate(*m, y, rows, cols, ld, s));
    if (point == HookPoint::kKPreRope) {
      LRKV_CUDA_RETURN_IF_ERROR(
          accumulate_rope_freq_moments(y, rows, ld, cfg_.n_kv_head, cfg_.head_dim,
                                       cfg_.rope_layout == RopeLayout::kInterleaved, L.k_freq.as<double>(), s),
          "RoPE-frequency moments");
    }
    return Status::Ok();
  }

  Status fetch(CalibrationStats* stats) {
    LRKV_CUDA_RETURN_IF_ERROR(cudaDeviceSynchronize(), "calibration");
    stats->n_tokens = n_tokens_;
    stats->layers.resize(layers_.size());
    for (size_t l = 0; l < layers_.size(); ++l) {
      LayerMoments& D = layers_[l];
      LayerCalibration& L = stats->layers[l];
      MomentStats x;
      LRKV_RETURN_IF_ERROR(D.x.fetch(x));
      L.xtx = std::move(x.sxx);
      LRKV_RETURN_IF_ERROR(D.k_pre.fetch(L.k_pre));
      LRKV_RETURN_IF_ERROR(D.k_post.fetch(L.k_post));
      LRKV_RETURN_IF_ERROR(D.v.fetch(L.v));
      L.k_freq.resize(static_cast<size_t>(cfg_.head_dim / 2) * cfg_.n_kv_head * cfg_.n_kv_head);
      LRKV_RETURN_IF_ERROR(D.k_freq.download(L.k_freq.data(), L.k_freq.size() * sizeof(std::complex<double>)));
      D.k_freq.reset();
    }
    return Status::Ok();
  }

 private:
  explicit DeviceCollector(const LlamaConfig& c) : cfg_(c) {}

  Status accumulate(DeviceMoments& m, const float* y, int64_t rows, int64_t cols, int64_t ld, cudaStream_t s) {
    if (scratch_.bytes() < static_cast<size_t>(rows * cols) * sizeof(double)) {
      LRKV_CUDA_RETURN_IF_ERROR(cudaStreamSynchronize(s), "calibration scratch");
      scratch_.reset();
      LRKV_ASSIGN_OR_RETURN(scratch_, DeviceBuffer::create(rows * cols * sizeof(double)));
    }
    if (ones_.bytes() < static_cast<size_t>(rows) * sizeof(double)) {
      LRKV_CUDA_RETURN_IF_ERROR(cudaStreamSynchronize(s), "calibration ones");
      LRKV_ASSIGN_OR_RETURN(ones_, DeviceBuffer::from_host(std::vector<double>(rows, 1.0)));
    }
    LRKV_CUDA_RETURN_IF_ERROR(rows_to_f64(y, rows, cols, ld, scratch_.as<double>(), s), "rows to f64");
    LRKV_RETURN_IF_ERROR(cublas_ok(cublasSetStream(blas_, s), "cublasSetStream"));
    const double one = 1.0;
    const int n = static_cast<int>(cols), k = static_cast<int>(rows);
    // Column-major Yᵀ [cols, rows]: Σ y yᵀ = Yᵀ Y (syrk, no transpose), Σ y = Yᵀ 1 (gemv).
    LRKV_RETURN_IF_ERROR(cublas_ok(cublasDsyrk(blas_, CUBLAS_FILL_MODE_UPPER, CUBLAS_OP_N, n, k, &one,
                                             scratch_.as<double>(), n, &one, m.sxx.as<double>(), n),
                                 "Σ y yᵀ (syrk)"));
    return cublas_ok(cublasDgemv(blas_, CUBLAS_OP_N, n, k, &one, scratch_.as<double>(), n, ones_.as<double>(), 1, &one,
                               m.sum.as<double>(), 1),
                   "Σ y (gemv)");
  }

  const LlamaConfig& cfg_;
  cublasHandle_t blas_ = nullptr;
  std::vector<LayerMoments> layers_;
  DeviceBuffer scratch_, ones_;
  int64_t n_tokens_ = 0;
};

}  // namespace

Result<CalibrationStats> run_calibration_cuda(CudaEngine& engine, const std::vector<int>& tokens,
                                              const CalibrationOptions& o) {
  const LlamaConfig& cfg = engine.config();
  if (engine.compressed()) {
    return make_error(ErrorCode::kInvalidArgument, "GPU calibration needs an uncompressed model");
  }
  const int ctx = o.ctx > 0 ? o.ctx : cfg.max_seq;
  int64_t n = static_cast<int64_t>(tokens.size());
  if (o.max_tokens > 0) n = std::min(n, o.max_tokens);
  if (n < 1) return make_error(ErrorCode::kInvalidArgument, "calibration needs at least one token");
  CalibrationStats stats;
  stats.model_name = cfg.name;
  stats.d_model = cfg.d_model;
  stats.n_layer = cfg.n_layer;
  stats.n_kv_head = cfg.n_kv_head;
  stats.head_dim = cfg.head_dim;
  LRKV_ASSIGN_OR_RETURN(std::unique_ptr<DeviceCollector> collector, DeviceCollector::create(cfg));
  engine.set_device_hook([&](int layer, HookPoint p, const float* y, int64_t rows, int64_t cols, int64_t ld,
                             cudaStream_t s) { return collector->on_rows(layer, p, y, rows, cols, ld, s); });
  const int batch = std::max(1, o.batch);
  Progress progress("calibrate", n, "tok");
  if (!o.progress) progress.disable();
  auto cache = engine.make_cache(batch, ctx, DType::kBF16);
  Status status = cache.status();
  for (int64_t b = 0; b < n && status.ok(); b += int64_t{ctx} * batch) {
    std::vector<SeqSpan> spans;
    for (int i = 0; i < batch && b + int64_t{i} * ctx < n; ++i) {
      const int64_t s = b + int64_t{i} * ctx;
      (*cache)->truncate(i, 0);
      spans.push_back({i, tokens.data() + s, static_cast<int>(std::min<int64_t>(ctx, n - s))});
    }
    status = engine.forward(spans, **cache, LogitsMode::kNone, nullptr);
    for (const auto& s : spans) progress.add(s.n);
  }
  engine.set_device_hook(nullptr);
  LRKV_RETURN_IF_ERROR(status);
  progress.finish();
  LRKV_RETURN_IF_ERROR(collector->fetch(&stats));
  return stats;
}

}  // namespace lrkv::cuda
