// The PNG plots of an eval report, written next to report.json:
//   ppl_vs_kv.png          perplexity vs KV bytes per token, one series per method (budgets as
//                          points), the dense model as a reference line
//   kl_vs_kv.png           KL(dense || method) vs KV bytes per token
//   memory_vs_context.png  KV-cache bytes of one sequence vs context length per method and
//                          budget, with dense f16 for reference
//   ranks_<spec>_<budget>.png  the rank heat-map of each compressed cell
//   spectra_<k|v>[_whitened].png  normalised singular values σ_i/σ_0 per layer (log y)
#pragma once

#include <string>
#include <vector>

#include "core/status.h"
#include "eval/report/report_data.h"
#include "model/llama_config.h"

namespace lrkv {

struct PlotFile {
  std::string kind;   // "ppl_vs_kv", "kl_vs_kv", "memory_vs_context", "ranks", "spectra"
  std::string title;  // for the Markdown caption
  std::string file;   // file name inside the report directory
};

// The config fields plots need (layers, heads, head_dim) from report.model.
LlamaConfig config_from_report(const Report& r);

// Writes every plot the report has data for; returns what was written, in report order.
Result<std::vector<PlotFile>> write_report_plots(const Report& r, const std::string& dir);

// "palu:group:4" + 0.5 -> "ranks_palu-group-4_0.5.png".
std::string rank_plot_name(const std::string& spec, double budget);

}  // namespace lrkv
