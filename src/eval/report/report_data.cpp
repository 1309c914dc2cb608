#include "eval/report/report_data.h"

#include <cmath>

#include "core/mmap_file.h"

namespace lrkv {

namespace {

using nlohmann::json;

// JSON has no NaN/inf: store them as null and read null back as NaN.
json num(double v) { return std::isfinite(v) ? json(v) : json(nullptr); }
double get_num(const json& j, const char* key) {
  auto it = j.find(key);
  return it == j.end() || it->is_null() ? std::nan("") : it->get<double>();
}

json to_json(const KlStats& s) {
  return {{"n", s.n},
          {"mean", num(s.mean_kl)},
          {"stderr", num(s.kl_stderr)},
          {"p99", num(s.kl_p99)},
          {"max", num(s.kl_max)},
          {"top1_agreement", num(s.top1_agreement)},
          {"base_ppl", num(s.base_ppl)},
          {"model_ppl", num(s.model_ppl)}};
}

KlStats kl_from_json(const json& j) {
  KlStats s;
  s.n = j.at("n").get<int64_t>();
  s.mean_kl = get_num(j, "mean");
  s.kl_stderr = get_num(j, "stderr");
  s.kl_p99 = get_num(j, "p99");
  s.kl_max = get_num(j, "max");
  s.top1_agreement = get_num(j, "top1_agreement");
  s.base_ppl = get_num(j, "base_ppl");
  s.model_ppl = get_num(j, "model_ppl");
  return s;
}

json to_json(const PasskeyResult& p) {
  json cells = json::array();
  for (const PasskeyCell& c : p.cells) {
    cells.push_back(
        {{"length", c.length}, {"depth", c.depth}, {"trials", c.trials}, {"correct", c.correct}});
  }
  return {{"accuracy", num(p.accuracy)}, {"max_new_tokens", p.max_new_tokens}, {"cells", cells}};
}

PasskeyResult passkey_from_json(const json& j) {
  PasskeyResult p;
  p.accuracy = get_num(j, "accuracy");
  p.max_new_tokens = j.value("max_new_tokens", 0);
  for (const json& c : j.at("cells")) {
    p.cells.push_back({c.at("length").get<int>(), c.at("depth").get<double>(),
                       c.at("trials").get<int>(), c.at("correct").get<int>()});
  }
  return p;
}

}  // namespace

double CellResult::mean_task_acc_norm() const {
  if (tasks.empty()) return std::nan("");
  double s = 0.0;
  for (const auto& [name, t] : tasks) s += t.acc_norm;
  return s / static_cast<double>(tasks.size());
}

std::string cell_key(const std::string& spec, double budget) {
  return fmt::format("{}@{:.6g}", spec, budget);
}

const CellResult* Report::find(const std::string& key) const {
  for (const CellResult& c : cells) {
    if (c.key == key) return &c;
  }
  return nullptr;
}

void Report::upsert(CellResult cell) {
  for (CellResult& c : cells) {
    if (c.key == cell.key) {
      c = std::move(cell);
      return;
    }
  }
  cells.push_back(std::move(cell));
}

json to_json(const CellResult& c) {
  json j = {{"key", c.key},
            {"spec", c.spec},
            {"label", c.label},
            {"budget", c.budget},
            {"kept_fraction", num(c.kept_fraction)},
            {"cache", c.cache_kind},
            {"kv_bytes_per_token", c.kv_bytes_per_token},
            {"seconds", num(c.seconds)},
            {"plan", c.plan}};
  if (c.ppl) {
    j["ppl"] = {{"ppl", num(c.ppl->ppl)},
                {"mean_nll", num(c.ppl->mean_nll)},
                {"nll_stderr", num(c.ppl->nll_stderr)},
                {"n_scored", c.ppl->n_scored},
                {"tokens_per_second", num(c.ppl->tokens_per_second)}};
  }
  if (c.kl) j["kl"] = to_json(*c.kl);
  if (!c.tasks.empty()) {
    j["tasks"] = json::object();
    for (const auto& [name, t] : c.tasks) {
      j["tasks"][name] = {{"n", t.n},
                          {"acc", num(t.acc)},
                          {"acc_norm", num(t.acc_norm)},
                          {"acc_token", num(t.acc_token)},
                          {"acc_stderr", num(t.acc_stderr)},
                          {"acc_norm_stderr", num(t.acc_norm_stderr)},
                          {"chance", num(t.chance)}};
    }
  }
  if (c.passkey) j["passkey"] = to_json(*c.passkey);
  if (c.speed) {
    j["speed"] = {{"ctx", c.speed->ctx},
                  {"n_gen", c.speed->n_gen},
                  {"prefill_tps", num(c.speed->prefill_tps)},
                  {"decode_tps", num(c.speed->decode_tps)}};
  }
  return j;
}

Result<CellResult> cell_from_json(const json& j, const std::string& src) {
  CellResult c;
  try {
    c.key = j.at("key").get<std::string>();
    c.spec = j.at("spec").get<std::string>();
    c.label = j.value("label", c.spec);
    c.budget = j.at("budget").get<double>();
    c.kept_fraction = get_num(j, "kept_fraction");
    c.cache_kind = j.value("cache", "");
    c.kv_bytes_per_token = j.at("kv_bytes_per_token").get<int64_t>();
    c.seconds = get_num(j, "seconds");
    c.plan = j.value("plan", json());
    if (j.contains("ppl")) {
      const json& p = j["ppl"];
      c.ppl = PplSummary{get_num(p, "ppl"), get_num(p, "mean_nll"), get_num(p, "nll_stderr"),
                         p.at("n_scored").get<int64_t>(), get_num(p, "tokens_per_second")};
    }
    if (j.contains("kl")) c.kl = kl_from_json(j["kl"]);
    if (j.contains("tasks")) {
      for (const auto& [name, t] : j["tasks"].items()) {
        c.tasks[name] = TaskSummary{t.at("n").get<int>(),     get_num(t, "acc"),
                                    get_num(t, "acc_norm"),   get_num(t, "acc_token"),
                                    get_num(t, "acc_stderr"), get_num(t, "acc_norm_stderr"),
                                    get_num(t, "chance")};
      }
    }
    if (j.contains("passkey")) c.passkey = passkey_from_json(j["passkey"]);
    if (j.contains("speed")) {
      const json& s = j["speed"];
      c.speed = SpeedSummary{s.at("ctx").get<int>(), s.at("n_gen").get<int>(),
                             get_num(s, "prefill_tps"), get_num(s, "decode_tps")};
    }
  } catch (const std::exception& e) {
    return make_error(ErrorCode::kCorruptFile, "{}: bad report cell: {}", src, e.what());
  }
  return c;
}

json to_json(const Report& r) {
  json cells = json::array();
  for (const CellResult& c : r.cells) cells.push_back(to_json(c));
  return {{"format", "lrkv-eval-report"}, {"version", 1},
          {"settings", r.settings},       {"model", r.model},
          {"spectra", r.spectra},         {"cells", cells}};
}

Result<Report> report_from_json(const json& j, const std::string& src) {
  if (!j.is_object() || j.value("format", "") != "lrkv-eval-report") {
    return make_error(ErrorCode::kCorruptFile, "{}: not an lrkv eval report", src);
  }
  Report r;
  r.settings = j.value("settings", json::object());
  r.model = j.value("model", json::object());
  r.spectra = j.value("spectra", json());
  if (j.contains("cells") && j["cells"].is_array()) {
    for (const json& c : j["cells"]) {
      LRKV_ASSIGN_OR_RETURN(CellResult cell, cell_from_json(c, src));
      r.cells.push_back(std::move(cell));
    }
  }
  return r;
}

Status save_report(const Report& r, const std::string& path) {
  return write_file_atomic(path, to_json(r).dump(1) + "\n");
}

Result<Report> load_report(const std::string& path) {
  LRKV_ASSIGN_OR_RETURN(std::string text, read_text_file(path));
  const json j = json::parse(text, nullptr, false);
  if (j.is_discarded()) return make_error(ErrorCode::kCorruptFile, "{}: not valid JSON", path);
  return report_from_json(j, path);
}

}  // namespace lrkv
