// A KernelTracer (core/kernel_trace.h) on CUPTI's activity API: every kernel the process
// runs between start() and stop(), with its device start/end timestamps, grid and block, kernels
// of CUDA graphs node by node, and copies / memsets as pseudo-kernels "[memcpy HtoD]", "[memset]" (the in-graph profile the decode step needs: nsys is not always
// there). libcupti is opened at run time (dlopen), so lrkv does not depend on it unless a
// profile is asked for:
//   $LRKV_CUPTI_LIB, else libcupti.so.<CUDA major> on the loader's path, else the toolkit's
//   lib64/ and extras/CUPTI/lib64/ as found at build time.
// One tracer may exist at a time (CUPTI's activity buffers are process-wide).
#pragma once

#include <memory>

#include "core/kernel_trace.h"

namespace lrkv::cuda {

// Errors: no CUPTI library (naming the paths tried), a second live tracer, CUPTI's own error.
Result<std::unique_ptr<KernelTracer>> make_cupti_tracer();

}  // namespace lrkv::cuda
