// GenerationRequest: one validated, tokenized request as the scheduler runs it (the HTTP layer
// builds it from an ApiRequest with prompt_builder.h).
#pragma once

#include <string>
#include <vector>

#include "model/sampler.h"

namespace lrkv::serve {

struct GenerationRequest {
  std::vector<int> prompt;        // token ids, BOS included when the model wants one; non-empty
  int max_tokens = 16;            // >= 1; prompt.size() + max_tokens <= the context length
  SamplerOptions sampling;        // temperature 0 = greedy
  std::vector<std::string> stop;  // stop strings (not part of the returned text)
  std::vector<int> stop_tokens;   // tokens that end generation (EOS, end-of-turn)
};

}  // namespace lrkv::serve
