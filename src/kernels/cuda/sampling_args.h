// Parameters and launches of the GPU sampling kernels (sampling.h has the checked entry points;
// this header stays free of Status/fmt for nvcc).
#pragma once

#include <cuda_runtime.h>

#include <cstdint>

namespace lrkv::cuda {

constexpr int kTopKMax = 1024;  // candidates one CTA selects and sorts in shared memory

// logits [rows, ld], n columns used.
struct SampleRows {
  const float* logits = nullptr;
  int64_t ld = 0;
  int rows = 0;
  int n = 0;
};

// bad (nullable, [rows]): the first column of the row holding a nan or inf, -1 when all are finite.
cudaError_t launch_argmax_rows(const SampleRows& p, int* ids, int* bad, cudaStream_t stream);
cudaError_t launch_top_k_rows(const SampleRows& p, int k, float* values, int* ids, int* bad, cudaStream_t stream);

}  // namespace lrkv::cuda
