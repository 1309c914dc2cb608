// An independent fp64 scalar Llama forward pass for tests (no lrkv kernels used): plain loops
// over the weights of a Model, full causal attention, returns logits for every position.
#pragma once

#include <vector>

#include "model/model.h"

namespace lrkv::test {

// logits [n_tokens, n_vocab] as doubles.
std::vector<double> reference_forward(const Model& m, const std::vector<int>& tokens);

}  // namespace lrkv::test
