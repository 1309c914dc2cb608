// config.json parsing and writing: Llama 3.1 / Qwen2 / Mistral shapes, defaults, errors.
#include "io/hf_config.h"

#include <gtest/gtest.h>

#include <cmath>

#include "test_util.h"

namespace lrkv {
namespace {

const char* kLlama31 = R"({
  "architectures": ["LlamaForCausalLM"], "model_type": "llama", "hidden_size": 4096,
  "intermediate_size": 14336, "num_hidden_layers": 32, "num_attention_heads": 32,
  "num_key_value_heads": 8, "rms_norm_eps": 1e-05, "rope_theta": 500000.0,
  "max_position_embeddings": 131072, "vocab_size": 128256, "tie_word_embeddings": false,
  "bos_token_id": 128000, "eos_token_id": [128001, 128008, 128009], "hidden_act": "silu",
  "rope_scaling": {"factor": 8.0, "low_freq_factor": 1.0, "high_freq_factor": 4.0,
                   "original_max_position_embeddings": 8192, "rope_type": "llama3"},
  "torch_dtype": "bfloat16"})";

TEST(HfConfig, ParsesLlama31) {
  auto h = parse_hf_config(kLlama31, "dir/config.json");
  ASSERT_TRUE(h.ok()) << h.status().to_string();
  const LlamaConfig& c = h->config;
  EXPECT_EQ(c.arch, "llama");
  EXPECT_EQ(c.d_model, 4096);
  EXPECT_EQ(c.n_kv_head, 8);
  EXPECT_EQ(c.head_dim, 128);
  EXPECT_EQ(c.d_ff, 14336);
  EXPECT_EQ(c.max_seq, 131072);
  EXPECT_FLOAT_EQ(c.norm_eps, 1e-5f);
  EXPECT_FLOAT_EQ(c.rope_theta, 5e5f);
  EXPECT_EQ(c.rope_layout, RopeLayout::kHalfSplit);
  EXPECT_TRUE(c.rope_scaling.llama3);
  EXPECT_FLOAT_EQ(c.rope_scaling.factor, 8.0f);
  EXPECT_EQ(c.rope_scaling.original_max_position, 8192);
  EXPECT_EQ(c.bos_id, 128000);
  EXPECT_EQ(c.eos_id, 128001);  // first of the list
  EXPECT_TRUE(h->has_bos && h->has_eos);
  EXPECT_FALSE(c.tied_embeddings);
  EXPECT_FALSE(c.qkv_bias);
  EXPECT_EQ(h->torch_dtype, DType::kBF16);
}

TEST(HfConfig, ParsesQwen2AndMistralWithDefaults) {
  auto q = parse_hf_config(R"({"model_type": "qwen2", "hidden_size": 64, "intermediate_size": 96,
      "num_hidden_layers": 2, "num_attention_heads": 4, "num_key_value_heads": 2,
      "vocab_size": 500, "tie_word_embeddings": true, "use_sliding_window": false,
      "sliding_window": 32, "max_window_layers": 2})",
                           "q/config.json");
  ASSERT_TRUE(q.ok()) << q.status().to_string();
  EXPECT_EQ(q->config.arch, "qwen2");
  EXPECT_TRUE(q->config.qkv_bias);
  EXPECT_TRUE(q->config.tied_embeddings);
  EXPECT_FLOAT_EQ(q->config.rope_theta, 10000.0f);
  EXPECT_FALSE(q->has_bos);
  auto m = parse_hf_config(R"({"architectures": ["MistralForCausalLM"], "hidden_size": 64,
      "intermediate_size": 96, "num_hidden_layers": 2, "num_attention_heads": 4,
      "vocab_size": 500, "sliding_window": 16, "max_position_embeddings": 64})",
                           "m/config.json");
  ASSERT_TRUE(m.ok()) << m.status().to_string();
  EXPECT_EQ(m->config.arch, "llama");
  EXPECT_EQ(m->config.n_kv_head, 4);  // defaults to the head count
  EXPECT_EQ(m->config.head_dim, 16);
}

