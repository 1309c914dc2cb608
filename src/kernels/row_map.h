// RowMap: where row j (a sequence position) of a cache lives in the cache's storage of rows, so
// that attention can read a paged cache (cache/block_pool.h) through its block table.
//   contiguous (table == nullptr):  physical row = j
//   paged: blocks of B = 2^shift rows;  physical row = table[j / B] * B + j % B
// A kernel reads row j at base + map(j) * row_bytes; the keys and values of a layer share a map.
#pragma once

#include <cstdint>

namespace lrkv {

struct RowMap {
  const int32_t* table = nullptr;  // [ceil(n_rows / B)] block ids of the sequence, or null
  int shift = 0;                   // log2(B)
  int64_t operator()(int64_t j) const {
    if (table == nullptr) return j;
    return (int64_t{table[j >> shift]} << shift) | (j & ((int64_t{1} << shift) - 1));
  }
};

}  // namespace lrkv
