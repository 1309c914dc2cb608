// The training graph's GEMMs (model/train/train_ops.h) on cuBLAS: host operands are copied to
// device buffers that grow as needed, multiplied in fp32 (no TF32: results match OpenBLAS to fp32
// rounding) and C is copied back. Elementwise work stays on the CPU; what moves to the GPU is the
// O(m·n·k) part — the LM head and the projections — of `lrkv tune` / recovery tuning.
#pragma once

#include "core/status.h"

namespace lrkv::cuda {

// Installs the cuBLAS backend for products of at least `min_flops` (smaller ones stay on the CPU,
// where a transfer would cost more than the product). Errors name the device problem.
Status enable_training_gemm(double min_flops = 4e7);
void disable_training_gemm();
// GEMMs run on the GPU since enable_training_gemm, and their total FLOPs (for progress/logs).
int64_t training_gemm_calls();
double training_gemm_flops();

}  // namespace lrkv::cuda
