#include "kernels/cuda/latent_attention.h"

#include <algorithm>
#include <cmath>
#include <numbers>
#include <vector>

#include "kernels/cuda/cuda_status.h"
#include "kernels/cuda/env_switch.h"
#include "kernels/cuda/split_plan.h"

namespace lrkv::cuda {
namespace {

struct Plan {
  SplitAttentionArgs args;
  int R = 0;
  bool f16 = false, vec = false, prefill = false;
  LatentRowLoad load = LatentRowLoad::kScalar;
};

bool aligned16(const void* p) { return reinterpret_cast<uintptr_t>(p) % 16 == 0; }

// Tiles in flight + 1 for `units` (sequence, cluster, row tile) CTA rows of padded width R.
// Three stages when a few units of R <= 64 latents are split over the whole GPU: each CTA then
// walks a long chain of small tiles and a deeper pipeline hides more DRAM latency (b = 1 decode of
// 50% latents: +6% end to end, bench/CUDA_NOTES.md part 10). Two stages elsewhere: R = 128 tiles
// and many units gain more from resident CTAs (dense -2%, 16 sequences -4.5% with three), and so
// do Llama-2's 32 per-head units at b = 1 (64K-128K: 0.90x with three; part 14), hence 8 units
// per multiprocessor at most (Llama-3 at b = 1: 8 units).
// LRKV_ATTN_STAGES=2..6 forces one (benchmarks compare them in one run; R = 256 caps it at 3).
int pipeline_stages(int64_t units, int R) {
  static const int forced = [] {
    const int v = env_int("LRKV_ATTN_STAGES");
    return v >= 2 && v <= kLatentMaxStages ? v : 0;
  }();
  if (forced != 0) return forced;
  return R <= 64 && units * 8 <= multiprocessor_count() ? 3 : 2;
}

// LRKV_PREFILL_KERNEL=0 makes kAuto always take the split-K kernel (benchmarks compare both).
bool prefill_kernel_enabled() {
  static const bool on = env_switch("LRKV_PREFILL_KERNEL", true);
  return on;
}

// Contexts from which kAuto takes swizzled tiles for R <= 128 (see auto_row_load).
constexpr int kSwizzleMinKv = 65536;

// RowCopy::kAuto (see RowCopy). Swizzled cp.async tiles for R <= 128 at max_kv >= 64K: the third
// resident CTA per multiprocessor that they buy (R = 128) took the dense kernel from 60% to 85%
// of DRAM bandwidth (ncu, Llama-2 64K), 1.19-1.35x per kernel at 32K-128K for R = 128 and
// 1.05-1.21x for R = 64; but end to end at 4K / 32K (CUDA graphs, where the next projection's
// CTAs prefetch their weights beside the attention CTAs) dense decode was 0.97x / 0.99x, so
// shorter contexts keep two CTAs (bench/CUDA_NOTES.md part 15). Else bulk copies for R >= 128
// (R = 256: 1.15-1.18x over swizzled tiles), else padded cp.async tiles. LRKV_ATTN_SWIZZLE=0|1
// and LRKV_ATTN_BULK=0|1 force either (A/B runs; the swizzle switch first).
LatentRowLoad auto_row_load(int R, int max_kv, bool bulk_ok) {
  static const bool swz_on = env_switch("LRKV_ATTN_SWIZZLE", false);  // "1"
  static const bool swz_ok = env_switch("LRKV_ATTN_SWIZZLE", true);   // not "0"
  static const bool every = env_switch("LRKV_ATTN_BULK", false);      // "1"
  static const bool wide = env_switch("LRKV_ATTN_BULK", true);        // not "0"
  if (swz_on || (swz_ok && !every && R <= 128 && max_kv >= kSwizzleMinKv)) return LatentRowLoad::kSwizzled;
  if (bulk_ok && (every || (wide && R >= 128))) return LatentRowLoad::kBulk;
  return LatentRowLoad::kAsync;
}

// How the split-K launch copies rows (see RowCopy); vec: 16-byte aligned rows and segments.
Result<LatentRowLoad> row_load(const LatentAttentionBatch& b, const SplitAttentionArgs& a, bool vec, int R) {
  bool bulk_ok = vec && sm90_code();
  for (int c = 0; c < a.n_clusters; ++c) {
    bulk_ok = bulk_ok && a.clusters[c].k_len % 8 == 0 && a.clusters[c].v_len % 8 == 0;
  }
  switch (b.copy) {
    case RowCopy::kBulk:
      if (!bulk_ok) {
        return make_error(ErrorCode::kUnsupported,
                          "CUDA latent attention: bulk row copies need the sm_90 code (device: compute capability "
                          "{}, code {}), 16-byte aligned rows and segments of multiples of 8 values",
                          compute_capability(), device_code_arch());
      }
      return LatentRowLoad::kBulk;
    case RowCopy::kSwizzled:
      if (!vec) {
        return make_error(ErrorCode::kUnsupported,
                          "CUDA latent attention: swizzled tiles need 16-byte aligned rows, strides and segments");
      }
      return LatentRowLoad::kSwizzled;
    case RowCopy::kCpAsync: return vec ? LatentRowLoad::kAsync : LatentRowLoad::kScalar;
    default: return vec ? auto_row_load(R, b.max_kv, bulk_ok) : LatentRowLoad::kScalar;
  }
}

Status check(const LatentAttentionBatch& b) {
  const LatentAttentionParams& p = b.p;
  if (b.stages != 0 && (b.stages < 2 || b.stages > kLatentMaxStages)) {
    return make_error(ErrorCode::kInvalidArgument, "CUDA latent attention: {} pipeline stages (0 or 2..{})",
                      b.stages, kLatentMaxStages);
  }
  if (p.n_q < 1 || p.n_head < 1 || b.n_seq < 1) {
    return make_error(ErrorCode::kInvalidArgument, "CUDA latent attention: n_q {}, n_head {}, n_seq {}", p.n_q,
                      p.n_head, b.n_seq);
  }
  if (!p.qk || !p.q_pos || !p.k || !p.v || !p.z || !p.qk_off || !p.k_off || !p.k_len || !p.v_off || !p.v_len ||
      !p.z_off) {
    return make_error(ErrorCode::kInvalidArgument, "CUDA latent attention: null pointer in the parameters");
  }
  if (p.k_type != p.v_type || (p.k_type != DType::kF16 && p.k_type != DType::kBF16)) {
    return make_error(ErrorCode::kUnsupported, "CUDA latent attention: k {} / v {} (f16 or bf16, equal)",
                      dtype_name(p.k_type), dtype_name(p.v_type));
  }
  for (int h = 0; h < p.n_head; ++h) {
    if (p.k_len[h] < 1 || p.k_len[h] > 256 || p.v_len[h] < 1 || p.v_len[h] > 256) {
      return make_error(ErrorCode::kUnsupported, "CUDA latent attention: head {} segments {}/{} (1..256)", h,
                        p.k_len[h], p.v_len[h]);
    }
  }
  return Status::Ok();
}

Result<Plan> make_plan(const LatentAttentionBatch& b) {
  LRKV_RETURN_IF_ERROR(check(b));
  const LatentAttentionParams& p = b.p;
  Plan plan;
  SplitAttentionArgs& a = plan.args;
  std::vector<HeadSegments> heads(p.n_head);
  int width = 0;
  bool vec = aligned16(p.k) && aligned16(p.v) && p.ldk % 8 == 0 && p.ldv % 8 == 0 && b.k_seq % 8 == 0 &&
             b.v_seq % 8 == 0;
  for (int h = 0; h < p.n_head; ++h) {
    heads[h] = HeadSegments{p.k_off[h], p.k_len[h], p.v_off[h], p.v_len[h]};
    width = std::max({width, p.k_len[h], p.v_len[h]});
    vec = vec && p.k_off[h] % 8 == 0 && p.v_off[h] % 8 == 0;
    a.qk_off[h] = p.qk_off[h];
    a.z_off[h] = p.z_off[h];
  }
  a.ldk = p.ldk;
  a.ldv = p.ldv;
  LRKV_RETURN_IF_ERROR(plan_clusters(heads, static_cast<int>(p.n_q), &a));
  plan.R = padded_width(width);
  plan.f16 = p.k_type == DType::kF16;
  plan.vec = vec;
  a.q = p.qk;
  a.ldq = p.ldqk;
  a.q_seq = b.qk_seq;
  a.q_pos = p.q_pos;
  a.qscale = p.scale * static_cast<float>(std::numbers::log2e);
  a.k = p.k;
  a.ldk = p.ldk;
  a.k_seq = b.k_seq;
  a.v = p.v;
  a.ldv = p.ldv;
  a.v_seq = b.v_seq;
  a.maps = b.maps;
  a.z = p.z;
  a.ldz = p.ldz;
  a.z_seq = b.z_seq;
  // The prefill kernel: 64-row tiles of each cluster, no split (see AttentionKernel).
  int max_heads = 1;
  for (int c = 0; c < a.n_clusters; ++c) max_heads = std::max(max_heads, a.clusters[c].n_heads);
  const int64_t rows = int64_t{p.n_q} * max_heads, tiles = (rows + kPrefillRows - 1) / kPrefillRows;
  plan.prefill = b.kernel == AttentionKernel::kPrefill ||
                 (b.kernel == AttentionKernel::kAuto && prefill_kernel_enabled() && rows >= kPrefillRows &&
                  tiles * a.n_clusters * b.n_seq >= multiprocessor_count());
  if (plan.prefill) {
    a.n_row_tiles = static_cast<int>(tiles);
    a.n_splits = 1;
    a.chunk = b.max_kv;
    return plan;
  }
  a.early_rows = b.early_rows ? 1 : 0;
  a.stages = b.stages != 0 ? b.stages : pipeline_stages(int64_t{b.n_seq} * a.n_clusters * a.n_row_tiles, plan.R);
  if (b.stages == 0 && plan.R > 128) a.stages = std::min(a.stages, 3);  // forced depths beyond R = 256's smem
  LRKV_ASSIGN_OR_RETURN(plan.load, row_load(b, a, plan.vec, plan.R));
  const int occ = latent_attention_ctas_per_sm(plan.f16, plan.R, plan.load, a.stages);
  if (occ < 1) {
    return make_error(ErrorCode::kUnsupported, "CUDA latent attention: {} pipeline stages do not fit width {}",
                      a.stages, plan.R);
  }
  LRKV_RETURN_IF_ERROR(plan_splits(b.n_seq, b.max_kv, occ, &a));
  return plan;
}

}  // namespace

Result<size_t> latent_attention_workspace_bytes(const LatentAttentionBatch& b) {
  LRKV_ASSIGN_OR_RETURN(Plan plan, make_plan(b));
  return split_workspace_bytes(plan.args, b.n_seq, plan.R);
}

Result<bool> latent_attention_takes_prefill(const LatentAttentionBatch& b) {
  LRKV_ASSIGN_OR_RETURN(Plan plan, make_plan(b));
  return plan.prefill;
}

Status latent_attention(const LatentAttentionBatch& b, cudaStream_t stream) {
  LRKV_ASSIGN_OR_RETURN(Plan plan, make_plan(b));
  if (plan.prefill) {
    LRKV_CUDA_RETURN_IF_ERROR(launch_prefill_attention(plan.args, b.n_seq, plan.f16, plan.R, plan.vec, stream),
                              "prefill attention launch");
    return Status::Ok();
  }
  LRKV_RETURN_IF_ERROR(bind_workspace(&plan.args, b.n_seq, plan.R, b.workspace, b.workspace_bytes));
  LRKV_CUDA_RETURN_IF_ERROR(launch_latent_attention(plan.args, b.n_seq, plan.f16, plan.R, plan.load, stream),
                            "latent attention launch");
  if (plan.args.n_splits > 1) {
    LRKV_CUDA_RETURN_IF_ERROR(launch_split_merge(plan.args, b.n_seq, plan.R, stream), "split merge launch");
  }
  return Status::Ok();
}

}  // namespace lrkv::cuda
