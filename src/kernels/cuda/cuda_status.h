// CUDA runtime errors as lrkv Status values.
#pragma once

#include <cuda_runtime.h>

#include "core/status.h"
#include "kernels/cuda/device_props.h"  // multiprocessor_count, compute_capability

namespace lrkv::cuda {

// Ok for cudaSuccess, else kInternal "what: cudaErrorName: description".
Status cuda_status(cudaError_t e, const char* what);

}  // namespace lrkv::cuda

#define LRKV_CUDA_RETURN_IF_ERROR(expr, what) LRKV_RETURN_IF_ERROR(::lrkv::cuda::cuda_status((expr), (what)))
