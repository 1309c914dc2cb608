#include "kernels/cuda/cuda_status.h"

namespace lrkv::cuda {

Status cuda_status(cudaError_t e, const char* what) {
  if (e == cudaSuccess) return Status::Ok();
  return make_error(ErrorCode::kInternal, "{}: {}: {}", what, cudaGetErrorName(e), cudaGetErrorString(e));
}

int multiprocessor_count() {
  static const int n = [] {
    int dev = 0, count = 0;
    if (cudaGetDevice(&dev) != cudaSuccess) return 1;
    if (cudaDeviceGetAttribute(&count, cudaDevAttrMultiProcessorCount, dev) != cudaSuccess) return 1;
    return count > 0 ? count : 1;
  }();
  return n;
}

}  // namespace lrkv::cuda
