// Benchmarks and GPU tests only: gives every sequence of a CudaKvCache `length` tokens of random
// contents (finite values of no model), as if prefilled, so decode at a long context can be timed
// without a prefill. 16-bit values in [-1, 1) everywhere; in quantized rows the fp16 scales and
// minimums then lie in [-1, 1) and the codes are arbitrary bits, so every decoded value is finite.
#pragma once

#include <cstdint>

#include "backend/cuda/cuda_kv_cache.h"

namespace lrkv::cuda {

Status fill_cache_random(CudaKvCache& cache, int length, uint64_t seed);

}  // namespace lrkv::cuda
