// Zero-shot multiple-choice scoring by log-likelihood (as lm-evaluation-harness does):
// for each choice, ll = Σ log p(continuation tokens | context); the prediction is the argmax of
//   acc        ll                       (raw sum: favours short answers)
//   acc_norm   ll / bytes(continuation) (lm-eval's acc_norm, per character)
//   acc_token  ll / tokens(continuation)
// The model is reached through a LoglikFn so the bookkeeping can be tested with a stub, and the
// engine implementation (engine_loglik.h) can batch all choices of several questions in one pass.
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "core/status.h"
#include "eval/tasks/task.h"
#include "model/tokenizer.h"

namespace lrkv {

struct TokenizedChoice {
  std::vector<int> context;       // BOS first when the model uses one; never empty
  std::vector<int> continuation;  // scored tokens; never empty
};

struct ChoiceLoglik {
  double logprob = 0.0;  // Σ log p over the continuation tokens
  bool greedy = false;   // every continuation token was the argmax
};

// Log-likelihoods of a batch of choices, in order.
using LoglikFn =
    std::function<Result<std::vector<ChoiceLoglik>>(const std::vector<TokenizedChoice>&)>;

// Tokenizes like lm-eval: whole = encode(context + continuation), ctx = encode(context); the
// continuation is whole[len(ctx):] when ctx is a prefix of whole, else the split is moved to
// the longest common prefix. An empty continuation keeps the last context token as continuation.
TokenizedChoice tokenize_choice(const Tokenizer& tok, const McChoice& choice, bool add_bos);

struct McScoreOptions {
  int limit = 0;               // first N questions (0 = all)
  int max_batch_choices = 32;  // choices per LoglikFn call (whole questions only)
  bool add_bos = true;
  bool progress = true;
};

struct McTaskResult {
  std::string task;
  int n = 0;                                          // questions scored
  double acc = 0.0, acc_norm = 0.0, acc_token = 0.0;  // fractions correct
  double acc_stderr = 0.0, acc_norm_stderr = 0.0;     // binomial standard errors
  double chance = 0.0;  // expected accuracy of a uniform guess (mean 1/choices)
  int64_t tokens = 0;   // context + continuation tokens evaluated
  double seconds = 0.0;
};

// The index of the best of `scores` (first on ties; NaN never wins).
int argmax_choice(const std::vector<double>& scores);

Result<McTaskResult> score_task(const McTask& task, const Tokenizer& tok, const LoglikFn& loglik,
                                const McScoreOptions& options);

}  // namespace lrkv
