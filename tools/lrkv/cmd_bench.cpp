// lrkv bench MODEL [--ctx 512,2048] [--batch 1,4] [-n 32] [-r 3] [--kv-type f16] [--format md|json]
//   [-o table.md|table.json]
// llama-bench style throughput table for a dense or compressed model: for every (ctx, batch),
// prefill ("pp<ctx>": batch prompts of ctx tokens in one pass) and decode ("tg<n>": n tokens per
// sequence after the prompt) tokens/s as mean ± sd over the repetitions, with the KV cache's
// bytes per token and its size at ctx + n tokens for the batch.
// --profile (GPU): after the timed runs, one more run with the device's kernels traced (CUPTI)
// around its decode steps: per kernel, launches and the time it adds to a step (exclusive of
// overlap) with its share, and its gap to the kernel before it; busy / idle / overlap of the step
// (eval/report/kernel_profile.h).
#include <cstdio>
#include <filesystem>
#include <nlohmann/json.hpp>

#include "cache_args.h"
#include "cli_common.h"
#include "commands.h"
#include "core/log.h"
#include "engine_args.h"
#include "core/mmap_file.h"
#include "flag_ranges.h"
#include "backend/engine_factory.h"
#include "eval/report/kernel_profile.h"
#include "eval/report/speed.h"

