#include "kernels/cuda/elementwise.h"

#include "kernels/cuda/cuda_status.h"

namespace lrkv::cuda {
namespace {

bool float_type(DType t) { return t == DType::kF32 || t == DType::kF16 || t == DType::kBF16; }

}  // namespace

Status embedding(const EmbeddingParams& p, cudaStream_t stream) {
  if (!float_type(p.type)) return make_error(ErrorCode::kUnsupported, "CUDA embedding: table of {}", dtype_name(p.type));
  if (p.n == 0) return Status::Ok();
  return cuda_status(launch_embedding(p.table, p.type, p.d, p.tokens, p.n, p.out, p.ldo, stream), "embedding");
}

Status rmsnorm(const RmsNormParams& p, cudaStream_t stream) {
  if (p.rows == 0) return Status::Ok();
  return cuda_status(launch_rmsnorm(p.x, p.weight, p.y, p.rows, p.cols, p.ld, p.eps, stream), "rmsnorm");
}

Status rope(const RopeParams& p, cudaStream_t stream) {
  if (p.head_dim % 2 != 0) return make_error(ErrorCode::kInvalidArgument, "CUDA rope: odd head_dim {}", p.head_dim);
  if (p.rows == 0) return Status::Ok();
  return cuda_status(launch_rope(p.x, p.rows, p.ld, p.n_heads, p.head_dim, p.positions, p.inv_freq,
                                 p.layout == RopeLayout::kHalfSplit, p.inverse, stream),
                     "rope");
}

Status swiglu(const SwigluParams& p, cudaStream_t stream) {
  if (p.rows == 0) return Status::Ok();
  return cuda_status(launch_swiglu(p.gate, p.up, p.out, p.rows, p.cols, p.ld, stream), "swiglu");
}

Status add_row_vector(float* y, int64_t ld, int64_t rows, int64_t cols, const float* v, float alpha,
                      cudaStream_t stream) {
  if (rows == 0 || cols == 0) return Status::Ok();
  return cuda_status(launch_add_row_vector(y, ld, rows, cols, v, alpha, stream), "add_row_vector");
}

Status convert_rows(const float* src, int64_t ld_src, void* dst, DType type, int64_t ld_dst, int64_t rows,
                    int64_t cols, cudaStream_t stream) {
  if (!float_type(type)) return make_error(ErrorCode::kUnsupported, "CUDA convert: to {}", dtype_name(type));
  if (rows == 0 || cols == 0) return Status::Ok();
  return cuda_status(launch_convert_rows(src, ld_src, dst, type, ld_dst, rows, cols, stream), "convert_rows");
}

Status cache_write(const CacheWriteParams& p, cudaStream_t stream) {
  if (!float_type(p.type) || p.seg <= 0) return make_error(ErrorCode::kInvalidArgument, "CUDA cache_write: bad type/seg");
  if (p.rows == 0) return Status::Ok();
  return cuda_status(launch_cache_write(p, stream), "cache_write");
}

}  // namespace lrkv::cuda
