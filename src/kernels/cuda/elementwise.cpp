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

Status swiglu(const SwigluParams& p, cudaStream_t stream) {
  if (p.rows == 0) return Status::Ok();
  return cuda_status(launch_swiglu(p.gate, p.up, p.out, p.rows, p.cols, p.ld, stream), "swiglu");
}

Status swiglu_pairs(const float* in, int64_t ld_in, float* out, int64_t ld_out, int64_t rows, int64_t cols,
                    cudaStream_t stream) {
  if (rows == 0 || cols == 0) return Status::Ok();
  if (ld_in < 2 * cols || ld_out < cols) {
    return make_error(ErrorCode::kInvalidArgument, "swiglu_pairs: rows of {} pairs with ld_in {}, ld_out {}", cols,
                      ld_in, ld_out);
  }
  return cuda_status(launch_swiglu_pairs(in, ld_in, out, ld_out, rows, cols, stream), "swiglu_pairs");
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

Status check_cache_write(const CacheWriteParams& p) {
  if (!float_type(p.type) || p.seg <= 0) return make_error(ErrorCode::kInvalidArgument, "CUDA cache_write: bad type/seg");
  return Status::Ok();
}

Status cache_write(const CacheWriteParams& p, cudaStream_t stream) {
  LRKV_RETURN_IF_ERROR(check_cache_write(p));
  if (p.rows == 0) return Status::Ok();
  return cuda_status(launch_cache_write(&p, 1, stream), "cache_write");
}

Status cache_write(const CacheWriteParams& a, const CacheWriteParams& b, cudaStream_t stream) {
  LRKV_RETURN_IF_ERROR(check_cache_write(a));
  LRKV_RETURN_IF_ERROR(check_cache_write(b));
  if (a.rows == 0 && b.rows == 0) return Status::Ok();
  const CacheWriteParams both[2] = {a, b};
  return cuda_status(launch_cache_write(both, 2, stream), "cache_write");
}

Status rope_qk(const RopeQkParams& p, cudaStream_t stream) {
  const RopeParams& q = p.q;
  const RopeParams& k = p.k;
  if (q.head_dim % 2 != 0 || q.inverse || k.inverse) {
    return make_error(ErrorCode::kInvalidArgument, "CUDA rope_qk: head_dim {} (even), inverse RoPE not offered",
                      q.head_dim);
  }
  if (k.n_heads > 0 && (k.rows != q.rows || k.head_dim != q.head_dim || k.positions != q.positions ||
                        k.inv_freq != q.inv_freq || k.layout != q.layout)) {
    return make_error(ErrorCode::kInvalidArgument, "CUDA rope_qk: q and k differ in rows, head_dim, positions or layout");
  }
  if (p.k_cache.dst) {
    LRKV_RETURN_IF_ERROR(check_cache_write(p.k_cache));
    if (p.k_cache.width != k.n_heads * k.head_dim || p.k_cache.rows != q.rows) {
      return make_error(ErrorCode::kInvalidArgument, "CUDA rope_qk: k cache rows of {} values, k has {}",
                        p.k_cache.width, k.n_heads * k.head_dim);
    }
  }
  if (p.v_cache.dst) {
    LRKV_RETURN_IF_ERROR(check_cache_write(p.v_cache));
    if (p.v_cache.rows != q.rows) return make_error(ErrorCode::kInvalidArgument, "CUDA rope_qk: v rows differ");
  }
  if (q.rows == 0) return Status::Ok();
  RopeQkArgs a;
  a.q = q.x;
  a.ldq = q.ld;
  a.n_q_heads = q.n_heads;
  a.k = k.x;
  a.ldk = k.ld;
  a.n_k_heads = k.n_heads;
  a.k_mean = p.k_mean;
  a.rows = q.rows;
  a.head_dim = q.head_dim;
  a.positions = q.positions;
  a.inv_freq = q.inv_freq;
  a.half_split = q.layout == RopeLayout::kHalfSplit;
  a.k_cache = p.k_cache;
  a.v_cache = p.v_cache;
  return cuda_status(launch_rope_qk(a, stream), "rope_qk");
}

}  // namespace lrkv::cuda
