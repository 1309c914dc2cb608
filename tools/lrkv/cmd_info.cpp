// lrkv info MODEL: architecture, sizes, weights, tokenizer and KV-cache bytes per token.
#include <nlohmann/json.hpp>

#include <cstdio>

#include "cli_common.h"
#include "io/compression_metadata.h"
#include "commands.h"
#include "model/cpu_engine.h"
#include "model/latent_layer.h"

namespace lrkv::cli {

namespace {

struct InfoArgs {
  ModelArgs model;
  int ctx = 0;
  bool json = false;
};

// Bytes per token (all layers, scales and minimums included) of the caches this model can run,
// measured from the caches themselves. KIVI adds a fixed fp16 window of its residual length.
nlohmann::json cache_type_bytes(const Model& m) {
  CpuEngine engine(m);
  std::vector<KvCacheSpec> specs = {DType::kF32, DType::kF16};
  auto add = [&](KvQuant q, int latent_bits, bool sym) {
    KvCacheSpec s;
    s.quant = q;
    s.latent.bits = latent_bits;
    s.latent.symmetric = sym;
    specs.push_back(s);
  };
  add(KvQuant::kQ8_0, 0, false);
  add(KvQuant::kQ4_0, 0, false);
  if (engine.compressed()) {
    for (int b : {8, 4, 3, 2}) add(KvQuant::kNone, b, false);
    for (int b : {4, 2}) add(KvQuant::kNone, b, true);
  } else {
    add(KvQuant::kKivi, 0, false);
  }
  nlohmann::json j = nlohmann::json::array();
  for (const KvCacheSpec& s : specs) {
    auto c = engine.make_cache(1, 1, s);
    if (!c.ok()) continue;  // e.g. q4_0 on latent ranks that are not whole blocks
    nlohmann::json e = {{"type", s.name()}, {"bytes_per_token", (*c)->bytes_per_token()}};
    if (s.quant == KvQuant::kKivi) {  // the largest fp16 window: R - 1 key rows and R value rows
      e["window_bytes"] = int64_t{2 * s.kivi.residual - 1} * m.config.kv_dim() * 2 * m.config.n_layer;
    }
    j.push_back(e);
  }
  return j;
}

nlohmann::json describe(const Model& m, int ctx) {
  const LlamaConfig& c = m.config;
  int64_t params = 0, bytes = 0;
  LlamaWeights& w = const_cast<LlamaWeights&>(m.weights);
  for_each_weight(c, w, [&](const WeightSlot& s) {
    params += s.tensor->numel();
    bytes += s.tensor->nbytes();
  });
  nlohmann::json j;
  j["file"] = m.source_path;
  j["format"] = model_format_name(m.source_format);
  j["arch"] = c.arch;
  j["name"] = c.name;
  j["n_vocab"] = c.n_vocab;
  j["d_model"] = c.d_model;
  j["n_layer"] = c.n_layer;
  j["n_head"] = c.n_head;
  j["n_kv_head"] = c.n_kv_head;
  j["head_dim"] = c.head_dim;
  j["d_ff"] = c.d_ff;
  j["context"] = c.max_seq;
  j["rope_theta"] = c.rope_theta;
  j["rope_layout"] = c.rope_layout == RopeLayout::kInterleaved ? "interleaved" : "half-split";
  j["rope_scaling"] = !c.rope_freq_factors.empty() ? "frequency factors"
                      : c.rope_scaling.llama3 ? fmt::format("llama3 x{}", c.rope_scaling.factor)
                                              : "none";
  j["norm_eps"] = c.norm_eps;
  j["tied_embeddings"] = c.tied_embeddings;
  j["qkv_bias"] = c.qkv_bias;
  j["params"] = params;
  j["weight_bytes"] = bytes;
  j["matrix_dtype"] = dtype_name(w.layers.empty() ? DType::kF32 : w.layers[0].wq.dtype());
  if (m.tokenizer) {
    j["tokenizer"] = {{"kind", m.tokenizer->vocab().kind == TokenizerKind::kBpe ? "bpe" : "sentencepiece"},
                      {"n_vocab", m.tokenizer->n_vocab()},
                      {"bos", m.tokenizer->bos()},
                      {"eos", m.tokenizer->eos()}};
  }
  const int context = ctx > 0 ? ctx : c.max_seq;
  j["kv_cache"] = {{"bytes_per_token_f16", c.kv_bytes_per_token(2)},
                   {"bytes_per_token_f32", c.kv_bytes_per_token(4)},
                   {"bytes_per_token_per_layer_f16", c.kv_bytes_per_token(2) / c.n_layer},
                   {"context", context},
                   {"bytes_at_context_f16", c.kv_bytes_per_token(2) * context}};
  if (auto plan = model_rank_plan(m); plan.ok()) {
    // Latent cache: Σ (rank_k + rank_v) values per token over layers.
    j["compression"] = {{"method", plan->method}, {"granularity", plan->granularity},
                        {"planner", plan->planner}, {"budget", plan->budget},
                        {"kept_fraction", plan->kept_fraction(c)},
                        {"key_mode", key_mode_name(plan->key_mode)},
                        {"bytes_per_token_f16", 2 * plan->latent_values_per_token()}};
  }
  j["kv_cache_types"] = cache_type_bytes(m);
  for (const auto& [k, v] : m.extra_metadata) j["metadata"][k] = v;
  for (const auto& [k, v] : compression_metadata(m)) j["metadata"][k] = v;
  for (const auto& [k, t] : m.extra_tensors) j["extra_tensors"][k] = t.shape_str() + " " + std::string(dtype_name(t.dtype()));
  return j;
}

void print_text(const nlohmann::json& j) {
  auto line = [](const char* k, const std::string& v) { std::printf("%-22s %s\n", k, v.c_str()); };
  line("file", fmt::format("{} ({})", j["file"].get<std::string>(), j["format"].get<std::string>()));
  line("architecture", fmt::format("{} '{}'", j["arch"].get<std::string>(), j["name"].get<std::string>()));
  line("layers", std::to_string(j["n_layer"].get<int>()));
  line("d_model / d_ff", fmt::format("{} / {}", j["d_model"].get<int>(), j["d_ff"].get<int>()));
  line("heads (q / kv)", fmt::format("{} / {} x head_dim {}{}", j["n_head"].get<int>(), j["n_kv_head"].get<int>(),
                                     j["head_dim"].get<int>(),
                                     j["n_head"] == j["n_kv_head"] ? " (MHA)" : " (GQA)"));
  line("vocabulary", std::to_string(j["n_vocab"].get<int>()));
  line("context", std::to_string(j["context"].get<int>()));
  line("rope", fmt::format("theta {}, {}, scaling {}", j["rope_theta"].get<float>(),
                           j["rope_layout"].get<std::string>(), j["rope_scaling"].get<std::string>()));
  line("norm eps", fmt::format("{}", j["norm_eps"].get<float>()));
  line("tied embeddings", j["tied_embeddings"].get<bool>() ? "yes" : "no");
  line("qkv bias", j["qkv_bias"].get<bool>() ? "yes" : "no");
  line("parameters", human_count(j["params"].get<double>()));
  line("weights in memory", fmt::format("{} ({} matrices)", human_bytes(j["weight_bytes"].get<double>()),
                                        j["matrix_dtype"].get<std::string>()));
  if (j.contains("tokenizer")) {
    const auto& t = j["tokenizer"];
    line("tokenizer", fmt::format("{}, {} tokens, bos {} eos {}", t["kind"].get<std::string>(),
                                  t["n_vocab"].get<int>(), t["bos"].get<int>(), t["eos"].get<int>()));
  } else {
    line("tokenizer", "none (pass --tokenizer)");
  }
  const auto& kv = j["kv_cache"];
  line("KV bytes / token", fmt::format("{} at f16 ({} per layer), {} at f32",
                                       kv["bytes_per_token_f16"].get<int64_t>(),
                                       kv["bytes_per_token_per_layer_f16"].get<int64_t>(),
                                       kv["bytes_per_token_f32"].get<int64_t>()));
  line("KV at context", fmt::format("{} for {} tokens at f16", human_bytes(kv["bytes_at_context_f16"].get<double>()),
                                    kv["context"].get<int>()));
  if (j.contains("compression")) {
    const auto& z = j["compression"];
    line("compression", fmt::format("{} {} ({} planner), budget {} -> kept {:.4f}, keys {}",
                                    z["method"].get<std::string>(), z["granularity"].get<std::string>(),
                                    z["planner"].get<std::string>(), z["budget"].get<double>(),
                                    z["kept_fraction"].get<double>(), z["key_mode"].get<std::string>()));
    line("latent KV / token", fmt::format("{} bytes at f16", z["bytes_per_token_f16"].get<int64_t>()));
  }
  std::string types;
  for (const auto& e : j["kv_cache_types"]) {
    types += fmt::format("{}{} {}", types.empty() ? "" : ", ", e["type"].get<std::string>(),
                         e["bytes_per_token"].get<int64_t>());
    if (e.contains("window_bytes")) types += fmt::format(" (+{} window)", human_bytes(e["window_bytes"].get<double>()));
  }
  line("KV by cache type", types + " B/token");
  if (j.contains("metadata")) {
    for (const auto& [k, v] : j["metadata"].items()) {
      std::string s = v.get<std::string>();
      if (s.size() > 80) s = s.substr(0, 77) + "...";
      line(k.c_str(), s);
    }
  }
  if (j.contains("extra_tensors")) line("extra tensors", std::to_string(j["extra_tensors"].size()));
}

Status run_info(const InfoArgs& a) {
  LRKV_ASSIGN_OR_RETURN(Model m, a.model.load());
  const nlohmann::json j = describe(m, a.ctx);
  if (a.json) {
    std::printf("%s\n", j.dump(2).c_str());
  } else {
    print_text(j);
  }
  return Status::Ok();
}

}  // namespace

void register_info(CLI::App& app) {
  auto args = std::make_shared<InfoArgs>();
  CLI::App* cmd = app.add_subcommand("info", "Show a model's architecture, sizes and KV-cache bytes per token");
  args->model.add_to(cmd);
  cmd->add_option("--ctx", args->ctx, "Context length for the KV-cache total (default: the model's)");
  cmd->add_flag("--json", args->json, "Print JSON instead of text");
  cmd->callback([args] { finish(run_info(*args)); });
}

}  // namespace lrkv::cli
