#include "kernels/cuda/skinny_matmul.h"

#include <cstdint>

#include "kernels/cuda/cuda_status.h"
#include "kernels/cuda/env_switch.h"

namespace lrkv::cuda {
namespace {

bool aligned16(const void* p) { return (reinterpret_cast<uintptr_t>(p) & 15) == 0; }

// Empty when the arguments fit, else what does not.
std::string misfit(const SkinnyMatmulArgs& a) {
  if (a.m < 1 || a.m > kSkinnyMaxRows) return fmt::format("m {} (1..{})", a.m, kSkinnyMaxRows);
  if (a.w_type != DType::kF32 && a.w_type != DType::kF16 && a.w_type != DType::kBF16) {
    return fmt::format("weights of type {} (f32, f16, bf16)", dtype_name(a.w_type));
  }
  if (!a.x || !a.w) return "null x or W";
  if (a.k < 8 || a.k % 8 != 0) return fmt::format("k {} (a positive multiple of 8)", a.k);
  const int64_t wb = dtype_bytes(a.w_type, 1);
  if (a.ldw < a.k || (a.ldw * wb) % 16 != 0 || !aligned16(a.w)) {
    return fmt::format("W rows not 16-byte aligned (ldw {})", a.ldw);
  }
  if (a.ldx < a.k || a.ldx % 4 != 0 || !aligned16(a.x)) return fmt::format("x rows not 16-byte aligned (ldx {})", a.ldx);
  if (a.n_out < 1 || a.n_out > kSkinnyMaxOutputs) return fmt::format("{} outputs (1..{})", a.n_out, kSkinnyMaxOutputs);
  if (a.split != 0 && a.split != 1 && a.split != 2 && a.split != 4) return fmt::format("split {} (0, 1, 2, 4)", a.split);
  if (a.rope.positions != nullptr) {
    const SkinnyRope& r = a.rope;
    const int hd = r.head_dim;
    if (a.swiglu_pairs || a.n_out != 3 || !r.inv_freq || hd < 2 || hd % 2 != 0 || a.out[0].n % hd != 0 ||
        a.out[1].n % hd != 0 || a.out[0].accumulate || a.out[1].accumulate || a.out[2].accumulate) {
      return fmt::format("RoPE epilogue: {} outputs of {}, {}, {} rows, head_dim {} (q, k, v; q and k whole heads "
                         "of an even head_dim; no accumulation, no SwiGLU pairs)",
                         a.n_out, a.out[0].n, a.out[1].n, a.out[2].n, hd);
    }
    if ((r.k_cache.dst && (!r.k_cache.seq || !r.k_cache.pos || r.k_cache.seg < 1)) ||
        (r.v_cache.dst && (!r.v_cache.seq || !r.v_cache.pos || r.v_cache.seg < 1))) {
      return "RoPE epilogue: a cache write without its sequences, positions or segment width";
    }
  }
  if (a.swiglu_pairs) {
    const SkinnyOutput& o = a.out[0];
    if (a.n_out != 1 || a.n_rows % 2 != 0 || o.accumulate) {
      return fmt::format("(gate, up) row pairs: {} outputs, {} rows of W{} (one output, an even row count, no "
                         "accumulation)",
                         a.n_out, a.n_rows, o.accumulate ? ", accumulating" : "");
    }
    if (!o.y || o.row0 != 0 || o.n != a.n_rows / 2 || o.ldy < o.n) {
      return fmt::format("(gate, up) row pairs: output of {} values (ldy {}) for {} rows of W (n_rows / 2)", o.n,
                         o.ldy, a.n_rows);
    }
    return {};
  }
  int64_t next = 0;
  for (int s = 0; s < a.n_out; ++s) {
    const SkinnyOutput& o = a.out[s];
    if (!o.y || o.n < 1 || o.ldy < o.n || o.row0 != next) {
      return fmt::format("output {}: rows [{}, +{}) with ldy {} (outputs must tile W's rows in order)", s, o.row0, o.n,
                         o.ldy);
    }
    next += o.n;
  }
  if (next != a.n_rows) return fmt::format("outputs cover {} of W's {} rows", next, a.n_rows);
  return {};
}

}  // namespace

bool skinny_matmul_fits(const SkinnyMatmulArgs& a) { return misfit(a).empty(); }

Status skinny_matmul(const SkinnyMatmulArgs& a, cudaStream_t stream) {
  if (std::string why = misfit(a); !why.empty()) {
    return make_error(ErrorCode::kInvalidArgument, "skinny_matmul: {}", why);
  }
  SkinnyMatmulArgs b = a;
  static const int forced = [] {  // LRKV_SKINNY_SPLIT=1|2|4: every launch with that split (A/B runs)
    const int v = env_int("LRKV_SKINNY_SPLIT");
    return v == 1 || v == 2 || v == 4 ? v : 0;
  }();
  if (b.split == 0) b.split = forced;
  return cuda_status(launch_skinny_matmul(b, multiprocessor_count(), stream), "skinny_matmul launch");
}

}  // namespace lrkv::cuda
