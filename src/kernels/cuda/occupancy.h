// Resident CTAs per multiprocessor of a kernel (cudaOccupancyMaxActiveBlocksPerMultiprocessor),
// for the split planners: at least 1, and 1 when the query fails (the plan then assumes one CTA
// per SM instead of failing the launch). Host only; set the kernel's dynamic shared-memory limit
// first when smem is over 48 KB.
#pragma once

#include <cuda_runtime.h>

#include <cstddef>

namespace lrkv::cuda {

template <class... Params>
int resident_ctas(void (*kernel)(Params...), int threads, size_t smem) {
  int blocks = 1;
  if (cudaOccupancyMaxActiveBlocksPerMultiprocessor(&blocks, kernel, threads, smem) != cudaSuccess) return 1;
  return blocks > 0 ? blocks : 1;
}

}  // namespace lrkv::cuda
