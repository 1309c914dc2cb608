// Rates of this machine measured in the same run as a benchmark, so results can be stated as a
// fraction of what the hardware can do: memory read bandwidth and BLAS sgemm throughput.
#pragma once

#include <cstdint>

namespace lrkv::bench {

// Read bandwidth in bytes/s: threaded sum over a buffer of `bytes` (larger than the caches),
// best of `reps` passes.
double measure_read_bandwidth(int64_t bytes = int64_t{1} << 30, int reps = 5);
// OpenBLAS sgemm FLOP/s for C[m,n] = A[m,k]·B[n,k]ᵀ (the engine's projection shape), best of reps.
double measure_sgemm_flops(int64_t m, int64_t n, int64_t k, int reps = 3);

}  // namespace lrkv::bench