// As written by transformers 5.17 (save_pretrained): rope settings live in "rope_parameters".
const char* kTransformers5 = R"({
  "architectures": ["LlamaForCausalLM"], "attention_bias": false, "attention_dropout": 0.0,
  "bos_token_id": 1, "dtype": "float32", "eos_token_id": 2, "head_dim": 16, "hidden_act": "silu",
  "hidden_size": 64, "initializer_range": 0.2, "intermediate_size": 96,
  "max_position_embeddings": 128, "mlp_bias": false, "model_type": "llama",
  "num_attention_heads": 4, "num_hidden_layers": 2, "num_key_value_heads": 2,
  "pad_token_id": null, "pretraining_tp": 1, "rms_norm_eps": 1e-05,
  "rope_parameters": {"factor": 8.0, "high_freq_factor": 4.0, "low_freq_factor": 1.0,
                      "original_max_position_embeddings": 32, "rope_theta": 500000.0,
                      "rope_type": "llama3"},
  "tie_word_embeddings": false, "transformers_version": "5.17.0", "use_cache": true,
  "vocab_size": 300})";

TEST(HfConfig, ParsesTransformers5RopeParameters) {
  auto h = parse_hf_config(kTransformers5, "v5/config.json");
  ASSERT_TRUE(h.ok()) << h.status().to_string();
  EXPECT_FLOAT_EQ(h->config.rope_theta, 5e5f);
  EXPECT_TRUE(h->config.rope_scaling.llama3);
  EXPECT_FLOAT_EQ(h->config.rope_scaling.factor, 8.0f);
  EXPECT_EQ(h->config.rope_scaling.original_max_position, 32);
  std::string plain = kTransformers5;
  plain.replace(plain.find("\"llama3\""), 8, "\"default\"");
  auto p = parse_hf_config(plain, "v5/config.json");
  ASSERT_TRUE(p.ok()) << p.status().to_string();
  EXPECT_FALSE(p->config.rope_scaling.llama3);
  EXPECT_FLOAT_EQ(p->config.rope_theta, 5e5f);
}

TEST(HfConfig, ErrorsNameTheFileAndKey) {
  auto missing = parse_hf_config(R"({"model_type": "llama", "intermediate_size": 96,
      "num_hidden_layers": 2, "num_attention_heads": 4, "vocab_size": 500})",
                                 "x/config.json");
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.status().code(), ErrorCode::kCorruptFile);
  EXPECT_NE(missing.status().message().find("x/config.json"), std::string::npos);
  EXPECT_NE(missing.status().message().find("hidden_size"), std::string::npos);

  std::string yarn = kLlama31;
  yarn.replace(yarn.find("\"llama3\""), 8, "\"yarn\"");
  auto y = parse_hf_config(yarn, "y/config.json");
  ASSERT_FALSE(y.ok());
  EXPECT_EQ(y.status().code(), ErrorCode::kUnsupported);
  EXPECT_NE(y.status().message().find("yarn"), std::string::npos);
  EXPECT_NE(y.status().message().find("y/config.json"), std::string::npos);

  EXPECT_EQ(parse_hf_config("{\"hidden_size\": \"big\"}", "c.json").status().code(),
            ErrorCode::kCorruptFile);
  EXPECT_EQ(parse_hf_config("{not json", "c.json").status().code(), ErrorCode::kCorruptFile);
  EXPECT_EQ(parse_hf_config(R"({"model_type": "gpt2", "hidden_size": 8, "intermediate_size": 8,
      "num_hidden_layers": 1, "num_attention_heads": 1, "vocab_size": 8})",
                            "c.json")
                .status()
                .code(),
            ErrorCode::kUnsupported);
}

