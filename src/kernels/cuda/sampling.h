// Token selection on the GPU, so a decode step downloads token ids or k candidates instead of
// [rows, n_vocab] logits:
//  - argmax_rows: ids[r] = argmax_i logits[r, i] (the smallest index among equal maxima, as
//    std::max_element); greedy decoding.
//  - top_k_rows: the k largest logits of each row, sorted descending (equal values by index),
//    values[r, :k] and ids[r, :k]; k <= 1024. The k-th largest is found exactly by a 32-step
//    bisection on order-preserving integer keys of the floats (count of keys >= t per step), then
//    the candidates are gathered in index order (block prefix sums) and bitonic-sorted in shared
//    memory. Temperature / top-p / the random draw over k candidates stay on the host
//    (Sampler::sample_candidates), so a GPU step samples exactly as the CPU Sampler.
// Both scan every logit once and, where `bad` is given ([rows] ints), store in it the first column
// of each row that holds a nan or an inf (-1: the row is finite), so a caller can refuse a
// selection made from non-finite logits as the host path does.
// One CTA of 1024 threads per row; outputs are device pointers; asynchronous on `stream`.
#pragma once

#include "core/status.h"
#include "kernels/cuda/sampling_args.h"

namespace lrkv::cuda {

Status argmax_rows(const SampleRows& p, int* ids, int* bad, cudaStream_t stream);
Status top_k_rows(const SampleRows& p, int k, float* values, int* ids, int* bad, cudaStream_t stream);

}  // namespace lrkv::cuda
