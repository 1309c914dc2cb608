// GGML block quantisation formats: dequantisation (all) and quantisation (q8_0, q4_0) of rows.
#pragma once

#include <cstdint>

#include "core/dtype.h"
#include "core/status.h"

namespace lrkv {
// See core/tensor.h: Status dequantize_to_f32(DType, const void*, float*, int64_t).
}  // namespace lrkv
