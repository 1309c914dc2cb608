// Many small projections in one launch (decode-sized batches): for every segment s and row t,
//   y[t, y_off[s] + j] = Σ_{i < in_len[s]} x[t, x_off[s] + i] · W_s[j, i],   j < out_len[s],
// W_s row-major with leading dimension ldw[s] (f32, f16 or bf16, one type for all segments), f32
// accumulation. Used for the per-head query absorption q̃_h = P_gᵀ q_h and the per-group key
// latents c_g = P_gᵀ (k - μ)_g, which as separate GEMMs cost one cuBLAS launch per head; both in
// one launch with the second pair (x2, y2: SegmentProjectParams::pair). In decode steps the same
// launch can also rotate its inputs (RoPE, minus the key mean) and write the key and value
// latents into an f16/bf16 cache (SegmentProjectParams::rope, y_cache, v_cache).
#pragma once

#include <cuda_runtime.h>

#include <cstdint>

#include "core/status.h"
#include "kernels/cuda/segment_project_args.h"

namespace lrkv::cuda {

// Errors name the bad field (segment count, lengths up to 4096 inputs, null pointers, type).
Status segment_project(const SegmentProjectParams& p, cudaStream_t stream);

}  // namespace lrkv::cuda
