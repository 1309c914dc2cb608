// Programmatic dependent launch (sm_90+). A kernel launched with launch_pdl may start while the
// kernel before it in the stream is still running, as soon as every CTA of that kernel has called
// pdl_trigger() (or exited); it must call pdl_wait() — which returns once the previous kernel has
// finished and its writes are visible — before it reads anything an earlier kernel wrote or writes
// anything at all. What it may do before: read constant data (weights: skinny_matmul issues its
// first weight loads there). Decode runs ~14 kernels per layer, most of them a few microseconds
// long, so the launch gaps and the ramp of each kernel are a large part of a step; with PDL they
// overlap the previous kernel's tail. On older GPUs, GPUs that run the compute_80 PTX, or with
// LRKV_PDL=0 (benchmarks compare both), kernels launch normally and pdl_wait()/pdl_trigger() do
// nothing.
#pragma once

#include <cuda_runtime.h>

#include <utility>

#include "kernels/cuda/device_props.h"
#include "kernels/cuda/env_switch.h"

namespace lrkv::cuda {
namespace dev {

__device__ __forceinline__ void pdl_wait() {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
  cudaGridDependencySynchronize();
#endif
}

__device__ __forceinline__ void pdl_trigger() {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
  cudaTriggerProgrammaticLaunchCompletion();
#endif
}

}  // namespace dev

// The sm_90 code loaded (sm90_code(): pdl_wait() is a no-op in the compute_80 PTX, so launching
// early there would race) and LRKV_PDL not set to 0 (read once).
inline bool pdl_enabled() {
  static const bool on = env_switch("LRKV_PDL", true) && sm90_code();
  return on;
}

// kernel<<<grid, block, smem, stream>>>(args...) with programmatic stream serialization allowed.
template <class... Params, class... Args>
cudaError_t launch_pdl(void (*kernel)(Params...), dim3 grid, dim3 block, size_t smem, cudaStream_t stream,
                       Args&&... args) {
  cudaLaunchConfig_t cfg = {};
  cfg.gridDim = grid;
  cfg.blockDim = block;
  cfg.dynamicSmemBytes = smem;
  cfg.stream = stream;
  cudaLaunchAttribute attr[1];
  attr[0].id = cudaLaunchAttributeProgrammaticStreamSerialization;
  attr[0].val.programmaticStreamSerializationAllowed = 1;
  cfg.attrs = attr;
  cfg.numAttrs = pdl_enabled() ? 1 : 0;
  return cudaLaunchKernelEx(&cfg, kernel, std::forward<Args>(args)...);
}

}  // namespace lrkv::cuda