namespace lrkv::cli {

namespace {

struct BenchArgs {
  ModelArgs model;
  CacheArgs cache;
  EngineArgs engine;
  std::vector<int> ctx = {512};
  std::vector<int> batch = {1};
  int n_gen = 32, reps = 3;
  bool profile = false;  // --profile: the decode step's kernels
  uint64_t seed = kDefaultSeed;
  std::string format;  // md or json (default: from -o's extension, else md)
  std::string out;     // -o FILE; the bare words md / json are the old spelling of --format
};

struct Row {
  int ctx, batch;
  SpeedResult r;
};

int64_t param_count(const LlamaConfig& c) {
  const int64_t d = c.d_model;
  const int64_t per_layer =
      d * (c.q_dim() + 2 * c.kv_dim()) + int64_t{c.q_dim()} * d + 3 * d * c.d_ff + 2 * d;
  return int64_t{c.n_vocab} * d * (c.tied_embeddings ? 1 : 2) + c.n_layer * per_layer + d;
}

std::string markdown(const Model& m, const std::vector<Row>& rows, int n_gen) {
  const std::filesystem::path p(m.source_path);
  const std::string name = (p.parent_path().filename() / p.filename()).string();
  std::string s = "| model | params | cache | KV bytes/token | batch | test | t/s | KV cache |\n";
  s += "|---|---:|---|---:|---:|---:|---:|---:|\n";
  for (const Row& row : rows) {
    const std::string common =
        fmt::format("| {} | {} | {} | {} | {} ", name, human_count(param_count(m.config)),
                    row.r.cache_kind, row.r.kv_bytes_per_token, row.batch);
    s += fmt::format("{}| pp{} | {:.1f} ± {:.1f} | {} |\n", common, row.ctx, row.r.prefill_tps,
                     row.r.prefill_tps_sd, human_bytes(static_cast<double>(row.r.kv_bytes)));
    if (n_gen > 0) {
      s += fmt::format("{}| tg{}@{} | {:.1f} ± {:.1f} | {} |\n", common, n_gen, row.ctx,
                       row.r.decode_tps, row.r.decode_tps_sd,
                       human_bytes(static_cast<double>(row.r.kv_bytes)));
    }
  }
  for (const Row& row : rows) {
    if (!row.r.decode_profile) continue;
    s += "\n" + kernel_profile_markdown(*row.r.decode_profile,
                                        fmt::format("decode kernels, {} cache, ctx {}, batch {}", row.r.cache_kind,
                                                    row.ctx, row.batch));
  }
  return s;
}

nlohmann::json profile_json(const KernelProfile& p) {
  nlohmann::json rows = nlohmann::json::array();
  for (const KernelProfileRow& r : p.rows) {
    rows.push_back({{"kernel", r.name},
                    {"grid", r.grid},
                    {"block", r.block},
                    {"launches_per_step", r.launches_per_step},
                    {"us_per_step", r.us_per_step},
                    {"exclusive_us_per_step", r.exclusive_us_per_step},
                    {"share", r.share},
                    {"mean_us", r.mean_us},
                    {"mean_gap_us", r.mean_gap_us}});
  }
  return {{"source", p.source},       {"steps", p.steps},     {"window_us_per_step", p.window_us},
          {"busy_us_per_step", p.busy_us}, {"kernel_sum_us_per_step", p.kernel_sum_us},
          {"idle_us_per_step", p.idle_us}, {"launches", p.launches}, {"kernels", rows}};
}

std::string json_table(const Model& m, const std::vector<Row>& rows, int n_gen, int reps) {
  nlohmann::json out = nlohmann::json::array();
  for (const Row& row : rows) {
    out.push_back({{"model", m.source_path},
                   {"params", param_count(m.config)},
                   {"cache", row.r.cache_kind},
                   {"kv_bytes_per_token", row.r.kv_bytes_per_token},
                   {"kv_bytes", row.r.kv_bytes},
                   {"ctx", row.ctx},
                   {"batch", row.batch},
                   {"n_gen", n_gen},
                   {"reps", reps},
                   {"prefill_tps", row.r.prefill_tps},
                   {"prefill_tps_sd", row.r.prefill_tps_sd},
                   {"decode_tps", row.r.decode_tps},
                   {"decode_tps_sd", row.r.decode_tps_sd}});
    // Weights a decode step reads (the CUDA engine reports them): the bandwidth floor's weight term.
    if (row.r.decode_weight_bytes > 0) out.back()["decode_weight_bytes"] = row.r.decode_weight_bytes;
    if (row.r.decode_profile) out.back()["decode_profile"] = profile_json(*row.r.decode_profile);
  }
  return out.dump(2) + "\n";
}

// --format, and -o: a file (.md / .json) or, the old spelling, the bare word md or json.
Status resolve_output(BenchArgs* a) {
  if (a->out == "md" || a->out == "json") {
    if (!a->format.empty() && a->format != a->out) {
      return make_error(ErrorCode::kInvalidArgument, "-o {} and --format {} disagree", a->out, a->format);
    }
    log_warn("-o {} is the old spelling of --format {}; -o now names an output file", a->out, a->out);
    a->format = a->out;
    a->out.clear();
  }
  if (!a->out.empty()) {
    const std::string ext = std::filesystem::path(a->out).extension().string();
    if (ext != ".md" && ext != ".json") {
      return make_error(ErrorCode::kInvalidArgument,
                        "-o '{}': expected a .md or .json file name (or the old format words md, json)", a->out);
    }
    if (a->format.empty()) a->format = ext.substr(1);
  }
  if (a->format.empty()) a->format = "md";
  if (a->format != "md" && a->format != "json") {
    return make_error(ErrorCode::kInvalidArgument, "--format '{}': expected md or json", a->format);
  }
  return check_output_paths({{"-o", a->out, {".md", ".json"}}}, a->model.input_files());
}

Status run_bench(BenchArgs a) {
  LRKV_RETURN_IF_ERROR(resolve_output(&a));
  for (int c : a.ctx) {
    if (c < 1 || c > kMaxLen) return make_error(ErrorCode::kInvalidArgument, "--ctx {}: must be in [1, {}]", c, kMaxLen);
  }
  for (int b : a.batch) {
    if (b < 1 || b > kMaxBatch) {
      return make_error(ErrorCode::kInvalidArgument, "--batch {}: must be in [1, {}]", b, kMaxBatch);
    }
  }
  if (a.n_gen < 0 || a.reps < 1) {
    return make_error(ErrorCode::kInvalidArgument, "-n {} must be >= 0 and -r {} >= 1", a.n_gen,
                      a.reps);
  }
  if (a.profile && a.n_gen < 1) {
    return make_error(ErrorCode::kInvalidArgument, "--profile traces decode steps: it needs -n >= 1 (got {})",
                      a.n_gen);
  }
  const std::string device = a.engine.planned(a.cache.spec());
  if (a.profile && device != "cuda") {  // before a long model load
    return make_error(ErrorCode::kUnsupported,
                      "--profile traces GPU kernels: it needs --device cuda (or auto with a GPU and a cache it runs)");
  }
  LRKV_ASSIGN_OR_RETURN(Model m, a.model.load(device));
  LRKV_ASSIGN_OR_RETURN(KvCacheSpec kv, a.cache.spec(&m));
  LRKV_RETURN_IF_ERROR(a.cache.prepare(m));
  LRKV_ASSIGN_OR_RETURN(auto engine, a.engine.make(m, kv));
  std::unique_ptr<KernelTracer> tracer;
  if (a.profile) {
    LRKV_ASSIGN_OR_RETURN(tracer, make_kernel_tracer(*engine));
  }
  std::vector<Row> rows;
  for (int c : a.ctx) {
    if (c + a.n_gen > m.config.max_seq) {
      log_warn(
          "ctx {} + {} generated tokens exceeds the model's trained context {} (speed is still "
          "valid)",
          c, a.n_gen, m.config.max_seq);
    }
    for (int b : a.batch) {
      SpeedOptions so;
      so.ctx = c;
      so.batch = b;
      so.n_gen = a.n_gen;
      so.reps = a.reps;
      so.seed = a.seed;
      so.kv_type = kv;
      so.tracer = tracer.get();
      log_info("bench ctx {} batch {}", c, b);
      LRKV_ASSIGN_OR_RETURN(SpeedResult r, measure_speed(*engine, so));
      rows.push_back({c, b, r});
    }
  }
  const std::string table = a.format == "md" ? markdown(m, rows, a.n_gen) : json_table(m, rows, a.n_gen, a.reps);
  std::printf("%s", table.c_str());
  if (!a.out.empty()) {
    LRKV_RETURN_IF_ERROR(write_file_atomic(a.out, table));
    log_info("wrote {}", a.out);
  }
  return Status::Ok();
}

}  // namespace

void register_bench(CLI::App& app) {
  auto a = std::make_shared<BenchArgs>();
  CLI::App* cmd = app.add_subcommand(
      "bench",
      "Prefill and decode tokens/s and KV memory, llama-bench style (dense or compressed models)");
  a->model.add_to(cmd);
  a->cache.add_to(cmd);
  a->engine.add_to(cmd);
  cmd->add_option("--ctx", a->ctx, "Prompt lengths, comma-separated")
      ->delimiter(',')
      ->capture_default_str();
  cmd->add_option("--batch", a->batch, "Sequences per pass, comma-separated")
      ->delimiter(',')
      ->capture_default_str();
  cmd->add_option("-n,--n-gen", a->n_gen, "Decoded tokens per sequence (0 = prefill only)")
      ->capture_default_str()
      ->check(int_range(0, kMaxLen));
  cmd->add_option("-r,--reps", a->reps, "Timed repetitions (after one warm-up)")
      ->capture_default_str()
      ->check(int_range(1, 1 << 20));
  cmd->add_option("--seed", a->seed, "Seed of the random prompt tokens")->capture_default_str();
  cmd->add_flag("--profile", a->profile,
                "GPU: after the timed runs, trace one more run's decode steps (CUPTI) and print where a "
                "step's time goes, kernel by kernel (libcupti from the CUDA toolkit; LRKV_CUPTI_LIB=path "
                "if it is elsewhere)");
  cmd->add_option("--format", a->format, "Table format: md or json (default: -o's extension, else md)");
  cmd->add_option("-o,--output", a->out,
                  "Also write the table to this file (.md or .json); the bare words md / json are the "
                  "old spelling of --format");
  cmd->callback([a] { finish(run_bench(*a)); });
}

}  // namespace lrkv::cli
