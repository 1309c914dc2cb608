#include "eval/tasks/engine_loglik.h"

#include <algorithm>
#include <memory>

#include "eval/perplexity.h"

namespace lrkv {

namespace {

class EngineLoglik {
 public:
  EngineLoglik(Engine& e, const EngineLoglikOptions& o) : engine_(e), o_(o) {
    capacity_ = o.ctx > 0 ? o.ctx : e.config().max_seq;
    const int64_t row_bytes = int64_t{4} * e.config().n_vocab;
    max_rows_ = std::max<int64_t>(capacity_, o.max_logit_bytes / row_bytes);
  }

  Result<std::vector<ChoiceLoglik>> operator()(const std::vector<TokenizedChoice>& in) {
    std::vector<ChoiceLoglik> out(in.size());
    std::vector<TokenizedChoice> fitted;
    for (const TokenizedChoice& c : in) fitted.push_back(fit(c));
    for (size_t b0 = 0; b0 < fitted.size();) {
      size_t b1 = b0;
      int64_t rows = 0;
      while (b1 < fitted.size() && static_cast<int>(b1 - b0) < o_.max_seqs &&
             (b1 == b0 ||
              rows + 1 + static_cast<int64_t>(fitted[b1].continuation.size()) <= max_rows_)) {
        rows += 1 + static_cast<int64_t>(fitted[b1].continuation.size());
        ++b1;
      }
      LRKV_RETURN_IF_ERROR(run_batch(fitted, b0, b1, &out));
      b0 = b1;
    }
    return out;
  }

 private:
  // Left-truncates the context (and, if needed, cuts the continuation) to the cache capacity.
  TokenizedChoice fit(const TokenizedChoice& c) const {
    TokenizedChoice f = c;
    if (static_cast<int>(f.continuation.size()) > capacity_ - 1)
      f.continuation.resize(capacity_ - 1);
    const int room = capacity_ - static_cast<int>(f.continuation.size());
    if (static_cast<int>(f.context.size()) > room)
      f.context.erase(f.context.begin(), f.context.end() - room);
    return f;
  }

  Status ensure_cache(int n_seq) {
    if (cache_ && cache_->n_seq() >= n_seq) return Status::Ok();
    LRKV_ASSIGN_OR_RETURN(cache_,
                          engine_.make_cache(std::max(n_seq, o_.max_seqs), capacity_, o_.kv_type));
    return Status::Ok();
  }

  Status run_batch(const std::vector<TokenizedChoice>& in, size_t b0, size_t b1,
                   std::vector<ChoiceLoglik>* out) {
    const int n = static_cast<int>(b1 - b0);
    LRKV_RETURN_IF_ERROR(ensure_cache(n));
    std::vector<SeqSpan> prefix, tail;
    std::vector<std::vector<int>> tails(n);
    for (int i = 0; i < n; ++i) {
      const TokenizedChoice& c = in[b0 + i];
      cache_->truncate(i, 0);
      if (c.context.size() > 1)
        prefix.push_back({i, c.context.data(), static_cast<int>(c.context.size() - 1)});
      tails[i].push_back(c.context.back());
      tails[i].insert(tails[i].end(), c.continuation.begin(), c.continuation.end());
      tail.push_back({i, tails[i].data(), static_cast<int>(tails[i].size())});
    }
    if (!prefix.empty())
      LRKV_RETURN_IF_ERROR(engine_.forward(prefix, *cache_, LogitsMode::kNone, nullptr));
    LRKV_RETURN_IF_ERROR(engine_.forward(tail, *cache_, LogitsMode::kAll, &logits_));
    const int64_t V = engine_.config().n_vocab;
    int64_t row = 0;
    for (int i = 0; i < n; ++i) {
      ChoiceLoglik& r = (*out)[b0 + i];
      r.greedy = true;
      const std::vector<int>& cont = in[b0 + i].continuation;
      for (size_t t = 0; t < cont.size(); ++t) {
        const float* x = logits_.data() + (row + static_cast<int64_t>(t)) * V;
        r.logprob -= token_nll(x, V, cont[t]);
        r.greedy = r.greedy && std::max_element(x, x + V) - x == cont[t];
      }
      row += static_cast<int64_t>(tails[i].size());
    }
    return Status::Ok();
  }

  Engine& engine_;
  EngineLoglikOptions o_;
  int capacity_ = 0;
  int64_t max_rows_ = 0;
  std::unique_ptr<KvCache> cache_;
  std::vector<float> logits_;
};

}  // namespace

LoglikFn make_engine_loglik(Engine& engine, const EngineLoglikOptions& options) {
  auto impl = std::make_shared<EngineLoglik>(engine, options);
  return [impl](const std::vector<TokenizedChoice>& in) { return (*impl)(in); };
}

}  // namespace lrkv
