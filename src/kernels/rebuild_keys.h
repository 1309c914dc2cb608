// Rebuilds full post-RoPE keys from cached key latents (Palu/LoRC "rebuild" attention):
//   for row j (position pos0 + j) and group g with up-projection B_g [rows_g, r_g]:
//     k[j, off_g : off_g + rows_g] = RoPE_{pos0+j}( B_g · c[j, lat_g : lat_g + r_g] + bias[off_g:] )
// RoPE acts per head of head_dim inside each group block (layout and frequencies as in rope.h).
#pragma once

#include <cstdint>

#include "core/dtype.h"
#include "kernels/row_map.h"
#include "kernels/rope_layout.h"

namespace lrkv {

struct RebuildKeysParams {
  const void* c = nullptr;       // [n_rows, ldc] latent rows, dtype c_type (f32/f16/bf16)
  int64_t ldc = 0;
  DType c_type = DType::kF32;
  int64_t n_rows = 0;
  int pos0 = 0;                  // position of row 0
  int n_groups = 0;
  const int* group_rows = nullptr;     // [n_groups] s_g * head_dim
  const int* group_row_off = nullptr;  // [n_groups] first output column
  const int* group_lat_off = nullptr;  // [n_groups] first latent column
  const int* group_rank = nullptr;     // [n_groups] r_g
  const float* const* up = nullptr;    // [n_groups] B_g, row-major [group_rows, group_rank]
  const float* bias = nullptr;         // [ldk] pre-RoPE offset, or null
  int head_dim = 0;
  const float* inv_freq = nullptr;     // [head_dim/2]
  RopeLayout layout = RopeLayout::kInterleaved;
  float* k = nullptr;                  // [n_rows, ldk] output keys
  int64_t ldk = 0;
  RowMap rows;                   // row j of c is row rows(j) of the storage (paged caches)
};

namespace ref { void rebuild_keys(const RebuildKeysParams& p); }
namespace cpu { void rebuild_keys(const RebuildKeysParams& p); }

}  // namespace lrkv
