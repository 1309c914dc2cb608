#include "eval/plot/rank_heatmap.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>

namespace lrkv::plot {

Result<Heatmap> rank_heatmap(const RankPlan& plan, const LlamaConfig& cfg) {
  LRKV_RETURN_IF_ERROR(plan.validate(cfg, "rank plan"));
  // Groups may differ between layers (a plan may use any tiling); columns follow the layer with
  // the most groups, and layers with fewer leave the rest empty.
  size_t n_groups = 0;
  for (const LayerPlan& l : plan.layers) n_groups = std::max(n_groups, l.groups.size());
  Heatmap h;
  h.rows = cfg.n_layer;
  h.cols = static_cast<int>(2 * n_groups);
  h.values.assign(static_cast<size_t>(h.rows) * h.cols, std::nan(""));
  h.cell_text.assign(h.values.size(), "");
  for (int l = 0; l < cfg.n_layer; ++l) {
    h.row_labels.push_back(fmt::format("L{}", l));
    const auto& groups = plan.layers[l].groups;
    for (size_t g = 0; g < groups.size(); ++g) {
      const double full = groups[g].n_kv_heads * cfg.head_dim;
      const size_t k = static_cast<size_t>(l) * h.cols + g, v = k + n_groups;
      h.values[k] = groups[g].rank_k / full;
      h.values[v] = groups[g].rank_v / full;
      h.cell_text[k] = std::to_string(groups[g].rank_k);
      h.cell_text[v] = std::to_string(groups[g].rank_v);
    }
  }
  const bool one_group = n_groups == 1;
  for (const char* kv : {"K", "V"}) {
    for (size_t g = 0; g < n_groups; ++g)
      h.col_labels.push_back(one_group ? kv : fmt::format("{}{}", kv, g));
  }
  h.col_separators = {static_cast<int>(n_groups)};
  h.vmin = 0.0;
  h.vmax = 1.0;
  h.title = fmt::format("{} {} {} budget {:.3g}: kept {:.3f}", plan.method, plan.granularity,
                        plan.planner, plan.budget, plan.kept_fraction(cfg));
  h.colorbar_label = "kept fraction";
  h.x_label = fmt::format("group (K | V), s*head_dim = {}",
                          plan.layers.empty() || plan.layers[0].groups.empty()
                              ? 0
                              : plan.layers[0].groups[0].n_kv_heads * cfg.head_dim);
  h.y_label = "layer";
  return h;
}

}  // namespace lrkv::plot

namespace lrkv {

Status write_rank_heatmap_png(const RankPlan& plan, const LlamaConfig& cfg,
                              const std::string& path) {
  LRKV_ASSIGN_OR_RETURN(plot::Heatmap h, plot::rank_heatmap(plan, cfg));
  return plot::write_heatmap(h, path);
}

}  // namespace lrkv
