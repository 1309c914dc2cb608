// RowMap: where row j (a sequence position) of a cache lives in the cache's storage of rows, so
// that attention can read a paged cache (cache/block_pool.h) through its block table.
//   contiguous (table == nullptr):  physical row = j
//   paged: blocks of B = 2^shift rows;  physical row = table[j / B] * B + j % B
// A kernel reads row j at base + map(j) * row_bytes; the keys and values of a layer share a map.
// SeqRowMaps: the maps of a batch of sequences, as the GPU kernels take them (device tables):
//   sequence b: table + b * ld (paged; rows relative to storage row 0), or contiguous rows
//   (table == nullptr; the caller offsets each sequence by its own stride).
// Host and device code (the CUDA kernels include it).
#pragma once

#include <cstdint>

#if defined(__CUDACC__)
#define LRKV_ROW_MAP_FN __host__ __device__ __forceinline__
#else
#define LRKV_ROW_MAP_FN inline
#endif

namespace lrkv {

struct RowMap {
  const int32_t* table = nullptr;  // [ceil(n_rows / B)] block ids of the sequence, or null
  int shift = 0;                   // log2(B)
  LRKV_ROW_MAP_FN int64_t operator()(int64_t j) const {
    if (table == nullptr) return j;
    return (int64_t{table[j >> shift]} << shift) | (j & ((int64_t{1} << shift) - 1));
  }
};

struct SeqRowMaps {
  const int32_t* table = nullptr;  // [n_seq, ld] block ids (device), or null: contiguous
  int64_t ld = 0;                  // table entries per sequence
  int shift = 0;                   // log2(B)
  LRKV_ROW_MAP_FN bool paged() const { return table != nullptr; }
  LRKV_ROW_MAP_FN RowMap seq(int64_t b) const { return RowMap{table ? table + b * ld : nullptr, shift}; }
  // The maps of sequences b0, b0 + 1, ... (a batch that starts at sequence b0).
  LRKV_ROW_MAP_FN SeqRowMaps from(int64_t b0) const { return SeqRowMaps{table ? table + b0 * ld : nullptr, ld, shift}; }
};

}  // namespace lrkv
