// Device utilities for tests and benchmarks: deterministic pseudo-random fills and a read-only
// bandwidth probe (every byte read once with 16-byte loads, a checksum written).
#pragma once

#include <cuda_runtime.h>

#include <cstdint>

namespace lrkv::cuda {

enum class FillType { kF32, kF16, kBF16 };

// dst[i] = scale * u(seed, i), u uniform in [-1, 1) from a counter hash.
cudaError_t fill_uniform(void* dst, FillType t, int64_t n, uint64_t seed, float scale, cudaStream_t stream);

// Reads `bytes` (multiple of 16, 16-byte aligned) and adds a checksum to *sink.
cudaError_t read_probe(const void* src, int64_t bytes, float* sink, cudaStream_t stream);

}  // namespace lrkv::cuda
