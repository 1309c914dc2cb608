// save_safetensors -> load_safetensors round trips: random models of three configurations, the
// real lrkv-mha6 model (llama2.c source, Llama-2 vocabulary), and a hand-sharded checkpoint.
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "core/mmap_file.h"
#include "io/model_io.h"
#include "io/safetensors_file.h"
#include "model/engine.h"
#include "model/synth.h"
#include "test_util.h"

namespace lrkv {
namespace {
namespace fs = std::filesystem;

using test::logits_of;

// Same logits up to fp32 reordering of the head-dim sums (q/k rows may have been permuted).
void expect_same_logits(const Model& a, const Model& b, const std::vector<int>& tokens) {
  const std::vector<float> la = logits_of(a, tokens), lb = logits_of(b, tokens);
  ASSERT_EQ(la.size(), lb.size());
  const auto [lo, hi] = std::minmax_element(la.begin(), la.end());
  const double range = *hi - *lo;
  const test::MaxDiff d = test::max_abs_diff(la, lb);
  ::testing::Test::RecordProperty("max_abs_diff_rel_to_range",
                                  fmt::format("{:.3g}", d.value / range));
  EXPECT_LE(d.value, 1e-6 * range)
      << "worst |diff| " << d.value << " at " << d.index << " (got " << lb[d.index] << ", want "
      << la[d.index] << "), range " << range;
}

void expect_same_config(const LlamaConfig& a, const LlamaConfig& b) {
  EXPECT_EQ(a.arch, b.arch);
  EXPECT_EQ(a.name, b.name);
  EXPECT_EQ(a.n_vocab, b.n_vocab);
  EXPECT_EQ(a.d_model, b.d_model);
  EXPECT_EQ(a.n_layer, b.n_layer);
  EXPECT_EQ(a.n_head, b.n_head);
  EXPECT_EQ(a.n_kv_head, b.n_kv_head);
  EXPECT_EQ(a.head_dim, b.head_dim);
  EXPECT_EQ(a.d_ff, b.d_ff);
  EXPECT_EQ(a.max_seq, b.max_seq);
  EXPECT_EQ(a.norm_eps, b.norm_eps);
  EXPECT_EQ(a.rope_theta, b.rope_theta);
  EXPECT_EQ(a.rope_scaling.llama3, b.rope_scaling.llama3);
  EXPECT_EQ(a.rope_scaling.factor, b.rope_scaling.factor);
  EXPECT_EQ(a.rope_scaling.low_freq_factor, b.rope_scaling.low_freq_factor);
  EXPECT_EQ(a.rope_scaling.high_freq_factor, b.rope_scaling.high_freq_factor);
  EXPECT_EQ(a.rope_scaling.original_max_position, b.rope_scaling.original_max_position);
  EXPECT_EQ(a.tied_embeddings, b.tied_embeddings);
  EXPECT_EQ(a.qkv_bias, b.qkv_bias);
  EXPECT_EQ(a.bos_id, b.bos_id);
  EXPECT_EQ(a.eos_id, b.eos_id);
  EXPECT_EQ(b.rope_layout, RopeLayout::kHalfSplit);  // always, after a trip through HF
}

Model round_trip(const Model& m, const std::string& file = "model.safetensors") {
  const std::string dir = test::temp_dir();
  Status s = save_safetensors(m, dir + "/" + file);
  EXPECT_TRUE(s.ok()) << s.to_string();
  auto back = load_model(dir);  // the directory form
  EXPECT_TRUE(back.ok()) << back.status().to_string();
  return std::move(back).value();
}

const std::vector<int> kTokens = {1, 300 - 5, 17, 42, 260, 3, 99, 7, 150, 2};

TEST(SafetensorsModel, InterleavedLlamaRoundTripsToHalfSplit) {
  auto m = make_random_model(test::tiny_config(), 7);
  ASSERT_TRUE(m.ok()) << m.status().to_string();
  ASSERT_EQ(m->config.rope_layout, RopeLayout::kInterleaved);
  Model back = round_trip(*m);
  expect_same_config(m->config, back.config);
  EXPECT_EQ(back.source_format, ModelFormat::kSafetensors);
  expect_same_logits(*m, back, kTokens);
  ASSERT_NE(back.tokenizer, nullptr);
  EXPECT_EQ(back.tokenizer->encode("the tea is hot", true),
            m->tokenizer->encode("the tea is hot", true));
}

TEST(SafetensorsModel, Qwen2StyleWithBiasesAndUntiedOutput) {
  LlamaConfig c = test::tiny_config(2, 4, 2, 8);
  c.arch = "qwen2";
  c.qkv_bias = true;
  c.rope_layout = RopeLayout::kHalfSplit;
  c.tied_embeddings = false;
  auto m = make_random_model(c, 11);
  ASSERT_TRUE(m.ok()) << m.status().to_string();
  Model back = round_trip(*m);
  expect_same_config(m->config, back.config);
  expect_same_logits(*m, back, kTokens);
  // Half-split in, half-split out: the bytes are untouched.
  EXPECT_EQ(0, std::memcmp(back.weights.layers[1].wq.data(), m->weights.layers[1].wq.data(),
                           m->weights.layers[1].wq.nbytes()));
}

TEST(SafetensorsModel, InterleavedBiasesArePermutedToo) {
  LlamaConfig c = test::tiny_config(1, 2, 1, 6);
  c.arch = "qwen2";
  c.qkv_bias = true;
  auto m = make_random_model(c, 12);
  ASSERT_TRUE(m.ok());
  Model back = round_trip(*m);
  expect_same_logits(*m, back, kTokens);
}

TEST(SafetensorsModel, Llama3RopeScalingAndBf16Matrices) {
  LlamaConfig c = test::tiny_config(2, 4, 1, 16);
  c.rope_theta = 5e5f;
  c.max_seq = 256;
  c.rope_scaling.llama3 = true;
  c.rope_scaling.factor = 8.0f;
  c.rope_scaling.original_max_position = 32;  // so the scaling bites at tiny head_dim
  auto m = make_random_model(c, 13, DType::kBF16);
  ASSERT_TRUE(m.ok()) << m.status().to_string();
  const std::string dir = test::temp_dir();
  ASSERT_TRUE(save_safetensors(*m, dir + "/model.safetensors").ok());
  LoadOptions keep_bf16;
  keep_bf16.matrix_dtype = DType::kBF16;
  auto back = load_safetensors(dir + "/model.safetensors", keep_bf16);
  ASSERT_TRUE(back.ok()) << back.status().to_string();
  expect_same_config(m->config, back->config);
  EXPECT_EQ(back->weights.layers[0].wk.dtype(), DType::kBF16);
  expect_same_logits(*m, *back, kTokens);
  auto text = read_text_file(dir + "/config.json");
  ASSERT_TRUE(text.ok());
  EXPECT_NE(text->find("\"bfloat16\""), std::string::npos);
}

TEST(SafetensorsModel, ExtraTensorsAndMetadataSurvive) {
  auto m = make_random_model(test::tiny_config(1), 14);
  ASSERT_TRUE(m.ok());
  Tensor factor = Tensor::zeros(DType::kF16, {3, 5}, "lrkv.blk.0.k_factor");
  factor.data_as<uint16_t>()[7] = 0x3C00;  // 1.0
  m->extra_tensors["lrkv.blk.0.k_factor"] = factor;
  m->extra_metadata["lrkv.note"] = R"({"ranks": [4]})";
  Model back = round_trip(*m);
  ASSERT_EQ(back.extra_tensors.count("lrkv.blk.0.k_factor"), 1u);
  const Tensor& t = back.extra_tensors["lrkv.blk.0.k_factor"];
  EXPECT_EQ(t.shape(), factor.shape());
  EXPECT_EQ(t.data_as<uint16_t>()[7], 0x3C00);
  EXPECT_EQ(back.extra_metadata["lrkv.note"], R"({"ranks": [4]})");
}

TEST(SafetensorsModel, ShardedCheckpointLoads) {
  auto m = make_random_model(test::tiny_config(), 15);
  ASSERT_TRUE(m.ok());
  const std::string src = test::temp_dir(), dir = test::temp_dir();
  ASSERT_TRUE(save_safetensors(*m, src + "/model.safetensors").ok());
  auto whole = read_safetensors(src + "/model.safetensors");
  ASSERT_TRUE(whole.ok()) << whole.status().to_string();
  // Layer 1 and the final norm in shard 2, everything else in shard 1.
  std::vector<SafetensorsEntry> a, b;
  std::string weight_map;
  for (const auto& [name, t] : whole->tensors) {
    const bool second = name.find("layers.1.") != std::string::npos || name == "model.norm.weight";
    (second ? b : a).push_back({name, &t});
    weight_map += fmt::format("{}\"{}\": \"model-0000{}-of-00002.safetensors\"",
                              weight_map.empty() ? "" : ", ", name, second ? 2 : 1);
  }
  ASSERT_TRUE(write_safetensors(dir + "/model-00001-of-00002.safetensors", a, {}).ok());
  ASSERT_TRUE(write_safetensors(dir + "/model-00002-of-00002.safetensors", b, {}).ok());
  ASSERT_TRUE(write_file_atomic(dir + "/model.safetensors.index.json",
                                "{\"metadata\": {}, \"weight_map\": {" + weight_map + "}}")
                  .ok());
  fs::copy_file(src + "/config.json", dir + "/config.json");
  fs::copy_file(src + "/tokenizer.json", dir + "/tokenizer.json");
  for (const std::string& path : {dir, dir + "/model.safetensors.index.json"}) {
    auto back = load_model(path);
    ASSERT_TRUE(back.ok()) << back.status().to_string();
    expect_same_logits(*m, *back, kTokens);
  }
}

TEST(SafetensorsModel, RealModelKeepsLogitsAndTokenIds) {
  LRKV_REQUIRE_SHARED("models/lrkv-mha6/model.bin");
  auto m = load_model(test::shared_path("models/lrkv-mha6/model.bin"));
  ASSERT_TRUE(m.ok()) << m.status().to_string();
  ASSERT_NE(m->tokenizer, nullptr);
  Model back = round_trip(*m);
  expect_same_config(m->config, back.config);
  ASSERT_NE(back.tokenizer, nullptr);
  EXPECT_EQ(back.tokenizer->vocab().tokens, m->tokenizer->vocab().tokens);
  const std::vector<std::string> texts = {
      "Once upon a time, there was a little girl named Lily.",
      "Line one.\nLine two:\t42 apples, 3.14 pies; 2024-01-01!\n\n  Indented (quoted) \"text\"?",
      "Caf\xC3\xA9 na\xC3\xAFve \xE6\x97\xA5\xE6\x9C\xAC \xF0\x9F\x98\x80 don't won't #hashtag "
      "@user",
      "   leading spaces and trailing   "};
  for (const std::string& s : texts) {
    const std::vector<int> ids = m->tokenizer->encode(s, true);
    EXPECT_EQ(back.tokenizer->encode(s, true), ids) << s;
    EXPECT_EQ(back.tokenizer->decode(ids), m->tokenizer->decode(ids)) << s;
  }
  expect_same_logits(*m, back, m->tokenizer->encode(texts[0], true));
  // A broader check of the tokenizer.json round trip: the first C4 documents, when present.
  if (!test::shared_exists("data/c4-validation-2k.jsonl")) return;
  std::ifstream in(test::shared_path("data/c4-validation-2k.jsonl"));
  std::string line;
  for (int doc = 0; doc < 100 && std::getline(in, line); ++doc) {
    const std::string text = nlohmann::json::parse(line)["text"].get<std::string>();
    ASSERT_EQ(back.tokenizer->encode(text, true), m->tokenizer->encode(text, true))
        << "C4 doc " << doc;
  }
}

}  // namespace
}  // namespace lrkv
