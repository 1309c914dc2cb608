#include "eval/tasks/mc_scorer.h"

#include <chrono>
#include <cmath>

#include "core/progress.h"

namespace lrkv {

namespace {

double binomial_stderr(double p, int n) { return n > 1 ? std::sqrt(p * (1 - p) / (n - 1)) : 0.0; }

struct Tally {
  int acc = 0, norm = 0, token = 0;
  double chance = 0.0;
  int64_t tokens = 0;
};

void score_question(const McQuestion& q, const std::vector<TokenizedChoice>& toks,
                    const std::vector<ChoiceLoglik>& ll, Tally* t) {
  std::vector<double> raw, per_byte, per_token;
  for (size_t c = 0; c < q.choices.size(); ++c) {
    raw.push_back(ll[c].logprob);
    per_byte.push_back(ll[c].logprob / std::max<size_t>(1, q.choices[c].continuation.size()));
    per_token.push_back(ll[c].logprob / std::max<size_t>(1, toks[c].continuation.size()));
    t->tokens += static_cast<int64_t>(toks[c].context.size() + toks[c].continuation.size());
  }
  t->acc += argmax_choice(raw) == q.label;
  t->norm += argmax_choice(per_byte) == q.label;
  t->token += argmax_choice(per_token) == q.label;
  t->chance += 1.0 / static_cast<double>(q.choices.size());
}

}  // namespace

int argmax_choice(const std::vector<double>& s) {
  int best = -1;
  for (size_t i = 0; i < s.size(); ++i) {
    if (std::isnan(s[i])) continue;
    if (best < 0 || s[i] > s[best]) best = static_cast<int>(i);
  }
  return best;
}

TokenizedChoice tokenize_choice(const Tokenizer& tok, const McChoice& ch, bool add_bos) {
  std::vector<int> ctx = tok.encode(ch.context, add_bos);
  const std::vector<int> whole = tok.encode(ch.context + ch.continuation, add_bos);
  size_t split = 0;
  while (split < ctx.size() && split < whole.size() && ctx[split] == whole[split]) ++split;
  TokenizedChoice out;
  out.context.assign(whole.begin(), whole.begin() + split);
  out.continuation.assign(whole.begin() + split, whole.end());
  if (out.continuation.empty() &&
      !out.context.empty()) {  // nothing new: score the last context token
    out.continuation.push_back(out.context.back());
    out.context.pop_back();
  }
  if (out.context.empty()) out.context.push_back(tok.bos());
  return out;
}

Result<McTaskResult> score_task(const McTask& task, const Tokenizer& tok, const LoglikFn& loglik,
                                const McScoreOptions& o) {
  const size_t n_q =
      o.limit > 0 ? std::min<size_t>(o.limit, task.questions.size()) : task.questions.size();
  if (n_q == 0)
    return make_error(ErrorCode::kInvalidArgument, "task {}: no questions to score", task.name);
  Progress progress(task.name, static_cast<int64_t>(n_q), "q");
  if (!o.progress) progress.disable();
  const auto t0 = std::chrono::steady_clock::now();
  Tally t;
  for (size_t q0 = 0; q0 < n_q;) {
    // Whole questions, up to max_batch_choices choices (at least one question).
    size_t q1 = q0;
    std::vector<TokenizedChoice> batch;
    while (q1 < n_q && (q1 == q0 || batch.size() + task.questions[q1].choices.size() <=
                                        static_cast<size_t>(std::max(1, o.max_batch_choices)))) {
      for (const McChoice& c : task.questions[q1].choices)
        batch.push_back(tokenize_choice(tok, c, o.add_bos));
      ++q1;
    }
    LRKV_ASSIGN_OR_RETURN(std::vector<ChoiceLoglik> ll, loglik(batch));
    if (ll.size() != batch.size()) {
      return make_error(ErrorCode::kInternal,
                        "log-likelihood callback returned {} scores for {} choices", ll.size(),
                        batch.size());
    }
    size_t off = 0;
    for (size_t q = q0; q < q1; ++q) {
      const size_t nc = task.questions[q].choices.size();
      const std::vector<TokenizedChoice> tq(batch.begin() + off, batch.begin() + off + nc);
      const std::vector<ChoiceLoglik> lq(ll.begin() + off, ll.begin() + off + nc);
      score_question(task.questions[q], tq, lq, &t);
      off += nc;
    }
    progress.add(static_cast<int64_t>(q1 - q0));
    progress.set_note(fmt::format("acc {:.3f}", static_cast<double>(t.acc) / q1));
    q0 = q1;
  }
  progress.finish();
  McTaskResult r;
  r.task = task.name;
  r.n = static_cast<int>(n_q);
  r.acc = static_cast<double>(t.acc) / r.n;
  r.acc_norm = static_cast<double>(t.norm) / r.n;
  r.acc_token = static_cast<double>(t.token) / r.n;
  r.acc_stderr = binomial_stderr(r.acc, r.n);
  r.acc_norm_stderr = binomial_stderr(r.acc_norm, r.n);
  r.chance = t.chance / r.n;
  r.tokens = t.tokens;
  r.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  return r;
}

}  // namespace lrkv
