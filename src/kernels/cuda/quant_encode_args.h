// Kernel-side arguments of the quantized-row encoder (quant_encode.cu; QuantEncodeParams in
// quant_latent_attention.h), also taken by the fused absorption of segment_project.
#pragma once

#include <cuda_runtime.h>

#include <cstdint>

#include "kernels/row_map.h"

namespace lrkv::cuda {

// Encoder launch (one warp per (row, segment)); see QuantEncodeParams.
inline constexpr int kEncodeMaxSegments = 64;
inline constexpr int kEncodeMaxLen = 1024;
struct EncodeArgs {
  const float* src = nullptr;
  int64_t ld_src = 0;
  int bits = 4, group = 0, sym = 0, n_seg = 0;
  uint8_t* dst = nullptr;
  int64_t row_bytes = 0, seq_bytes = 0;
  SeqRowMaps maps;  // paged: row (seq, pos) at maps.seq(seq)(pos) (seq_bytes unused)
  const int* seq = nullptr;
  const int* pos = nullptr;
  int seg_col[kEncodeMaxSegments] = {};
  int seg_len[kEncodeMaxSegments] = {};
  int64_t seg_dst[kEncodeMaxSegments] = {};
};
// n (1 or 2) encodings of the same rows in one launch (a key and a value side).
cudaError_t launch_quant_encode(const EncodeArgs* e, int n, int64_t rows, cudaStream_t stream);

}  // namespace lrkv::cuda
