// RankPlan JSON parser on arbitrary text; a parsed plan is validated against a small GQA config
// and its derived quantities computed, as `lrkv compress --plan` does.
#include "fuzz_util.h"
#include "model/rank_plan.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  lrkv::fuzz::scratch_dir();  // quiet logging
  const std::string text(reinterpret_cast<const char*>(data), size);
  auto plan = lrkv::RankPlan::parse(text, "plan.json");
  if (!plan.ok()) return 0;
  lrkv::LlamaConfig cfg;
  cfg.n_vocab = 32;
  cfg.d_model = 64;
  cfg.n_layer = 2;
  cfg.n_head = 4;
  cfg.n_kv_head = 2;
  cfg.head_dim = 16;
  cfg.d_ff = 128;
  cfg.max_seq = 64;
  (void)plan->to_json().dump();
  if (!plan->validate(cfg, "plan.json").ok()) return 0;
  (void)plan->kept_fraction(cfg);
  (void)plan->latent_values_per_token();
  return 0;
}
