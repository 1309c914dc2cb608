// CUDA latent attention (semantics of LatentAttentionParams, kernels/latent_attention.h) for a
// batch of sequences: split-K flash-decoding for n_q = 1 and the same tiled online-softmax
// kernel for prefill chunks. Latents are f16 or bf16; scores and sums accumulate in f32 on the
// tensor cores (the query and the probabilities are rounded to the latent type).
//
// Pointers: qk, q_pos, k, v, z and the workspace are DEVICE pointers; the per-head shape arrays
// (qk_off, k_off, k_len, v_off, v_len, z_off) are HOST pointers read while planning the launch.
// Limits (kUnsupported otherwise): n_head <= 64, segment lengths <= 256, at most 64 distinct
// (k segment, v segment) runs of heads. Asynchronous on `stream`; not thread-safe per stream.
// The split-K kernel reads q_pos and the block tables before it waits for the kernel launched
// before it (programmatic dependent launch): they must come from earlier work (the engine uploads
// them before a step), not from that kernel; the queries, rows and workspace are read after.
#pragma once

#include <cuda_runtime.h>

#include <cstddef>
#include <cstdint>

#include "core/status.h"
#include "kernels/latent_attention.h"

namespace lrkv::cuda {

// Which kernel runs: kAuto picks the 64-row prefill kernel (prefill_attention.cu) for chunks of
// at least 64 (query, head) rows per head cluster that give every multiprocessor a CTA, else the
// split-K kernel (latent_attention.cu); tests and benchmarks force either.
enum class AttentionKernel { kAuto, kSplitK, kPrefill };

// How the split-K kernel copies cached rows into shared memory: cp.async into padded tile rows
// (16-byte pieces per thread; scalar loads when unaligned), cp.async into unpadded swizzled rows
// (kSwizzled, tile_swizzle.cuh: 4 KB less shared memory per R = 128 CTA, three resident CTAs
// instead of two; 16-byte aligned rows) or cp.async.bulk (kBulk: one TMA copy per row segment,
// compute capability >= 9.0 running the sm_90 code, 16-byte aligned segments of multiples of 8
// values). kAuto takes swizzled tiles for R <= 128 from 64K cached rows, else bulk copies for
// R >= 128 where they apply, else padded cp.async (H200 measurements: see auto_row_load in
// latent_attention.cpp and bench/CUDA_NOTES.md parts 14-15); LRKV_ATTN_SWIZZLE=0|1 and
// LRKV_ATTN_BULK=0|1 force either wherever it applies (A/B runs). kBulk or kSwizzled on a shape
// or device that cannot take it is kUnsupported. It applies to the split-K kernel only: prefill
// chunks that take the prefill kernel (AttentionKernel::kAuto) copy with cp.async whatever
// `copy` says.
enum class RowCopy { kAuto, kCpAsync, kBulk, kSwizzled };

// n_seq problems of one shape: sequence b reads p.qk + b * qk_seq, p.q_pos + b * p.n_q,
// p.k + b * k_seq, p.v + b * v_seq and writes p.z + b * z_seq (strides in elements). Paged
// caches (maps.paged()): cached row j of sequence b is row maps.seq(b)(j) of p.k / p.v (device
// block tables; k_seq, v_seq unused).
struct LatentAttentionBatch {
  LatentAttentionParams p;
  int n_seq = 1;
  int64_t qk_seq = 0, k_seq = 0, v_seq = 0, z_seq = 0;
  SeqRowMaps maps;
  int max_kv = 0;                // host: >= max(q_pos) + 1 over the batch (plans the splits)
  void* workspace = nullptr;     // device scratch for split-K partials
  size_t workspace_bytes = 0;
  AttentionKernel kernel = AttentionKernel::kAuto;
  // Split-K kernel: cached tiles in flight + 1, 2 .. 6 (R = 256: 2 .. 3; deeper pipelines keep
  // more bytes in flight with fewer resident CTAs; see pipeline_stages in latent_attention.cpp);
  // 0: chosen from the shape unless LRKV_ATTN_STAGES forces one.
  int stages = 0;
  RowCopy copy = RowCopy::kAuto;
  // The queries are each sequence's new rows, in order: q_pos[b * p.n_q] is the first row of
  // sequence b this step writes, and every row below it was written before the step's kernels (a
  // decode or prompt step of an engine). The split-K kernel then issues the copies of its first
  // tiles, when they hold only such rows, before waiting for the kernel that precedes it under
  // programmatic dependent launch (the one that writes the queries and the new rows), so those
  // bytes stream during that kernel's tail. false: every read waits for it.
  bool early_rows = false;
};

// Scratch the launch needs (0 when it runs unsplit). Errors as latent_attention().
Result<size_t> latent_attention_workspace_bytes(const LatentAttentionBatch& b);
// Whether the launch runs the prefill kernel (kAuto's choice, or forced). Errors as latent_attention().
Result<bool> latent_attention_takes_prefill(const LatentAttentionBatch& b);
// Validates the shapes (can_implement), plans clusters and splits, launches.
Status latent_attention(const LatentAttentionBatch& b, cudaStream_t stream);

}  // namespace lrkv::cuda
