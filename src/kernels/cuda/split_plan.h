// Host-side planning shared by the split-K attention launchers: clustering of heads that read
// the same cached segments, the padded width R, and the split of the cache rows over CTAs.
#pragma once

#include <cstddef>
#include <vector>

#include "core/status.h"
#include "kernels/cuda/split_attention_args.h"

namespace lrkv::cuda {

// One head's view of the cached rows.
struct HeadSegments {
  int k_off, k_len, v_off, v_len;
  int bias_off = 0;
  const float* up = nullptr;
};

// Fills a.clusters / n_clusters from consecutive runs of heads with equal segments (at most
// kRowsPerCta heads each), a.n_row_tiles for n_q queries and the contiguity flags (a.ldk and
// a.ldv must be set first); errors when over the limits.
Status plan_clusters(const std::vector<HeadSegments>& heads, int n_q, SplitAttentionArgs* a);

// Chooses n_splits and chunk so the grid fills `ctas_per_sm` CTAs on every multiprocessor.
// LRKV_ATTN_SPLITS=N forces N splits (at most one per 128 rows; A/B sweeps only).
Status plan_splits(int n_seq, int max_kv, int ctas_per_sm, SplitAttentionArgs* a);

// Workspace bytes for the plan (0 when unsplit), R the padded width.
size_t split_workspace_bytes(const SplitAttentionArgs& a, int n_seq, int R);
// Points ws_o/ws_ml into `workspace` or fails when it is too small.
Status bind_workspace(SplitAttentionArgs* a, int n_seq, int R, void* workspace, size_t bytes);

// Smallest of 64/128/256 >= width (rounded up to 16), 0 when wider than 256.
int padded_width(int width);

}  // namespace lrkv::cuda
