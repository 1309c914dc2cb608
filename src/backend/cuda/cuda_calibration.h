// GPU calibration: the statistics of run_calibration (compress/calibration.h) from a CudaEngine's
// forward pass, accumulated on the device in fp64 (activation rows converted to fp64, Σ y yᵀ by
// cublasDsyrk, Σ y by cublasDgemv, the RoPE-frequency moments by a kernel) and downloaded once at
// the end. Same windows as the CPU version: non-overlapping windows of `ctx` tokens, `batch` per
// forward. The statistics differ from the CPU Engine's only by the GPU forward's roundings (bf16
// GEMM operands). Device memory: 8·(d² + 3·kv²)·n_layer bytes of statistics plus a [T, d] fp64
// scratch (T = ctx·batch). The engine must hold an uncompressed model; it is left with an empty
// cache of `batch` sequences.
#pragma once

#include <vector>

#include "backend/cuda/cuda_engine.h"
#include "compress/calibration.h"

namespace lrkv::cuda {

Result<CalibrationStats> run_calibration_cuda(CudaEngine& engine, const std::vector<int>& tokens,
                                              const CalibrationOptions& options);

}  // namespace lrkv::cuda
