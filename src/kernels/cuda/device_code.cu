// device_code_arch() (device_props.h): the virtual architecture of the device code the driver
// loaded for this GPU, read from an empty kernel's attributes (no launch, so safe during graph
// capture).
#include <cuda_runtime.h>

#include "kernels/cuda/device_props.h"

namespace lrkv::cuda {
namespace {

__global__ void device_code_probe() {}

}  // namespace

int device_code_arch() {
  static const int v = [] {
    cudaFuncAttributes attr{};
    if (cudaFuncGetAttributes(&attr, device_code_probe) != cudaSuccess) {
      (void)cudaGetLastError();  // not sticky; leave no error for the next check
      return 0;
    }
    return attr.ptxVersion;
  }();
  return v;
}

}  // namespace lrkv::cuda
