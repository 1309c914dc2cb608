#include "kernels/cuda/sampling.h"

#include "kernels/cuda/cuda_status.h"

namespace lrkv::cuda {

namespace {
Status check(const SampleRows& p, const char* what) {
  if (p.logits == nullptr || p.rows < 0 || p.n < 1 || p.ld < p.n) {
    return make_error(ErrorCode::kInvalidArgument, "{}: logits {} rows x {} (ld {})", what, p.rows, p.n, p.ld);
  }
  return Status::Ok();
}
}  // namespace

Status argmax_rows(const SampleRows& p, int* ids, int* bad, cudaStream_t stream) {
  LRKV_RETURN_IF_ERROR(check(p, "argmax_rows"));
  if (ids == nullptr) return make_error(ErrorCode::kInvalidArgument, "argmax_rows: null ids");
  if (p.rows == 0) return Status::Ok();
  return cuda_status(launch_argmax_rows(p, ids, bad, stream), "argmax_rows launch");
}

Status top_k_rows(const SampleRows& p, int k, float* values, int* ids, int* bad, cudaStream_t stream) {
  LRKV_RETURN_IF_ERROR(check(p, "top_k_rows"));
  if (k < 1 || k > kTopKMax || k > p.n) {
    return make_error(ErrorCode::kInvalidArgument, "top_k_rows: k {} (1..min({}, n = {}))", k, kTopKMax, p.n);
  }
  if (values == nullptr || ids == nullptr) return make_error(ErrorCode::kInvalidArgument, "top_k_rows: null output");
  if (p.rows == 0) return Status::Ok();
  return cuda_status(launch_top_k_rows(p, k, values, ids, bad, stream), "top_k_rows launch");
}

}  // namespace lrkv::cuda
