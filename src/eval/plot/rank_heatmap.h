// Rank heat-map of a RankPlan: rows = layers, columns = (group, K) for every group then
// (group, V); each cell shows the kept rank and is coloured by the kept fraction of the group's
// dimensions (rank / (s * head_dim)). Used by `lrkv eval` reports and `lrkv plan --show`.
#pragma once

#include <string>

#include "core/status.h"
#include "eval/plot/heatmap.h"
#include "model/llama_config.h"
#include "model/rank_plan.h"

namespace lrkv::plot {

// The heat-map description (validates the plan against `cfg` first).
Result<Heatmap> rank_heatmap(const RankPlan& plan, const LlamaConfig& cfg);

}  // namespace lrkv::plot

namespace lrkv {

// Writes the plan's rank heat-map as a PNG at `path` (atomically). Errors: an invalid plan for
// `cfg` (named "rank plan"), or an unwritable path.
Status write_rank_heatmap_png(const RankPlan& plan, const LlamaConfig& cfg,
                              const std::string& path);

}  // namespace lrkv
