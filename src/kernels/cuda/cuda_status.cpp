#include "kernels/cuda/cuda_status.h"

namespace lrkv::cuda {

Status cuda_status(cudaError_t e, const char* what) {
  if (e == cudaSuccess) return Status::Ok();
  return make_error(ErrorCode::kInternal, "{}: {}: {}", what, cudaGetErrorName(e), cudaGetErrorString(e));
}

}  // namespace lrkv::cuda
