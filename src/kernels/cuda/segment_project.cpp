#include "kernels/cuda/segment_project.h"

#include <algorithm>

#include "kernels/cuda/cuda_status.h"

namespace lrkv::cuda {

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
  if (p.rows == 0) return Status::Ok();
  if (p.w_type != DType::kF32 && p.w_type != DType::kF16 && p.w_type != DType::kBF16) {
    return make_error(ErrorCode::kUnsupported, "segment_project: weights of type {} (f32, f16, bf16)",
                      dtype_name(p.w_type));
  }
  return cuda_status(launch_segment_project(p, max_in, max_out, stream), "segment_project launch");
}

}  // namespace lrkv::cuda
