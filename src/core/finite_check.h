// Non-finite (NaN / ±Inf) detection in tensor data. One vectorised pass (AVX2 where the CPU
// allows, 32 elements per step) over f32/f16/bf16 data, split over the global thread pool;
// memory-bandwidth bound (about 13 GB/s per core on f16). Block-quantized data is checked after
// dequantisation by whoever dequantises it (the loaders check the converted tensors).
#pragma once

#include <cstdint>
#include <string>

#include "core/status.h"
#include "core/tensor.h"

namespace lrkv {

// Flat index of the first NaN/Inf among `n` elements of `dtype` at `data`, or -1 when all are
// finite. dtype must be kF32, kF16 or kBF16 (other dtypes: -1). Thread-safe; uses global_pool().
int64_t first_non_finite(DType dtype, const void* data, int64_t n);

// kCorruptFile "<source>: tensor '<name>' (f16 [4096, 4096]) has a non-finite value (nan) at
// index 123 = [0, 123]; ..." when `t` holds a NaN/Inf; Ok for empty or quantized tensors.
Status check_finite(const Tensor& t, const std::string& source);

// The multi-index "[r, c]" of flat index `i` in `shape` (row-major).
std::string flat_index_to_string(const std::vector<int64_t>& shape, int64_t i);

}  // namespace lrkv
