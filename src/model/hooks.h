// Named activation hooks: the forward pass reports intermediate tensors so calibration and
// debugging can tap them without touching the engine. A hook sees rows of the whole batch.
#pragma once

#include <cstdint>
#include <functional>

namespace lrkv {

enum class HookPoint {
  kAttnInput,     // residual stream entering the layer            [T, d_model]
  kKvInput,       // attention RMSNorm output = input of W_q/W_k/W_v  [T, d_model]
  kQPreRope,      // queries before RoPE                              [T, n_head*head_dim]
  kKPreRope,      // keys before RoPE                                 [T, n_kv_head*head_dim]
  kQPostRope,     // queries after RoPE                               [T, n_head*head_dim]
  kKPostRope,     // keys after RoPE                                  [T, n_kv_head*head_dim]
  kV,             // values                                           [T, n_kv_head*head_dim]
  kAttnOutput,    // attention output before W_o                      [T, n_head*head_dim]
  kFfnInput,      // FFN RMSNorm output                               [T, d_model]
  kFinalHidden,   // final RMSNorm output (input of the LM head)      [T, d_model]
  kCount
};
const char* hook_point_name(HookPoint p);

struct HookEvent {
  int layer;            // -1 for kFinalHidden
  HookPoint point;
  const float* data;    // [rows, cols], row stride ld
  int64_t rows, cols, ld;
  const int* positions; // [rows] absolute positions
  const int* seq_ids;   // [rows] sequence of each row
};
using HookFn = std::function<void(const HookEvent&)>;

}  // namespace lrkv
