// Shared-memory tiles of cached rows without padding: a tile row holds R 16-bit values (R / 8
// chunks of 16 bytes, R a multiple of 64), and chunk c of row r is stored at chunk c ^ (r & 7).
// ldmatrix reads 8 rows at one logical chunk per 8x8 matrix; after the swizzle those 8 addresses
// fall in 8 different 16-byte bank groups, which padded rows (R + 8 values) bought with 16 bytes
// per row. Without the padding a 2-stage R = 128 latent CTA takes 74 KB instead of 78 KB, and three
// CTAs fit one multiprocessor instead of two.
//   padded:   element (r, col) at r * (R + 8) + col
//   swizzled: element (r, col) at r * R + (((col / 8) ^ (r % 8)) * 8) + col % 8
#pragma once

namespace lrkv::cuda::dev {

// Offset (in values) of the 16-byte chunk `c` (values 8c .. 8c + 7) of tile row r.
// kSwz: the swizzled layout of width R; else padded rows of ld values.
template <bool kSwz, int R>
__device__ __forceinline__ int tile_chunk(int r, int c, int ld) {
  static_assert(!kSwz || R % 64 == 0, "the swizzle permutes chunks within groups of 8");
  if constexpr (kSwz) {
    return r * R + ((c ^ (r & 7)) << 3);
  } else {
    return r * ld + (c << 3);
  }
}

// One lane's ldmatrix addresses along a tile row: chunk 2i + b of row r for i = 0 .. R/16 - 1
// (b = 0 or 1, fixed per lane). Swizzled: with y = b ^ (r & 7) and i = 4m + k, that chunk sits at
// 8m + (2k ^ y) (the xor stays in the low 3 bits), so four per-lane offsets plus a constant 64m
// cover the row: 4 registers instead of one per 16-column block.
template <bool kSwz, int R>
struct TileRowChunks {
  int off[kSwz ? 4 : 1];
  __device__ __forceinline__ TileRowChunks(int r, int b, int ld) {
    if constexpr (kSwz) {
      const int y = b ^ (r & 7);
#pragma unroll
      for (int k = 0; k < 4; ++k) off[k] = r * R + (((2 * k) ^ y) << 3);
    } else {
      off[0] = r * ld + (b << 3);
    }
  }
  // Offset (values) of chunk 2i + b; i a compile-time constant after unrolling.
  __device__ __forceinline__ int at(int i) const {
    if constexpr (kSwz) return off[i & 3] + (i >> 2) * 64;
    return off[0] + i * 16;
  }
};

}  // namespace lrkv::cuda::dev
