// CUDA latent attention over QUANTIZED cached rows (the byte layout of kernels/quant_row.h:
// per segment fp16 scale[n_groups] | fp16 min[n_groups] (affine) | b-bit codes packed LSB first),
// and the encoder that writes such rows on the device, bit-identical to lrkv::encode_segment.
//
// Semantics: lrkv::ref::quant_attention (kernels/quant_attention.h) with quantized K and V rows,
// for a batch of sequences, split-K decode and prefill chunks as cuda::latent_attention. The
// kernel streams the packed bytes of 64-row tiles into shared memory (cp.async), each warp
// dequantises its 16 rows into f16 tiles (half2 arithmetic: x = s*u + m, or s*(u - q)), and the
// f16 tensor-core score/softmax/PV pipeline of latent_attention runs on them. The query is f32
// (kept as f16 hi + lo halves), accumulation f32.
//
// Layout of one side (keys or values): row j of sequence b, segment read by head h, starts at
//   rows + b * seq_bytes + j * row_bytes + seg_byte[h]
// Token rows as written by the CPU codec: row_bytes = codec.row_bytes, seg_byte[h] =
// codec.segments[seg[h]].byte. Segment-major (each segment's rows contiguous, the fast path):
// row_bytes = segment bytes, seg_byte[h] = segment * capacity * segment bytes.
// Prefill chunks (kAuto: when cuda::latent_attention would take its prefill kernel on f16 rows of
// the same shape) decode the cached prefix once into f16 token rows in the workspace (values of
// cpu::decode_segment rounded to f16) and run the f16 prefill kernel on them.
// Pointers: qk, q_pos, rows, z, workspace are DEVICE pointers; per-head arrays are HOST pointers.
// As cuda::latent_attention, the register-fragment kernel reads q_pos and the block tables before
// its programmatic-dependent-launch wait: they must not come from the kernel launched just before.
// Limits (kUnsupported otherwise): affine 1..8 or symmetric 2..8 bits (q8_0/q4_0 not here),
// segments <= 256 values, n_head <= 64, <= 64 distinct segment runs, byte offsets < 2^31,
// shared-memory tiles of the widest segment <= 227 KB. Asynchronous on `stream`.
#pragma once

#include <cuda_runtime.h>

#include <cstddef>
#include <cstdint>
#include <vector>

#include "core/status.h"
#include "kernels/cuda/latent_attention.h"
#include "kernels/cuda/quant_encode_args.h"
#include "kernels/quant_row.h"

namespace lrkv::cuda {

struct QuantRows {
  const void* rows = nullptr;  // device
  int64_t row_bytes = 0;       // bytes between consecutive rows of a segment
  int64_t seq_bytes = 0;       // bytes between sequences
  QuantFormat format;
  const int64_t* seg_byte = nullptr;  // host [n_head]
  const int* seg_len = nullptr;       // host [n_head] values
};

struct QuantLatentAttentionBatch {
  int64_t n_q = 1;
  const int* q_pos = nullptr;  // [n_seq * n_q]
  int n_head = 0;
  const float* qk = nullptr;  // sequence b, query t: qk + b * qk_seq + t * ldqk + qk_off[h]
  int64_t ldqk = 0, qk_seq = 0;
  const int* qk_off = nullptr;
  QuantRows k, v;
  // Paged caches: rows of sequence b at k.rows + maps.seq(b)(j) * row_bytes (k/v.seq_bytes unused).
  SeqRowMaps maps;
  float* z = nullptr;  // z + b * z_seq + t * ldz + z_off[h], seg_len of v values
  int64_t ldz = 0, z_seq = 0;
  const int* z_off = nullptr;
  float scale = 1.0f;
  int n_seq = 1;
  int max_kv = 0;  // host: >= max(q_pos) + 1
  void* workspace = nullptr;
  size_t workspace_bytes = 0;
  // kPrefill: decode to f16 rows + the prefill kernel; kSplitK: the fused quantized kernels.
  AttentionKernel kernel = AttentionKernel::kAuto;
  // Register-fragment kernel: pipeline stages 2..4; 0: the default (3) unless
  // LRKV_QUANT_FRAG_STAGES forces one. The other quantized kernels ignore it.
  int stages = 0;
  // Register-fragment kernel, 4-bit codes: rows copied one by one into shared-memory strides free
  // of bank conflicts (keys 96 bytes, values 48 for 40-byte rows) instead of packed; also
  // LRKV_QUANT_FRAG_PAD=1. An A/B option until measured on a GPU.
  bool pad_frag_rows = false;
  // As LatentAttentionBatch::early_rows (the register-fragment kernel): the queries are each
  // sequence's new rows, in order, so tiles of older rows may be copied before the wait.
  bool early_rows = false;
};

Result<size_t> quant_latent_attention_workspace_bytes(const QuantLatentAttentionBatch& b);
Status quant_latent_attention(const QuantLatentAttentionBatch& b, cudaStream_t stream);

// Per-head segment offsets and lengths of token rows encoded with `codec` (head h reads
// segment seg[h]).
void codec_segments(const RowCodec& codec, const int* seg, int n_head, std::vector<int64_t>* seg_byte,
                    std::vector<int>* seg_len);

// Encoder: row r of src [rows, ld_src] f32 (device) goes to
//   dst + seq[r] * seq_bytes + pos[r] * row_bytes + seg_dst[s]   for every segment s,
// or, paged (maps.paged()), to dst + maps.seq(seq[r])(pos[r]) * row_bytes + seg_dst[s];
// encoding src columns [seg_col[s], + seg_len[s]) with `format` exactly as encode_segment does.
// seq/pos are device arrays (null seq: all rows in sequence 0; null pos: pos = r). Host arrays
// of at most 64 segments of <= 1024 values. Affine/symmetric formats; inputs must be finite.
struct QuantEncodeParams {
  const float* src = nullptr;
  int64_t ld_src = 0, rows = 0;
  QuantFormat format;
  int n_segments = 0;
  const int* seg_col = nullptr;
  const int* seg_len = nullptr;
  const int64_t* seg_dst = nullptr;
  void* dst = nullptr;
  int64_t row_bytes = 0, seq_bytes = 0;
  SeqRowMaps maps;
  const int* seq = nullptr;
  const int* pos = nullptr;
};
Status quant_encode_rows(const QuantEncodeParams& p, cudaStream_t stream);
// Two encodings of the same rows (a key and a value side) in one launch.
Status quant_encode_rows(const QuantEncodeParams& a, const QuantEncodeParams& b, cudaStream_t stream);
// The kernel-side form of `p` (checked as above), for kernels that encode rows themselves
// (segment_project's fused absorption).
Status quant_encode_args(const QuantEncodeParams& p, EncodeArgs* e);

}  // namespace lrkv::cuda
