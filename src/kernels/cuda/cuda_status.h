// CUDA runtime errors as lrkv Status values.
#pragma once

#include <cuda_runtime.h>

#include "core/status.h"

namespace lrkv::cuda {

// Ok for cudaSuccess, else kInternal "what: cudaErrorName: description".
Status cuda_status(cudaError_t e, const char* what);

// Number of multiprocessors of the current device (cached per process; 1 on error).
int multiprocessor_count();
// Compute capability of the current device as 10 * major + minor (cached per process; 0 on error).
int compute_capability();

}  // namespace lrkv::cuda

#define LRKV_CUDA_RETURN_IF_ERROR(expr, what) LRKV_RETURN_IF_ERROR(::lrkv::cuda::cuda_status((expr), (what)))
