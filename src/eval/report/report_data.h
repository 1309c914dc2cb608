// The results of `lrkv eval`: one cell per (method, budget) plus the dense baseline, with the
// settings they were measured under. Stored as report.json, rewritten (atomically) after every
// finished cell so an interrupted run resumes where it stopped.
#pragma once

#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "core/status.h"
#include "eval/kl_divergence.h"
#include "eval/passkey.h"

namespace lrkv {

struct PplSummary {
  double ppl = 0.0, mean_nll = 0.0, nll_stderr = 0.0;
  int64_t n_scored = 0;
  double tokens_per_second = 0.0;  // prefill throughput of the perplexity windows
};

struct TaskSummary {
  int n = 0;
  double acc = 0.0, acc_norm = 0.0, acc_token = 0.0, acc_stderr = 0.0, acc_norm_stderr = 0.0,
         chance = 0.0;
};

struct SpeedSummary {
  int ctx = 0, n_gen = 0;
  double prefill_tps = 0.0, decode_tps = 0.0;
};

struct CellResult {
  std::string key;             // "dense@1" or "<spec>@<budget>", see cell_key()
  std::string spec;            // "dense" or a method spec ("palu:group:4")
  std::string label;           // "dense" or "palu group:4"
  double budget = 1.0;         // requested kept fraction
  double kept_fraction = 1.0;  // achieved (from the plan)
  std::string cache_kind;
  int64_t kv_bytes_per_token = 0;  // from the cache, all layers
  std::optional<PplSummary> ppl;
  std::optional<KlStats> kl;
  std::map<std::string, TaskSummary> tasks;
  std::optional<PasskeyResult> passkey;
  std::optional<SpeedSummary> speed;
  nlohmann::json plan;   // the RankPlan JSON (null for dense)
  double seconds = 0.0;  // wall time of the cell

  bool is_dense() const { return spec == "dense"; }
  // Mean acc_norm over the tasks (NaN when none).
  double mean_task_acc_norm() const;
};

// "palu:group:4@0.5"; budgets printed with up to 6 significant digits.
std::string cell_key(const std::string& spec, double budget);

struct Report {
  nlohmann::json settings;  // what the cells were measured with (model, text, tasks, ...)
  nlohmann::json model;     // model summary: name, layers, heads, head_dim, dense bytes per token
  nlohmann::json spectra;   // {"k": [[σ...] per layer], "v": ..., optionally "k_whitened"...}
  std::vector<CellResult> cells;

  const CellResult* find(const std::string& key) const;
  // Replaces the cell with the same key, or appends it.
  void upsert(CellResult cell);
  const CellResult* dense() const { return find(cell_key("dense", 1.0)); }
};

nlohmann::json to_json(const CellResult& c);
Result<CellResult> cell_from_json(const nlohmann::json& j, const std::string& source);
nlohmann::json to_json(const Report& r);
Result<Report> report_from_json(const nlohmann::json& j, const std::string& source);

// Atomic write / read of report.json; read errors name the file.
Status save_report(const Report& r, const std::string& path);
Result<Report> load_report(const std::string& path);

}  // namespace lrkv