void expect_same_config(const LlamaConfig& a, const LlamaConfig& b) {
  EXPECT_EQ(a.arch, b.arch);
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
  EXPECT_EQ(a.tied_embeddings, b.tied_embeddings);
  EXPECT_EQ(a.qkv_bias, b.qkv_bias);
  EXPECT_EQ(a.bos_id, b.bos_id);
  EXPECT_EQ(a.eos_id, b.eos_id);
}

TEST(HfConfig, WriteThenParseRoundTrips) {
  LlamaConfig c = test::tiny_config();
  c.rope_layout = RopeLayout::kHalfSplit;
  c.norm_eps = 1e-5f;
  c.rope_theta = 5e5f;
  c.rope_scaling.llama3 = true;
  c.rope_scaling.factor = 32.0f;
  auto text = hf_config_json(c, DType::kBF16);
  ASSERT_TRUE(text.ok()) << text.status().to_string();
  EXPECT_NE(text->find("\"LlamaForCausalLM\""), std::string::npos);
  EXPECT_NE(text->find("\"rms_norm_eps\": 1e-05"), std::string::npos) << *text;
  auto back = parse_hf_config(*text, "rt/config.json");
  ASSERT_TRUE(back.ok()) << back.status().to_string();
  expect_same_config(back->config, c);
  EXPECT_EQ(back->torch_dtype, DType::kBF16);

  c.qkv_bias = true;
  c.arch = "qwen2";
  auto q = parse_hf_config(hf_config_json(c, DType::kF32).value(), "rt/config.json");
  ASSERT_TRUE(q.ok()) << q.status().to_string();
  expect_same_config(q->config, c);
}

TEST(HfConfig, RopeFreqFactorsBecomeLlama3ScalingOrAnError) {
  LlamaConfig c = test::tiny_config(2, 4, 2, 64);
  c.rope_layout = RopeLayout::kHalfSplit;
  c.rope_theta = 5e5f;
  LlamaConfig scaled = c;
  scaled.rope_scaling.llama3 = true;
  scaled.rope_scaling.factor = 8.0f;
  std::vector<float> f0(32), f1(32);
  rope_inverse_frequencies(c, f0.data());
  rope_inverse_frequencies(scaled, f1.data());
  for (int i = 0; i < 32; ++i) c.rope_freq_factors.push_back(f0[i] / f1[i]);  // GGUF rope_freqs
  auto back = parse_hf_config(hf_config_json(c, DType::kF32).value(), "f/config.json");
  ASSERT_TRUE(back.ok()) << back.status().to_string();
  EXPECT_TRUE(back->config.rope_scaling.llama3);
  EXPECT_FLOAT_EQ(back->config.rope_scaling.factor, 8.0f);
  c.rope_freq_factors[3] = 2.5f;  // not llama3-shaped
  auto bad = hf_config_json(c, DType::kF32);
  test::expect_error(bad.status(), ErrorCode::kUnsupported, {"rope_freq_factors"});
}

}  // namespace
}  // namespace lrkv

namespace lrkv {
namespace {

// Issue 17: max_position_embeddings -5 loaded as "context -5" (and "KV at context -3200 B").
TEST(HfConfig, NonPositiveContextAndSizesAreRefused) {
  for (const std::string& bad : {std::string("-5"), std::string("0")}) {
    std::string text = kLlama31;
    text.replace(text.find("131072"), 6, bad);
    auto c = parse_hf_config(text, "m/config.json");
    ASSERT_FALSE(c.ok()) << bad;
    EXPECT_NE(c.status().message().find("m/config.json"), std::string::npos) << c.status().message();
    EXPECT_NE(c.status().message().find("context length " + bad), std::string::npos) << c.status().message();
  }
  std::string text = kLlama31;
  text.replace(text.find("\"num_hidden_layers\": 32"), 23, "\"num_hidden_layers\": -1");
  auto c = parse_hf_config(text, "m/config.json");
  ASSERT_FALSE(c.ok());
  EXPECT_NE(c.status().message().find("layers -1"), std::string::npos) << c.status().message();
}

}  // namespace
}  // namespace lrkv
