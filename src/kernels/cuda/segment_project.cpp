#include "kernels/cuda/segment_project.h"

#include <algorithm>

#include "kernels/cuda/cuda_status.h"
#include "kernels/cuda/elementwise.h"

namespace lrkv::cuda {
namespace {

// The fused-absorption fields (SegmentProjectParams::rope, y_cache, v_cache).
Status check_fused(const SegmentProjectParams& p) {
  const SegmentProjectParams::Rope& r = p.rope;
  if (r.pos) {
    if (!r.inv_freq || r.head_dim < 2 || r.head_dim % 2 != 0) {
      return make_error(ErrorCode::kInvalidArgument, "segment_project: RoPE with head_dim {} (even) and {} frequencies",
                        r.head_dim, r.inv_freq ? "its" : "null");
    }
    for (int s = 0; s < p.n_seg; ++s) {
      if (p.x_off[s] % r.head_dim != 0 || p.in_len[s] % r.head_dim != 0) {
        return make_error(ErrorCode::kInvalidArgument,
                          "segment_project: segment {}: inputs [{}, +{}) are not whole heads of {} (RoPE)", s,
                          p.x_off[s], p.in_len[s], r.head_dim);
      }
    }
  }
  if (p.y_cache.dst) {
    LRKV_RETURN_IF_ERROR(check_cache_write(p.y_cache));
    if (p.y_cache.rows != p.rows || !p.y_cache.seq || !p.y_cache.pos) {
      return make_error(ErrorCode::kInvalidArgument, "segment_project: y cache: type {}, seg {}, {} rows (need {})",
                        dtype_name(p.y_cache.type), p.y_cache.seg, p.y_cache.rows, p.rows);
    }
    for (int s = 0; s < p.n_seg; ++s) {
      if (p.pair[s] == 0 && p.y_off[s] + p.out_len[s] > p.y_cache.width) {
        return make_error(ErrorCode::kInvalidArgument, "segment_project: segment {}: outputs past the y cache's {} columns",
                          s, p.y_cache.width);
      }
    }
  }
  if (p.v_cache.dst) LRKV_RETURN_IF_ERROR(check_cache_write(p.v_cache));
  if (p.v_cache.dst && (p.v_cache.rows != p.rows || !p.v_cache.src || !p.v_cache.seq || !p.v_cache.pos)) {
    return make_error(ErrorCode::kInvalidArgument, "segment_project: v cache: type {}, seg {}, {} rows (need {})",
                      dtype_name(p.v_cache.type), p.v_cache.seg, p.v_cache.rows, p.rows);
  }
  for (const EncodeArgs* e : {&p.k_enc, &p.v_enc}) {  // as quant_encode_args leaves them
    if (!e->dst) continue;
    bool ok = e->n_seg >= 1 && e->n_seg <= kEncodeMaxSegments && e->bits >= 1 && e->bits <= 8;
    for (int s = 0; ok && s < e->n_seg; ++s) ok = e->seg_len[s] >= 1 && e->seg_len[s] <= kEncodeMaxLen;
    if (!ok) {
      return make_error(ErrorCode::kInvalidArgument,
                        "segment_project: {} encoding of {} segments (1..{} of 1..{} values, 1..8 bits)",
                        e == &p.k_enc ? "key" : "value", e->n_seg, kEncodeMaxSegments, kEncodeMaxLen);
    }
  }
  if (p.k_enc.dst) {
    const int64_t tiles = (p.rows + 7) / 8;
    if (p.y_cache.dst || !p.counters || p.n_counters < int64_t{p.k_enc.n_seg} * tiles || p.k_enc.src != p.y ||
        p.k_enc.ld_src != p.ldy || p.k_enc.n_seg > p.n_seg) {
      return make_error(ErrorCode::kInvalidArgument,
                        "segment_project: key encoding: {} segments over {} row tiles need y as the source, {} "
                        "counters (given {}) and no float y cache",
                        p.k_enc.n_seg, tiles, int64_t{p.k_enc.n_seg} * tiles, p.n_counters);
    }
    for (int s = 0; s < p.k_enc.n_seg; ++s) {
      if (p.pair[s] != 0 || p.k_enc.seg_col[s] != p.y_off[s] || p.k_enc.seg_len[s] != p.out_len[s]) {
        return make_error(ErrorCode::kInvalidArgument,
                          "segment_project: key encoding segment {} (columns [{}, +{})) is not segment {}'s outputs "
                          "([{}, +{}) of the first pair)",
                          s, p.k_enc.seg_col[s], p.k_enc.seg_len[s], s, p.y_off[s], p.out_len[s]);
      }
    }
  }
  if (p.v_enc.dst && (p.v_cache.dst || !p.v_enc.src)) {
    return make_error(ErrorCode::kInvalidArgument, "segment_project: value encoding with a float v cache or no source");
  }
  return Status::Ok();
}

}  // namespace

Status segment_project(const SegmentProjectParams& p, cudaStream_t stream) {
  if (p.n_seg < 1 || p.n_seg > kSegProjMaxSegments) {
    return make_error(ErrorCode::kInvalidArgument, "segment_project: {} segments (1..{})", p.n_seg,
                      kSegProjMaxSegments);
  }
  if (!p.x || !p.y) return make_error(ErrorCode::kInvalidArgument, "segment_project: null x/y");
  for (int s = 0; s < p.n_seg; ++s) {
    if (p.pair[s] > 1 || (p.pair[s] == 1 && (!p.x2 || !p.y2))) {
      return make_error(ErrorCode::kInvalidArgument, "segment_project: segment {}: pair {} (0: x/y, 1: x2/y2, set)", s,
                        int{p.pair[s]});
    }
  }
  if (p.rows < 0 || p.rows > kSegProjMaxRows) {
    return make_error(ErrorCode::kInvalidArgument, "segment_project: {} rows (0..{})", p.rows, kSegProjMaxRows);
  }
  int max_in = 1, max_out = 1;
  for (int s = 0; s < p.n_seg; ++s) {
    if (!p.w[s] || p.in_len[s] < 1 || p.in_len[s] > kSegProjMaxIn || p.out_len[s] < 1 || p.ldw[s] < p.in_len[s] ||
        p.x_off[s] < 0 || p.y_off[s] < 0) {
      return make_error(ErrorCode::kInvalidArgument,
                        "segment_project: segment {}: in {} (1..{}), out {}, ldw {}, offsets {}/{}", s, p.in_len[s],
                        kSegProjMaxIn, p.out_len[s], p.ldw[s], p.x_off[s], p.y_off[s]);
    }
    max_in = std::max(max_in, p.in_len[s]);
    max_out = std::max(max_out, p.out_len[s]);
  }
  LRKV_RETURN_IF_ERROR(check_fused(p));
  if (p.rows == 0) return Status::Ok();
  if (p.w_type != DType::kF32 && p.w_type != DType::kF16 && p.w_type != DType::kBF16) {
    return make_error(ErrorCode::kUnsupported, "segment_project: weights of type {} (f32, f16, bf16)",
                      dtype_name(p.w_type));
  }
  return cuda_status(launch_segment_project(p, max_in, max_out, stream), "segment_project launch");
}

}  // namespace lrkv::cuda
