// lrkv plan MODEL --planner NAME --budget B [--method M --granularity G] [--calib FILE]
//   [--text FILE ...] -o plan.json [--show] [--png heat.png]
// Chooses per (layer, group, K|V) ranks for a KV budget; `lrkv compress --plan` applies them.
#include <cstdio>
#include <optional>

#include "cli_common.h"
#include "compress/methods.h"
#include "compress/calibrate_text.h"
#include "commands.h"
#include "compress/compressor.h"
#include "compress/planners/run_planner.h"
#include "core/log.h"
#include "core/mmap_file.h"
#include "eval/plot/rank_heatmap.h"
#include "model/latent_layer.h"
#include "model/train/fisher.h"
#include "text_args.h"

namespace lrkv::cli {


namespace {

struct PlanArgs {
  ModelArgs model;
  PlannerInputs in;
  std::string calib_path, out, png;
  TextSourceOptions text;
  CalibrationOptions calib;
  int held_windows = 4, held_ctx = 128, fisher_batches = 8;
  bool show = false, fisher_per_group = false;
  CLI::Option *method_flag = nullptr, *granularity_flag = nullptr;
};

// An already-compressed input (e.g. `lrkv tune`'s full-rank model): plan over its own ordered
// factors, so the method and granularity are the model's; only planners that need nothing but
// the model itself apply.
Status adopt_compressed_model(PlanArgs& a, const Model& m) {
  LRKV_ASSIGN_OR_RETURN(RankPlan have, model_rank_plan(m));
  if (a.method_flag->count() > 0 && a.in.method != have.method) {
    return make_error(ErrorCode::kInvalidArgument, "--method {}: {} is already compressed with {}", a.in.method,
                      a.model.path, have.method);
  }
  if (a.granularity_flag->count() > 0 && a.in.granularity != have.granularity) {
    return make_error(ErrorCode::kInvalidArgument, "--granularity {}: {} is already compressed at {}",
                      a.in.granularity, a.model.path, have.granularity);
  }
  if (a.in.planner != "uniform" && a.in.planner != "greedy-kl") {
    return make_error(ErrorCode::kInvalidArgument,
                      "--planner {}: {} is already compressed; plan its factors with uniform or greedy-kl (the "
                      "others read the original model)", a.in.planner, a.model.path);
  }
  a.in.method = have.method;
  a.in.granularity = have.granularity;
  log_info("{} is compressed ({} {}): planning over its factors", a.model.path, have.method, have.granularity);
  return Status::Ok();
}

void print_plan(const RankPlan& p, const LlamaConfig& c) {
  std::printf("plan: %s %s, planner %s, budget %.4g -> kept %.4f (%lld of %lld dims per token)\n",
              p.method.c_str(), p.granularity.c_str(), p.planner.c_str(), p.budget, p.kept_fraction(c),
              static_cast<long long>(p.latent_values_per_token()), 2LL * c.n_layer * c.kv_dim());
  if (p.latent_bits > 0) {
    const int64_t bytes = quantized_latent_bytes(p);
    std::printf("latents int%d %s g%d: %lld bytes per token = %.4f of the dense f16 cache (%lld bytes)\n",
                p.latent_bits, p.latent_symmetric ? "sym" : "asym", p.latent_group, static_cast<long long>(bytes),
                static_cast<double>(bytes) / (4.0 * c.n_layer * c.kv_dim()), 4LL * c.n_layer * c.kv_dim());
  }
  std::printf("| layer |");
  for (size_t g = 0; g < p.layers[0].groups.size(); ++g) std::printf(" g%zu k/v |", g);
  std::printf(" layer total |\n|---|");
  for (size_t g = 0; g <= p.layers[0].groups.size(); ++g) std::printf("---|");
  std::printf("\n");
  for (size_t l = 0; l < p.layers.size(); ++l) {
    int total = 0;
    std::printf("| %zu |", l);
    for (const auto& g : p.layers[l].groups) {
      std::printf(" %d/%d |", g.rank_k, g.rank_v);
      total += g.rank_k + g.rank_v;
    }
    std::printf(" %d |\n", total);
  }
}

// Per-slot Fisher importance: Palu's mean over each K/V matrix (split evenly over its groups),
// or the mean over each group's rows with --fisher-per-group.
Result<std::vector<double>> fisher_importance(const PlanArgs& a, const Model& m, const std::vector<int>& tokens) {
  LRKV_ASSIGN_OR_RETURN(int s, parse_granularity(a.in.granularity, m.config.n_kv_head));
  LRKV_ASSIGN_OR_RETURN(auto batches, make_token_batches(tokens, a.held_ctx, 2, a.fisher_batches));
  FisherOptions fo;
  fo.heads_per_group = s;
  LRKV_ASSIGN_OR_RETURN(FisherStats f, fisher_information(m, batches, fo));
  std::vector<double> imp;
  for (const Slot& sl : enumerate_slots(m.config, s)) {
    const LayerFisher& L = f.layers[sl.layer];
    if (a.fisher_per_group) {
      imp.push_back(sl.is_v ? L.v_group[sl.group] : L.k_group[sl.group]);
    } else {
      imp.push_back(sl.is_v ? L.v_mean : L.k_mean);
    }
  }
  return imp;
}

Status run_plan(PlanArgs a) {
  LRKV_ASSIGN_OR_RETURN(Model m, a.model.load());
  a.in.model = &m;
  if (m.compressed()) LRKV_RETURN_IF_ERROR(adopt_compressed_model(a, m));
  std::optional<CalibrationStats> calib;
  std::vector<int> tokens;
  if (!a.text.path.empty()) {
    if (!m.tokenizer) return make_error(ErrorCode::kInvalidArgument, "{}: no tokenizer; pass --tokenizer", a.model.path);
    LRKV_ASSIGN_OR_RETURN(auto docs, read_documents(a.text));
    tokens = tokenize_documents(*m.tokenizer, docs, true);
  }
  if (!a.calib_path.empty()) {
    LRKV_ASSIGN_OR_RETURN(calib, load_calibration(a.calib_path));
    LRKV_RETURN_IF_ERROR(check_calibration_matches(*calib, m.config, a.calib_path));
  } else if (method_needs_calibration(a.in.method) && a.in.planner != "uniform" && a.in.planner != "progressive") {
    if (tokens.empty()) {
      return make_error(ErrorCode::kInvalidArgument, "--planner {} with --method {} needs --calib FILE or --text FILE",
                        a.in.planner, a.in.method);
    }
    LRKV_ASSIGN_OR_RETURN(calib, calibrate_from_text(m, a.text, a.calib));
  }
  a.in.calib = calib ? &*calib : nullptr;
  if (a.in.planner == "greedy-kl" || a.in.planner == "fisher") {
    // Held samples: the tokens after those used for calibration (or all when --calib is given).
    const int64_t skip = a.calib_path.empty() ? std::min<int64_t>(a.calib.max_tokens, tokens.size()) : 0;
    std::vector<int> held(tokens.begin() + std::min<int64_t>(skip, tokens.size()), tokens.end());
    if (static_cast<int64_t>(held.size()) < int64_t{a.held_ctx} * a.held_windows) held = tokens;
    if (static_cast<int64_t>(held.size()) < int64_t{a.held_ctx} * a.held_windows) {
      return make_error(ErrorCode::kInvalidArgument, "--planner {} needs --text with at least {} tokens ({} windows of {})",
                        a.in.planner, int64_t{a.held_ctx} * a.held_windows, a.held_windows, a.held_ctx);
    }
    a.in.greedy.tokens = held;
    a.in.greedy.ctx = a.held_ctx;
    a.in.greedy.n_windows = a.held_windows;
    if (a.in.planner == "fisher") {
      LRKV_ASSIGN_OR_RETURN(a.in.fisher_importance, fisher_importance(a, m, held));
    }
  }
  LRKV_ASSIGN_OR_RETURN(RankPlan plan, run_planner(a.in));
  LRKV_RETURN_IF_ERROR(write_file_atomic(a.out, plan.to_json().dump(1) + "\n"));
  log_info("wrote {}", a.out);
  if (a.show) print_plan(plan, m.config);
  if (!a.png.empty()) LRKV_RETURN_IF_ERROR(write_rank_heatmap_png(plan, m.config, a.png));
  return Status::Ok();
}

}  // namespace

void register_plan(CLI::App& app) {
  auto a = std::make_shared<PlanArgs>();
  a->calib.max_tokens = 65536;
  CLI::App* cmd = app.add_subcommand(
      "plan", "Choose per (layer, group, K|V) ranks for a KV budget (planners: " + planner_names() + ")");
  a->model.add_to(cmd);
  cmd->add_option("--planner", a->in.planner, "Planner: " + planner_names())->capture_default_str();
  cmd->add_option("--budget", a->in.budget, "Kept fraction of the KV cache, in (0, 1]")->capture_default_str();
  a->method_flag = cmd->add_option("--method", a->in.method,
                                   "Factorisation the plan is for: palu, lorc, mkv-pca (a compressed MODEL, "
                                   "e.g. from `lrkv tune`: its own)")
                       ->capture_default_str();
  a->granularity_flag =
      cmd->add_option("--granularity", a->in.granularity, "head, group:S or joint (a compressed MODEL: its own)")
          ->capture_default_str();
  cmd->add_option("--calib", a->calib_path, "Calibration statistics from `lrkv calibrate`");
  add_text_options(cmd, &a->text, false, "Calibration / held-out text (greedy-kl and fisher samples)");
  cmd->add_option("--tokens", a->calib.max_tokens, "Calibration tokens taken from --text")->capture_default_str();
  cmd->add_option("--held-windows", a->held_windows, "greedy-kl/fisher: samples")->capture_default_str();
  cmd->add_option("--held-ctx", a->held_ctx, "greedy-kl/fisher: sample length")->capture_default_str();
  cmd->add_option("--step", a->in.greedy.step, "greedy-kl: dimensions per move (0 = head_dim/8)");
  cmd->add_option("--commit-fraction", a->in.greedy.commit_fraction, "greedy-kl: share of moves per round")->capture_default_str();
  cmd->add_option("--round-to", a->in.round_to,
                  "fisher: rank granularity (default: 1/32 of the narrowest slot, a power of two; Palu used 32 "
                  "for 512-wide groups)");
  cmd->add_option("--fisher-batches", a->fisher_batches, "fisher: batches of 2 samples")->capture_default_str();
  cmd->add_flag("--fisher-per-group", a->fisher_per_group, "fisher: importance per group instead of per matrix");
  cmd->add_option("--latent-bits", a->in.latent_bits,
                  "Plan for latents quantized to 8, 4, 3 or 2 bits: --budget is then a fraction of the dense "
                  "f16 cache's BYTES, codes + scales counted exactly (not with greedy-kl; 0 = float latents)")
      ->capture_default_str();
  cmd->add_option("--latent-group", a->in.latent_group, "With --latent-bits: values per fp16 scale (0 = whole slice)")
      ->capture_default_str();
  cmd->add_flag("--latent-sym", a->in.latent_symmetric, "With --latent-bits: symmetric quantisation");
  cmd->add_option("-o,--output", a->out, "Plan file (.json)")->required();
  cmd->add_flag("--show", a->show, "Print the ranks per layer as a table");
  cmd->add_option("--png", a->png, "Write a rank heat-map PNG");
  cmd->callback([a] { finish(run_plan(*a)); });
}

}  // namespace lrkv::cli
