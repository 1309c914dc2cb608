#include "kernels/cuda/rebuild_attention.h"

#include <algorithm>
#include <numbers>
#include <vector>

#include "kernels/cuda/cuda_status.h"
#include "kernels/cuda/split_plan.h"

namespace lrkv::cuda {
namespace {

struct Plan {
  SplitAttentionArgs args;
  int R = 0;
  bool f16 = false, vec = false;
};

bool aligned16(const void* p) { return reinterpret_cast<uintptr_t>(p) % 16 == 0; }

Status check(const RebuildAttentionBatch& b) {
  const LatentAttentionParams& a = b.att;
  const RebuildKeysParams& k = b.keys;
  auto bad = [](ErrorCode code, const std::string& what) {
    return Status(code, "CUDA rebuild attention: " + what);
  };
  if (a.n_q < 1 || a.n_head < 1 || b.n_kv_head < 1 || a.n_head % b.n_kv_head != 0 || b.n_seq < 1) {
    return bad(ErrorCode::kInvalidArgument, fmt::format("n_q {}, heads {}/{}, n_seq {}", a.n_q, a.n_head,
                                                        b.n_kv_head, b.n_seq));
  }
  if (a.n_head / b.n_kv_head > kRowsPerCta) {
    return bad(ErrorCode::kUnsupported, fmt::format("{} query heads per KV head", a.n_head / b.n_kv_head));
  }
  if (!a.qk || !a.q_pos || !a.v || !a.z || !a.qk_off || !a.v_off || !a.v_len || !a.z_off || !k.c || !k.up ||
      !k.inv_freq || !k.group_rows || !k.group_row_off || !k.group_lat_off || !k.group_rank) {
    return bad(ErrorCode::kInvalidArgument, "null pointer in the parameters");
  }
  if (k.c_type != a.v_type || (k.c_type != DType::kF16 && k.c_type != DType::kBF16)) {
    return bad(ErrorCode::kUnsupported, fmt::format("latents {} / {} (f16 or bf16, equal)", dtype_name(k.c_type),
                                                    dtype_name(a.v_type)));
  }
  const int hd = k.head_dim;
  if (hd != 64 && hd != 80 && hd != 96 && hd != 128) {
    return bad(ErrorCode::kUnsupported, fmt::format("head_dim {} (64, 80, 96, 128)", hd));
  }
  for (int g = 0; g < k.n_groups; ++g) {
    if (k.group_rank[g] < 1 || k.group_rank[g] > 128 || k.group_rows[g] % hd != 0 || !k.up[g]) {
      return bad(ErrorCode::kUnsupported, fmt::format("group {}: rank {} (1..128), rows {}", g, k.group_rank[g],
                                                      k.group_rows[g]));
    }
  }
  for (int h = 0; h < a.n_head; ++h) {
    if (a.v_len[h] < 1 || a.v_len[h] > 128) {
      return bad(ErrorCode::kUnsupported, fmt::format("head {} value width {} (1..128)", h, a.v_len[h]));
    }
  }
  return Status::Ok();
}

// The group holding KV head kvh (its rows in the concatenated key block), or -1.
int group_of(const RebuildKeysParams& k, int kvh) {
  const int row = kvh * k.head_dim;
  for (int g = 0; g < k.n_groups; ++g) {
    if (row >= k.group_row_off[g] && row < k.group_row_off[g] + k.group_rows[g]) return g;
  }
  return -1;
}

Result<Plan> make_plan(const RebuildAttentionBatch& b) {
  LRKV_RETURN_IF_ERROR(check(b));
  const LatentAttentionParams& p = b.att;
  const RebuildKeysParams& k = b.keys;
  Plan plan;
  SplitAttentionArgs& a = plan.args;
  const int group = p.n_head / b.n_kv_head, hd = k.head_dim;
  std::vector<HeadSegments> heads(p.n_head);
  int width = 0;
  bool vec = aligned16(k.c) && aligned16(p.v) && k.ldc % 8 == 0 && p.ldv % 8 == 0 && b.c_seq % 8 == 0 &&
             b.v_seq % 8 == 0;
  for (int h = 0; h < p.n_head; ++h) {
    const int kvh = h / group, g = group_of(k, kvh);
    if (g < 0) return make_error(ErrorCode::kInvalidArgument, "CUDA rebuild attention: KV head {} in no group", kvh);
    const int row_in_group = kvh * hd - k.group_row_off[g];
    const float* up = k.up[g] + static_cast<int64_t>(row_in_group) * k.group_rank[g];
    heads[h] = HeadSegments{k.group_lat_off[g], k.group_rank[g], p.v_off[h], p.v_len[h], kvh * hd, up};
    width = std::max({width, k.group_rank[g], p.v_len[h]});
    vec = vec && k.group_lat_off[g] % 8 == 0 && p.v_off[h] % 8 == 0;
    a.qk_off[h] = p.qk_off[h];
    a.z_off[h] = p.z_off[h];
  }
  a.ldk = k.ldc;
  a.ldv = p.ldv;
  LRKV_RETURN_IF_ERROR(plan_clusters(heads, static_cast<int>(p.n_q), &a));
  plan.R = std::max(64, padded_width(width));
  plan.f16 = k.c_type == DType::kF16;
  plan.vec = vec;
  a.q = p.qk;
  a.ldq = p.ldqk;
  a.q_seq = b.q_seq;
  a.q_pos = p.q_pos;
  a.q_len = hd;
  a.qscale = p.scale * static_cast<float>(std::numbers::log2e);
  a.k = k.c;
  a.ldk = k.ldc;
  a.k_seq = b.c_seq;
  a.v = p.v;
  a.ldv = p.ldv;
  a.v_seq = b.v_seq;
  a.maps = b.maps;
  a.early_rows = b.early_rows ? 1 : 0;
  a.inv_freq = k.inv_freq;
  a.bias = k.bias;
  a.pos0 = k.pos0;
  a.rope_half_split = k.layout == RopeLayout::kHalfSplit ? 1 : 0;
  a.z = p.z;
  a.ldz = p.ldz;
  a.z_seq = b.z_seq;
  const int occ = rebuild_attention_ctas_per_sm(plan.f16, plan.R, hd, plan.vec);
  LRKV_RETURN_IF_ERROR(plan_splits(b.n_seq, b.max_kv, occ, &a));
  return plan;
}

}  // namespace

Result<size_t> rebuild_attention_workspace_bytes(const RebuildAttentionBatch& b) {
  LRKV_ASSIGN_OR_RETURN(Plan plan, make_plan(b));
  return split_workspace_bytes(plan.args, b.n_seq, plan.R);
}

Status rebuild_attention(const RebuildAttentionBatch& b, cudaStream_t stream) {
  LRKV_ASSIGN_OR_RETURN(Plan plan, make_plan(b));
  LRKV_RETURN_IF_ERROR(bind_workspace(&plan.args, b.n_seq, plan.R, b.workspace, b.workspace_bytes));
  LRKV_CUDA_RETURN_IF_ERROR(launch_rebuild_attention(plan.args, b.n_seq, plan.f16, plan.R, b.keys.head_dim, plan.vec,
                                                     stream),
                            "rebuild attention launch");
  if (plan.args.n_splits > 1) {
    LRKV_CUDA_RETURN_IF_ERROR(launch_split_merge(plan.args, b.n_seq, plan.R, stream), "split merge launch");
  }
  return Status::Ok();
}

}  // namespace lrkv::cuda
