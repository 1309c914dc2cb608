// Properties of the current CUDA device, queried once per process. No lrkv Status here, so the
// .cu files (nvcc cannot compile fmt) may include it too.
#pragma once

namespace lrkv::cuda {

// Number of multiprocessors of the current device (1 on error).
int multiprocessor_count();
// Compute capability of the current device as 10 * major + minor (0 on error).
int compute_capability();
// Virtual architecture (10 * major + minor) of the device code running on the current device: 90
// where the build's sm_90 code runs (H100, H200), 80 where the driver compiled the compute_80 PTX
// instead (GPUs outside the sm_9x family; cmake/cuda.cmake builds 90-real;80-virtual); 0 on error.
// sm_90 features in the kernels (programmatic dependent launch, TMA bulk copies) are compiled only
// into the sm_90 code, so the host enables them only where it runs.
int device_code_arch();
// The sm_90 code loaded (never code newer than the device, so compute capability >= 9.0 too):
// the kernels' sm_90 paths exist.
inline bool sm90_code() { return device_code_arch() >= 90; }

}  // namespace lrkv::cuda
