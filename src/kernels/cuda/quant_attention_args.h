// Kernel-side description of a quantized latent attention launch (quant_latent_attention.h): the
// split-K arguments of the f16 kernels with byte addressing (a.k/a.v row bases, a.ldk/a.ldv
// row strides, a.k_seq/a.v_seq sequence strides and cluster k_off/v_off all in BYTES; k_len/v_len
// in values) plus, per side, the codec and how tiles of packed rows reach shared memory.
#pragma once

#include <cuda_runtime.h>

#include <cstddef>
#include <cstdint>

#include "kernels/cuda/quant_encode_args.h"
#include "kernels/cuda/split_attention_args.h"

namespace lrkv::cuda {

// How a 64-row tile of one segment's packed rows is copied into shared memory.
enum QuantLoadMode : int {
  kQLoadBlock16 = 0,  // the segment's rows are consecutive (row stride = segment bytes) and the
                      // tile starts 16-byte aligned: one contiguous block, 16-byte cp.async
  kQLoadRows16 = 1,   // per row, 16/8/4-byte cp.async pieces (every row start aligned to that)
  kQLoadRows8 = 2,
  kQLoadRows4 = 3,
  kQLoadBytes = 4,    // byte loads (any alignment)
};

struct QuantSide {
  int bits = 4;
  int group = 0;  // values per scale; 0 = whole segment
  int sym = 0;    // 1: symmetric (scales only)
  int mode = kQLoadBytes;
  int raw_ld = 0;       // shared-memory bytes between tile rows
  int stage_bytes = 0;  // shared-memory bytes of one tile (multiple of 16, 16 bytes of slack)
};

// Pipeline depths of the register-fragment kernel (quant_frag_attention.cu): 2..kFragMaxStages.
inline constexpr int kFragMaxStages = 4;

struct QuantAttentionArgs {
  SplitAttentionArgs a;
  QuantSide k, v;
};
static_assert(sizeof(QuantAttentionArgs) <= 4000, "kernel parameter limit");

// Decoder launch (quant_decode.cu): rows [0, rows) of n_seq sequences, distinct segments s
// of packed rows at  src + b * seq_bytes + j * row_bytes + seg_byte[s]  (paged:
// src + maps.seq(b)(j) * row_bytes + seg_byte[s]) decoded to f16 at
//   dst + (b * rows + j) * ld_dst + dst_col[s]   (x = s*u + m or s*(u - q), f32 then rounded once).
inline constexpr int kDecodeMaxSegments = 64;
struct DecodeArgs {
  const uint8_t* src = nullptr;
  int64_t row_bytes = 0, seq_bytes = 0;
  SeqRowMaps maps;
  int bits = 4, group = 0, sym = 0, n_seg = 0;
  void* dst = nullptr;  // __half
  int64_t ld_dst = 0;
  int rows = 0;
  int64_t seg_byte[kDecodeMaxSegments] = {};
  int seg_len[kDecodeMaxSegments] = {};
  int dst_col[kDecodeMaxSegments] = {};
};
static_assert(sizeof(DecodeArgs) <= 4000, "kernel parameter limit");
cudaError_t launch_quant_decode(const DecodeArgs& d, int n_seq, cudaStream_t stream);

// Dynamic shared memory of the kernel for padded width R (64/128/256) and `stages` tiles.
size_t quant_attention_smem_bytes(int R, int stages, const QuantSide& k, const QuantSide& v);
// Largest dynamic shared memory a block may opt into on the current device.
size_t quant_attention_smem_limit();
cudaError_t launch_quant_latent_attention(const QuantAttentionArgs& qa, int n_seq, int R, size_t smem,
                                          cudaStream_t stream);
int quant_latent_attention_ctas_per_sm(int R, size_t smem);

// Register-fragment variant (quant_frag_kernel): K and V of one format, 2/4/8 bits, group 0 or
// a multiple of 16, R = 64 or 128, 2..4 stages whose tiles carry >= 32 bytes of slack. `any`:
// rows at byte offsets not aligned to min(2 * bits, 8) in shared memory.
size_t quant_frag_smem_bytes(int R, int stages, const QuantSide& k, const QuantSide& v);
// Shared-memory row stride (bytes, >= seg, a multiple of 8) at which the fragment kernel reads
// seg-byte rows of 4-bit codes without bank conflicts (QuantLatentAttentionBatch::pad_frag_rows).
// Keys: a half-warp's 8-byte loads cover 32 bytes of each of 4 consecutive rows, conflict-free
// when the stride is 8 or 24 words modulo 32 (40-byte rows: 96). Values: a warp's 4-byte loads
// cover 32 bytes of rows 0, 2, 4, 6 (or 1, 3, 5, 7), conflict-free when the stride is 4 or 12
// words modulo 16 (40-byte rows: 48). Packed 40-byte rows have 2-way conflicts on both sides.
int quant_frag_pad_stride(int seg, bool keys);
cudaError_t launch_quant_frag_attention(const QuantAttentionArgs& qa, int n_seq, int R, bool any, size_t smem,
                                        cudaStream_t stream);
int quant_frag_ctas_per_sm(int R, int bits, bool any, size_t smem);

}  // namespace lrkv::cuda
