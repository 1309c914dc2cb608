#include "eval/report/report_markdown.h"

#include <fmt/format.h>

#include <cmath>
#include <set>

namespace lrkv {

namespace {

std::string pct(double v, int decimals = 1) {
  return std::isfinite(v) ? fmt::format("{:.{}f}%", 100.0 * v, decimals) : "—";
}
std::string num(double v, const char* f = "{:.4g}") {
  return std::isfinite(v) ? fmt::format(fmt::runtime(f), v) : "—";
}

// The cells in report order: dense first, then compressed ones as they were run.
std::vector<const CellResult*> ordered(const Report& r) {
  std::vector<const CellResult*> v;
  if (const CellResult* d = r.dense()) v.push_back(d);
  for (const CellResult& c : r.cells) {
    if (!c.is_dense()) v.push_back(&c);
  }
  return v;
}

std::string summary_table(const Report& r) {
  const CellResult* dense = r.dense();
  std::string s =
      "| method | budget | kept | KV bytes/token | vs dense | ppl | Δppl | KL (nats/token) | top-1 "
      "agree | "
      "tasks acc_norm | passkey | prefill tok/s | decode tok/s |\n"
      "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n";
  for (const CellResult* c : ordered(r)) {
    const double ppl = c->ppl ? c->ppl->ppl : std::nan("");
    const double dppl =
        c->ppl && dense && dense->ppl && !c->is_dense() ? ppl - dense->ppl->ppl : std::nan("");
    const double ratio =
        dense && dense->kv_bytes_per_token > 0
            ? static_cast<double>(c->kv_bytes_per_token) / dense->kv_bytes_per_token
            : std::nan("");
    const std::string kl = c->kl ? fmt::format("{:.4f} ± {:.4f}", c->kl->mean_kl, c->kl->kl_stderr)
                                 : (c->is_dense() ? "0" : "—");
    s += fmt::format("| {} | {:g} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} |\n",
                     c->label, c->budget, num(c->kept_fraction, "{:.3f}"), c->kv_bytes_per_token,
                     pct(ratio, 0), num(ppl, "{:.3f}"),
                     std::isfinite(dppl) ? fmt::format("{:+.3f}", dppl) : "—", kl,
                     c->kl ? pct(c->kl->top1_agreement) : (c->is_dense() ? "100%" : "—"),
                     pct(c->mean_task_acc_norm()), c->passkey ? pct(c->passkey->accuracy, 0) : "—",
                     c->ppl ? num(c->ppl->tokens_per_second, "{:.0f}") : "—",
                     c->speed ? num(c->speed->decode_tps, "{:.1f}") : "—");
  }
  return s;
}

std::string tasks_table(const Report& r) {
  std::set<std::string> names;
  for (const CellResult& c : r.cells) {
    for (const auto& [n, t] : c.tasks) names.insert(n);
  }
  if (names.empty()) return "";
  std::string s =
      "## Zero-shot tasks\n\nacc_norm (length-normalised, per byte) with raw acc in parentheses; "
      "n = questions scored.\n\n| method | budget |";
  std::string rule = "|---|---:|";
  for (const std::string& n : names) {
    s += fmt::format(" {} |", n);
    rule += "---:|";
  }
  s += " mean |\n" + rule + "---:|\n";
  const CellResult* any = nullptr;
  for (const CellResult* c : ordered(r)) {
    if (c->tasks.empty()) continue;
    any = c;
    s += fmt::format("| {} | {:g} |", c->label, c->budget);
    for (const std::string& n : names) {
      auto it = c->tasks.find(n);
      s += it == c->tasks.end()
               ? " — |"
               : fmt::format(" {} ({}) |", pct(it->second.acc_norm), pct(it->second.acc));
    }
    s += fmt::format(" {} |\n", pct(c->mean_task_acc_norm()));
  }
  if (any) {
    s += "| *chance* | |";
    double sum = 0.0;
    for (const std::string& n : names) {
      auto it = any->tasks.find(n);
      const double ch = it == any->tasks.end() ? std::nan("") : it->second.chance;
      sum += ch;
      s += fmt::format(" {} |", pct(ch));
    }
    s += fmt::format(" {} |\n", pct(sum / names.size()));
    s += "| *n* | |";
    for (const std::string& n : names) {
      auto it = any->tasks.find(n);
      s += it == any->tasks.end() ? " — |" : fmt::format(" {} |", it->second.n);
    }
    s += " |\n";
  }
  return s + "\n";
}

std::string passkey_table(const Report& r) {
  std::set<int> lengths;
  for (const CellResult& c : r.cells) {
    if (!c.passkey) continue;
    for (const PasskeyCell& p : c.passkey->cells) lengths.insert(p.length);
  }
  if (lengths.empty()) return "";
  std::string s =
      "## Passkey retrieval\n\nExact match of the first number generated (greedy), by prompt "
      "length "
      "in tokens, over all depths and trials.\n\n| method | budget |";
  std::string rule = "|---|---:|";
  for (int l : lengths) {
    s += fmt::format(" {} |", l);
    rule += "---:|";
  }
  s += " all |\n" + rule + "---:|\n";
  for (const CellResult* c : ordered(r)) {
    if (!c->passkey) continue;
    s += fmt::format("| {} | {:g} |", c->label, c->budget);
    for (int l : lengths) {
      int n = 0, k = 0;
      for (const PasskeyCell& p : c->passkey->cells) {
        if (p.length != l) continue;
        n += p.trials;
        k += p.correct;
      }
      s += n ? fmt::format(" {}/{} |", k, n) : " — |";
    }
    s += fmt::format(" {} |\n", pct(c->passkey->accuracy, 0));
  }
  return s + "\n";
}

std::string settings_block(const Report& r) {
  std::string s = "## Settings\n\n";
  for (const auto& [k, v] : r.settings.items()) {
    s += fmt::format("- {}: {}\n", k, v.is_string() ? v.get<std::string>() : v.dump());
  }
  return s + "\n";
}

}  // namespace

std::string render_report_markdown(const Report& r, const std::vector<PlotFile>& plots) {
  const nlohmann::json& m = r.model;
  std::string s = fmt::format("# lrkv eval: {}\n\n", m.value("name", std::string("model")));
  s += fmt::format(
      "{} layers, d_model {}, {} query heads / {} KV heads x head_dim {}, context {}; dense KV "
      "cache "
      "{} bytes/token at f16.\n\n",
      m.value("n_layer", 0), m.value("d_model", 0), m.value("n_head", 0), m.value("n_kv_head", 0),
      m.value("head_dim", 0), m.value("max_seq", 0), m.value("dense_f16_bytes_per_token", 0));
  s += "## Summary\n\nbudget = requested kept fraction of the KV cache, kept = achieved; KV "
       "bytes/token measured "
       "from the cache (all layers); KL and top-1 agreement against the dense model on the same "
       "windows; "
       "prefill tok/s from the perplexity windows, decode tok/s from a batch-1 decode test.\n\n";
  s += summary_table(r) + "\n";
  s += tasks_table(r);
  s += passkey_table(r);
  if (!plots.empty()) {
    s += "## Plots\n\n";
    for (const PlotFile& p : plots)
      s += fmt::format("### {}\n\n![{}]({})\n\n", p.title, p.title, p.file);
  }
  s += settings_block(r);
  return s;
}

}  // namespace lrkv
