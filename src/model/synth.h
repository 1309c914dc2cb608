// Synthetic models: real Llama shapes with seeded random weights (for speed work and tests;
// speed does not depend on weight values) and a synthetic SentencePiece vocabulary.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "model/model.h"

namespace lrkv {

// Shapes of well-known models: "llama2-7b", "llama3-8b", "tiny". Unknown names give an error.
Result<LlamaConfig> preset_config(std::string_view name);
// Comma-separated preset names, for --help.
std::string preset_names();

// How make_random_model draws weights: normal (Box-Muller; the tests' models), or uniform with
// the same mean and standard deviation, several times faster to generate (an 8B shape took ~30 s
// of a 16-core machine with normals; benchmarks whose speed does not depend on the values).
enum class RandomFill { kNormal, kUniform };

// A model of config `cfg` with weights ~ N(0, 1/in_features) (norms ~ 1), deterministic in
// `seed`, matrices stored as `matrix_dtype` (f32/f16/bf16). The tokenizer has <unk>, <s>, </s>,
// 256 byte pieces and synthetic pieces up to cfg.n_vocab (needs n_vocab >= 259).
Result<Model> make_random_model(const LlamaConfig& cfg, uint64_t seed,
                                DType matrix_dtype = DType::kF32, RandomFill fill = RandomFill::kNormal);

// A synthetic SentencePiece vocabulary of n tokens (n >= 259).
Vocab make_synthetic_vocab(int n);

}  // namespace lrkv
