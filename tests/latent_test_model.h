// Tiny compressed models for the quantisation and Hadamard tests: a random Llama model plus random
// latent factors laid out by a uniform RankPlan (tensor names and shapes as in latent_layer.h).
// Header-only (the test glob builds *_test.cpp files only).
#pragma once

#include <random>
#include <string>

#include "model/latent_layer.h"
#include "compress/methods.h"
#include "model/rank_plan.h"
#include "model/synth.h"
#include "test_util.h"

namespace lrkv::test {

struct LatentModelOptions {
  std::string method = "palu";       // palu: rebuild keys; mkv-pca: absorbed keys
  std::string granularity = "head";  // head | group:S | joint
  double budget = 0.5;
  bool biases = true;    // k_down_bias, k_up_bias / k_mean, v_down_bias, v_up_bias
  float outlier = 1.0f;  // scale of latent channel 0 of every group (outliers)
  uint64_t seed = 5;
};

inline Tensor random_tensor(std::vector<int64_t> shape, float stddev, std::mt19937& rng) {
  Tensor t = Tensor::zeros(DType::kF32, std::move(shape));
  std::normal_distribution<float> d(0.0f, stddev);
  for (int64_t i = 0; i < t.numel(); ++i) t.f32()[i] = d(rng);
  return t;
}

inline Model make_latent_test_model(const LlamaConfig& cfg, const LatentModelOptions& o) {
  auto base = make_random_model(cfg, o.seed);
  LRKV_CHECK(base.ok(), "{}", base.status().to_string());
  Model m = std::move(base).value();
  auto plan = uniform_plan(cfg, o.method, o.granularity, o.budget);
  LRKV_CHECK(plan.ok(), "{}", plan.status().to_string());
  m.compression.emplace().plan = *plan;
  std::mt19937 rng(static_cast<uint32_t>(o.seed) * 7919u + 1);
  const int64_t d = cfg.d_model, kv = cfg.kv_dim(), hd = cfg.head_dim;
  auto put = [&](const std::string& name, Tensor t) { m.extra_tensors[name] = std::move(t); };
  for (int l = 0; l < cfg.n_layer; ++l) {
    const auto& groups = plan->layers[l].groups;
    int64_t rk = 0, rv = 0;
    for (const auto& g : groups) {
      rk += g.rank_k;
      rv += g.rank_v;
    }
    const bool rebuild = plan->key_mode == KeyMode::kRebuild;
    Tensor kd = random_tensor({rk, d}, 1.0f / std::sqrt(static_cast<float>(d)), rng);
    Tensor vd = random_tensor({rv, d}, 1.0f / std::sqrt(static_cast<float>(d)), rng);
    int64_t ok = 0, ov = 0;
    for (size_t g = 0; g < groups.size(); ++g) {
      const int64_t rows = groups[g].n_kv_heads * hd;
      for (int64_t c = 0; c < d; ++c) {
        kd.f32()[ok * d + c] *= o.outlier;
        vd.f32()[ov * d + c] *= o.outlier;
      }
      ok += groups[g].rank_k;
      ov += groups[g].rank_v;
      const float sk = 1.0f / std::sqrt(static_cast<float>(rebuild ? groups[g].rank_k : rows));
      put(factor_name(l, rebuild ? "k_up" : "k_proj", static_cast<int>(g)),
          random_tensor({rows, groups[g].rank_k}, sk, rng));
      put(factor_name(l, "v_up", static_cast<int>(g)),
          random_tensor({rows, groups[g].rank_v},
                        1.0f / std::sqrt(static_cast<float>(groups[g].rank_v)), rng));
    }
    if (rebuild) {
      put(factor_name(l, "k_down"), std::move(kd));
      if (o.biases) {
        put(factor_name(l, "k_down_bias"), random_tensor({rk}, 0.1f, rng));
        put(factor_name(l, "k_up_bias"), random_tensor({kv}, 0.1f, rng));
      }
    } else if (o.biases) {
      put(factor_name(l, "k_mean"), random_tensor({kv}, 0.1f, rng));
    }
    put(factor_name(l, "v_down"), std::move(vd));
    if (o.biases) {
      put(factor_name(l, "v_down_bias"), random_tensor({rv}, 0.1f, rng));
      put(factor_name(l, "v_up_bias"), random_tensor({kv}, 0.1f, rng));
    }
  }
  return m;
}

}  // namespace lrkv::test
