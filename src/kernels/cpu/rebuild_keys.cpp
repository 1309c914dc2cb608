#include "kernels/rebuild_keys.h"

#include <vector>

#include "core/thread_pool.h"
#include "kernels/elem.h"
#include "kernels/matmul.h"
#include "kernels/rope.h"

namespace lrkv::cpu {

void rebuild_keys(const RebuildKeysParams& p) {
  if (p.n_rows == 0) return;
  // Latents as f32 (one conversion pass when the cache holds f16/bf16).
  const float* c = static_cast<const float*>(p.c);
  std::vector<float> conv;
  int64_t ldc = p.ldc;
  if (p.c_type != DType::kF32 || p.rows.table != nullptr) {  // paged rows are gathered too
    conv.resize(p.n_rows * p.ldc);
    const int64_t row_bytes = dtype_bytes(p.c_type, p.ldc);
    global_pool().parallel_for(p.n_rows, 64, [&](int64_t r0, int64_t r1) {
      for (int64_t r = r0; r < r1; ++r) {
        load_row(static_cast<const uint8_t*>(p.c) + p.rows(r) * row_bytes, p.c_type, conv.data() + r * p.ldc, p.ldc);
      }
    });
    c = conv.data();
  }
  int64_t width = 0;
  for (int g = 0; g < p.n_groups; ++g) {
    // k[:, off_g : +rows_g] = c[:, lat_g : +r_g] · B_gᵀ   (B_g is [rows_g, r_g] = [out, in])
    MatmulParams m;
    m.x = c + p.group_lat_off[g];
    m.ldx = ldc;
    m.w = p.up[g];
    m.ldw = p.group_rank[g];
    m.w_type = DType::kF32;
    m.y = p.k + p.group_row_off[g];
    m.ldy = p.ldk;
    m.m = p.n_rows;
    m.n = p.group_rows[g];
    m.k = p.group_rank[g];
    matmul(m);
    width = std::max<int64_t>(width, p.group_row_off[g] + p.group_rows[g]);
  }
  if (p.bias) {
    for (int64_t j = 0; j < p.n_rows; ++j) {
      for (int64_t i = 0; i < width; ++i) p.k[j * p.ldk + i] += p.bias[i];
    }
  }
  std::vector<int> pos(p.n_rows);
  for (int64_t j = 0; j < p.n_rows; ++j) pos[j] = p.pos0 + static_cast<int>(j);
  RopeParams rp;
  rp.x = p.k;
  rp.rows = p.n_rows;
  rp.ld = p.ldk;
  rp.n_heads = static_cast<int>(width / p.head_dim);
  rp.head_dim = p.head_dim;
  rp.positions = pos.data();
  rp.inv_freq = p.inv_freq;
  rp.layout = p.layout;
  rope(rp);
}

}  // namespace lrkv::cpu
