// Decode-sized projections: for m <= 8 activation rows,
//   y_s[t, j] (+)= Σ_i x[t, i] · W[row0_s + j, i],   j < n_s,   s < n_out,
// with W [n_rows, k] row-major in f32, f16 or bf16 and x, y in f32: f32 FMA accumulation, the
// activations are not rounded to 16 bits (each product enters the sum unrounded; the sum's
// roundings and order are what differ from the fp64 reference). One launch streams W once at memory speed (16-byte loads, several rows and
// loads in flight per warp) and writes up to three outputs, so q|k|v or gate|up of a layer are
// one kernel over the concatenated weights; with swiglu_pairs (W_gate and W_up interleaved row by
// row) it writes silu(g) · u of each pair instead, the FFN's SwiGLU. cuBLAS needs the activations converted (or split
// hi + lo) first and runs at a fraction of the bandwidth for m this small.
//
// Use when skinny_matmul_fits(): m in 1..8, k a multiple of 8, W and x rows 16-byte aligned.
#pragma once

#include <cuda_runtime.h>

#include "core/status.h"
#include "kernels/cuda/skinny_matmul_args.h"

namespace lrkv::cuda {

// True when the shapes and alignments allow the kernel (otherwise use the GEMM path).
bool skinny_matmul_fits(const SkinnyMatmulArgs& a);

// Errors name the field that does not fit (see skinny_matmul_fits) or a bad launch.
Status skinny_matmul(const SkinnyMatmulArgs& a, cudaStream_t stream);

}  // namespace lrkv::cuda
