#include "kernels/cuda/split_plan.h"

#include <algorithm>
#include <cstdint>

#include "kernels/cuda/cuda_status.h"
#include "kernels/cuda/env_switch.h"

namespace lrkv::cuda {

Status plan_clusters(const std::vector<HeadSegments>& heads, int n_q, SplitAttentionArgs* a) {
  const int n_head = static_cast<int>(heads.size());
  if (n_head < 1 || n_head > kMaxHeads) {
    return make_error(ErrorCode::kUnsupported, "CUDA attention: {} heads (1..{} supported)", n_head, kMaxHeads);
  }
  a->n_clusters = 0;
  int max_heads = 1;
  for (int h = 0; h < n_head; ++h) {
    const HeadSegments& s = heads[h];
    ClusterDesc* last = a->n_clusters > 0 ? &a->clusters[a->n_clusters - 1] : nullptr;
    const bool same = last && last->n_heads < kRowsPerCta && last->k_off == s.k_off && last->k_len == s.k_len &&
                      last->v_off == s.v_off && last->v_len == s.v_len && last->up == s.up &&
                      last->bias_off == s.bias_off;
    if (same) {
      max_heads = std::max(max_heads, ++last->n_heads);
      continue;
    }
    if (a->n_clusters == kMaxClusters) {
      return make_error(ErrorCode::kUnsupported, "CUDA attention: more than {} distinct head segments", kMaxClusters);
    }
    ClusterDesc& c = a->clusters[a->n_clusters++];
    c = ClusterDesc{s.k_off, s.k_len, s.v_off, s.v_len, h, 1, s.bias_off, s.up};
  }
  a->k_contiguous = a->v_contiguous = 1;
  for (int c = 0; c < a->n_clusters; ++c) {
    if (a->ldk != a->clusters[c].k_len) a->k_contiguous = 0;
    if (a->ldv != a->clusters[c].v_len) a->v_contiguous = 0;
  }
  const int64_t rows = int64_t{n_q} * max_heads;
  a->n_row_tiles = static_cast<int>((rows + kRowsPerCta - 1) / kRowsPerCta);
  a->n_q = n_q;
  return Status::Ok();
}

Status plan_splits(int n_seq, int max_kv, int ctas_per_sm, SplitAttentionArgs* a) {
  if (max_kv < 1) return make_error(ErrorCode::kInvalidArgument, "CUDA attention: max_kv {} < 1", max_kv);
  const int64_t units = int64_t{n_seq} * a->n_clusters * a->n_row_tiles;
  const int64_t slots = int64_t{multiprocessor_count()} * ctas_per_sm;
  constexpr int kMinChunk = 2 * kTokenTile;
  const int64_t max_splits = std::clamp<int64_t>((max_kv + kMinChunk - 1) / kMinChunk, 1, 256);
  // Equal-work CTAs run in waves of `slots`; a CTA costs its tiles plus ~kCtaOverhead tiles of
  // start-up and epilogue. Pick the split count with the least modelled time.
  constexpr int64_t kCtaOverhead = 4;
  static const int forced = env_int("LRKV_ATTN_SPLITS");  // A/B sweeps: this many splits (capped)
  int64_t best = std::min<int64_t>(std::max(forced, 1), max_splits), best_cost = INT64_MAX;
  for (int64_t s = 1; forced <= 0 && s <= max_splits; ++s) {
    const int64_t waves = (units * s + slots - 1) / slots;
    const int64_t tiles = ((max_kv + s - 1) / s + kTokenTile - 1) / kTokenTile;
    const int64_t cost = waves * (tiles + kCtaOverhead);
    if (cost < best_cost) {
      best = s;
      best_cost = cost;
    }
  }
  int64_t chunk = (max_kv + best - 1) / best;
  chunk = (chunk + kTokenTile - 1) / kTokenTile * kTokenTile;
  a->chunk = static_cast<int>(chunk);
  a->n_splits = static_cast<int>((max_kv + chunk - 1) / chunk);
  return Status::Ok();
}

size_t split_workspace_bytes(const SplitAttentionArgs& a, int n_seq, int R) {
  if (a.n_splits <= 1) return 0;
  const size_t parts = size_t(n_seq) * a.n_clusters * a.n_row_tiles * a.n_splits * kRowsPerCta;
  return parts * (size_t(R) + 2) * sizeof(float);
}

Status bind_workspace(SplitAttentionArgs* a, int n_seq, int R, void* workspace, size_t bytes) {
  const size_t need = split_workspace_bytes(*a, n_seq, R);
  a->ws_o = a->ws_ml = nullptr;
  if (need == 0) return Status::Ok();
  if (workspace == nullptr || bytes < need) {
    return make_error(ErrorCode::kInvalidArgument, "CUDA attention: workspace of {} bytes, the plan needs {}", bytes,
                      need);
  }
  const size_t parts = size_t(n_seq) * a->n_clusters * a->n_row_tiles * a->n_splits * kRowsPerCta;
  a->ws_o = static_cast<float*>(workspace);
  a->ws_ml = a->ws_o + parts * R;
  return Status::Ok();
}

int padded_width(int width) {
  for (int r : {64, 128, 256}) {
    if (width <= r) return r;
  }
  return 0;
}

}  // namespace lrkv::cuda
