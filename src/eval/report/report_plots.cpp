#include "eval/report/report_plots.h"

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <map>

#include "eval/plot/colors.h"
#include "eval/plot/line_plot.h"
#include "eval/plot/rank_heatmap.h"

namespace lrkv {

namespace {

using plot::LinePlot;
using plot::Series;

std::string join(const std::string& dir, const std::string& file) {
  return (std::filesystem::path(dir) / file).string();
}

// Compressed cells grouped by method spec, in first-appearance order.
std::vector<std::pair<std::string, std::vector<const CellResult*>>> by_method(const Report& r) {
  std::vector<std::pair<std::string, std::vector<const CellResult*>>> out;
  for (const CellResult& c : r.cells) {
    if (c.is_dense()) continue;
    auto it =
        std::find_if(out.begin(), out.end(), [&](const auto& p) { return p.first == c.spec; });
    if (it == out.end()) {
      out.push_back({c.spec, {}});
      it = out.end() - 1;
    }
    it->second.push_back(&c);
  }
  for (auto& [spec, cells] : out) {
    std::sort(cells.begin(), cells.end(),
              [](auto* a, auto* b) { return a->kv_bytes_per_token < b->kv_bytes_per_token; });
  }
  return out;
}

// One series per method of metric(cell) vs KV bytes per token, with the dense value as a line.
Result<bool> metric_vs_kv(const Report& r, const std::string& path, const std::string& title,
                          const std::string& ylabel, double (*metric)(const CellResult&),
                          bool dense_line) {
  LinePlot p;
  p.title = title;
  p.x.label = "KV cache bytes per token";
  p.x.include_zero = true;
  p.y.label = ylabel;
  p.y.log = true;
  int i = 0;
  for (const auto& [spec, cells] : by_method(r)) {
    Series s;
    s.name = cells.front()->label;
    s.color = plot::series_color(i);
    s.marker = plot::series_marker(i++);
    for (const CellResult* c : cells) {
      s.x.push_back(static_cast<double>(c->kv_bytes_per_token));
      s.y.push_back(metric(*c));
      s.point_labels.push_back(fmt::format("{:g}", c->budget));
    }
    p.series.push_back(std::move(s));
  }
  const CellResult* dense = r.dense();
  if (dense && dense_line && std::isfinite(metric(*dense))) {
    p.hlines.push_back({metric(*dense), fmt::format("dense {:.4g}", metric(*dense)), plot::kBlack});
    Series d;
    d.name = "dense";
    d.color = plot::kBlack;
    d.marker = plot::Marker::kSquare;
    d.line = false;
    d.x = {static_cast<double>(dense->kv_bytes_per_token)};
    d.y = {metric(*dense)};
    p.series.push_back(std::move(d));
  }
  bool any = false;
  for (const Series& s : p.series) {
    for (double y : s.y) any = any || (std::isfinite(y) && y > 0);
  }
  if (!any) return false;
  LRKV_RETURN_IF_ERROR(plot::write_line_plot(p, path));
  return true;
}

double ppl_of(const CellResult& c) { return c.ppl ? c.ppl->ppl : std::nan(""); }
double kl_of(const CellResult& c) { return c.kl ? c.kl->mean_kl : std::nan(""); }

Status memory_plot(const Report& r, const std::string& path) {
  const LlamaConfig cfg = config_from_report(r);
  const double max_ctx = std::max(32768.0, static_cast<double>(cfg.max_seq));
  const double f16_bytes = static_cast<double>(cfg.kv_bytes_per_token(2));
  const bool gib = f16_bytes * max_ctx >= 4.0 * (1 << 30);
  const double unit = gib ? double(1 << 30) : double(1 << 20);
  LinePlot p;
  p.title = "KV cache of one sequence vs context length";
  p.x.label = "context length (tokens)";
  p.x.include_zero = true;
  p.y.label = gib ? "KV cache (GiB)" : "KV cache (MiB)";
  p.y.include_zero = true;
  auto line = [&](const std::string& name, double bytes_per_token, plot::Rgb c, plot::Marker m,
                  bool dashed) {
    Series s;
    s.name = name;
    s.color = c;
    s.marker = m;
    s.dashed = dashed;
    for (int k = 0; k <= 4; ++k) {
      s.x.push_back(max_ctx * k / 4);
      s.y.push_back(bytes_per_token * max_ctx * k / 4 / unit);
    }
    p.series.push_back(std::move(s));
  };
  line("dense f16", f16_bytes, plot::kBlack, plot::Marker::kNone, true);
  if (const CellResult* d = r.dense();
      d && d->kv_bytes_per_token != static_cast<int64_t>(f16_bytes)) {
    line("dense (" + d->cache_kind + ")", static_cast<double>(d->kv_bytes_per_token), plot::kGrey,
         plot::Marker::kNone, true);
  }
  // Cells with the same bytes per token share one line (equal budgets of low-rank methods do).
  std::map<int64_t, std::vector<const CellResult*>, std::greater<>> same_bytes;
  for (const CellResult& c : r.cells) {
    if (!c.is_dense()) same_bytes[c.kv_bytes_per_token].push_back(&c);
  }
  int i = 0;
  for (const auto& [bytes, cells] : same_bytes) {
    std::string names, short_names;  // short: method names only, for crowded lines
    for (const CellResult* c : cells) {
      names += (names.empty() ? "" : ", ") + fmt::format("{} @{:g}", c->label, c->budget);
      short_names += (short_names.empty() ? "" : ", ") +
                     fmt::format("{} @{:g}", c->spec.substr(0, c->spec.find(':')), c->budget);
    }
    if (names.size() > 40) names = short_names;
    line(fmt::format("{} B/tok: {}", bytes, names), static_cast<double>(bytes),
         plot::series_color(i), plot::series_marker(i), false);
    ++i;
  }
  return plot::write_line_plot(p, path);
}

Status spectra_plot(const nlohmann::json& layers, const std::string& title,
                    const std::string& path) {
  LinePlot p;
  p.title = title;
  p.x.label = "singular value index";
  p.y.label = "sigma_i / sigma_0";
  p.y.log = true;
  const int n = static_cast<int>(layers.size());
  const int label_every = std::max(1, (n + 7) / 8);
  for (int l = 0; l < n; ++l) {
    const std::vector<double> s = layers[l].get<std::vector<double>>();
    Series ser;
    ser.name = (l % label_every == 0 || l == n - 1) ? fmt::format("layer {}", l) : "";
    ser.color = plot::viridis(n > 1 ? 0.9 * l / (n - 1) : 0.0);
    ser.marker = plot::Marker::kNone;
    ser.line_width = 2.0;
    for (size_t i = 0; i < s.size(); ++i) {
      ser.x.push_back(static_cast<double>(i));
      ser.y.push_back(s.empty() || s[0] <= 0 ? std::nan("") : s[i] / s[0]);
    }
    p.series.push_back(std::move(ser));
  }
  return plot::write_line_plot(p, path);
}

}  // namespace

LlamaConfig config_from_report(const Report& r) {
  LlamaConfig c;
  c.n_layer = r.model.value("n_layer", 0);
  c.n_head = r.model.value("n_head", 0);
  c.n_kv_head = r.model.value("n_kv_head", 0);
  c.head_dim = r.model.value("head_dim", 0);
  c.d_model = r.model.value("d_model", 0);
  c.max_seq = r.model.value("max_seq", 2048);
  c.n_vocab = r.model.value("n_vocab", 0);
  return c;
}

std::string rank_plot_name(const std::string& spec, double budget) {
  std::string s = spec;
  std::replace(s.begin(), s.end(), ':', '-');
  return fmt::format("ranks_{}_{:g}.png", s, budget);
}

Result<std::vector<PlotFile>> write_report_plots(const Report& r, const std::string& dir) {
  std::vector<PlotFile> out;
  LRKV_ASSIGN_OR_RETURN(
      bool ppl, metric_vs_kv(r, join(dir, "ppl_vs_kv.png"), "Perplexity vs KV bytes per token",
                             "perplexity", ppl_of, true));
  if (ppl) out.push_back({"ppl_vs_kv", "Perplexity vs KV bytes per token", "ppl_vs_kv.png"});
  LRKV_ASSIGN_OR_RETURN(bool kl, metric_vs_kv(r, join(dir, "kl_vs_kv.png"),
                                              "KL(dense || method) vs KV bytes per token",
                                              "mean KL (nats/token)", kl_of, false));
  if (kl)
    out.push_back({"kl_vs_kv", "KL to the dense model vs KV bytes per token", "kl_vs_kv.png"});
  const LlamaConfig cfg = config_from_report(r);
  if (cfg.n_layer > 0) {
    LRKV_RETURN_IF_ERROR(memory_plot(r, join(dir, "memory_vs_context.png")));
    out.push_back({"memory_vs_context", "KV memory of one sequence vs context length",
                   "memory_vs_context.png"});
  }
  for (const CellResult& c : r.cells) {
    if (c.is_dense() || c.plan.is_null()) continue;
    LRKV_ASSIGN_OR_RETURN(RankPlan plan, RankPlan::from_json(c.plan, "report cell " + c.key));
    const std::string file = rank_plot_name(c.spec, c.budget);
    LRKV_RETURN_IF_ERROR(write_rank_heatmap_png(plan, cfg, join(dir, file)));
    out.push_back({"ranks", fmt::format("Ranks of {} at budget {:g}", c.label, c.budget), file});
  }
  const std::pair<const char*, const char*> spectra[] = {
      {"k", "Singular values of W_k per layer"},
      {"v", "Singular values of W_v per layer"},
      {"k_whitened", "Singular values of W_k L (whitened by calibration) per layer"},
      {"v_whitened", "Singular values of W_v L (whitened by calibration) per layer"}};
  for (const auto& [key, title] : spectra) {
    if (!r.spectra.is_object() || !r.spectra.contains(key) || r.spectra[key].empty()) continue;
    const std::string file = fmt::format("spectra_{}.png", key);
    LRKV_RETURN_IF_ERROR(spectra_plot(r.spectra[key], title, join(dir, file)));
    out.push_back({"spectra", title, file});
  }
  return out;
}

}  // namespace lrkv
