// Properties of the current CUDA device, queried once per process. No lrkv Status here, so the
// .cu files (nvcc cannot compile fmt) may include it too.
#pragma once

namespace lrkv::cuda {

// Number of multiprocessors of the current device (1 on error).
int multiprocessor_count();
// Compute capability of the current device as 10 * major + minor (0 on error).
int compute_capability();

}  // namespace lrkv::cuda
