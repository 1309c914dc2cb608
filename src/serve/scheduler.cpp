#include "serve/scheduler.h"

#include <algorithm>

namespace lrkv::serve {

Result<std::unique_ptr<Scheduler>> Scheduler::create(Engine& engine,
                                                     const SchedulerOptions& options,
                                                     Metrics* metrics) {
  if (options.slots < 1)
    return make_error(ErrorCode::kInvalidArgument, "scheduler: slots must be >= 1");
  if (options.batch_tokens < 1) {
    return make_error(ErrorCode::kInvalidArgument, "--batch-tokens must be >= 1, got {}",
                      options.batch_tokens);
  }
  if (!engine.model().tokenizer) {
    return make_error(ErrorCode::kInvalidArgument, "{}: the model has no tokenizer",
                      engine.model().source_path);
  }
  LRKV_ASSIGN_OR_RETURN(std::unique_ptr<KvCache> cache,
                        engine.make_cache(options.slots, options.ctx, options.cache));
  if (const BlockPool* pool = cache->pages()) {
    const int per_seq = pool->blocks_needed(0, options.ctx);  // tables are empty here
    if (pool->n_blocks() < per_seq) {
      return make_error(ErrorCode::kInvalidArgument,
                        "--kv-budget: {} blocks of {} tokens cannot hold one sequence of --ctx {} "
                        "({} blocks)",
                        pool->n_blocks(), pool->block_rows(), options.ctx, per_seq);
    }
  }
  return std::unique_ptr<Scheduler>(new Scheduler(engine, options, metrics, std::move(cache)));
}

Scheduler::Scheduler(Engine& engine, const SchedulerOptions& options, Metrics* metrics,
                     std::unique_ptr<KvCache> cache)
    : engine_(engine), options_(options), metrics_(metrics), cache_(std::move(cache)) {
  for (int s = options_.slots - 1; s >= 0; --s) free_slots_.push_back(s);
  metrics_->kv_slots_total = options_.slots;
  if (const BlockPool* pool = cache_->pages()) {
    metrics_->kv_tokens_capacity = int64_t{pool->n_blocks()} * pool->block_rows();
    metrics_->kv_blocks_total = pool->n_blocks();
    metrics_->kv_block_tokens = pool->block_rows();
  } else {
    metrics_->kv_tokens_capacity = static_cast<int64_t>(options_.slots) * options_.ctx;
  }
  metrics_->kv_bytes_per_token = cache_->bytes_per_token();
  metrics_->kv_allocated_bytes = cache_->allocated_bytes();
}

std::shared_ptr<RequestStream> Scheduler::submit(GenerationRequest request) {
  auto stream = std::make_shared<RequestStream>();
  auto seq = std::make_unique<Sequence>(std::move(request), stream, *engine_.model().tokenizer);
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (stop_) {
      stream->finish(FinishReason::kCancelled, seq->usage(), "the server is shutting down");
      return stream;
    }
    queue_.push_back(std::move(seq));
    ++metrics_->queued;
  }
  cv_.notify_one();
  return stream;
}

// Metrics and the slot are settled before the stream ends, so a client that reads /metrics
// right after its response sees its request counted and its slot free.
void Scheduler::finish(Sequence& s, FinishReason reason, const std::string& error) {
  auto& counter = reason == FinishReason::kCancelled ? metrics_->requests_cancelled
                  : reason == FinishReason::kError   ? metrics_->requests_failed
                                                     : metrics_->requests_finished;
  ++counter;
  if (s.slot >= 0) {
    // Its full blocks, generated tokens included, stay cached for prefix sharing: a chat's next
    // turn resends this answer. Not after an error (the failed step's rows are unknown).
    BlockPool* pool = cache_->pages();
    if (pool != nullptr && reason != FinishReason::kError) {
      const std::vector<int> t = s.token_stream();
      pool->register_prefix(s.slot, t.data(), std::min(static_cast<int>(t.size()), cache_->length(s.slot)));
    }
    metrics_->kv_tokens_used -= cache_->length(s.slot);
    --metrics_->running;
    cache_->truncate(s.slot, 0);
    free_slots_.push_back(s.slot);
    s.slot = -1;
  }
  s.stream().finish(reason, s.usage(), error);
}

void Scheduler::drop_cancelled() {
  for (auto& s : running_) {
    if (s->slot >= 0 && s->stream().cancel_requested()) finish(*s, FinishReason::kCancelled);
  }
  remove_finished();
  std::lock_guard<std::mutex> lock(mu_);
  for (auto it = queue_.begin(); it != queue_.end();) {
    if ((*it)->stream().cancel_requested()) {
      finish(**it, FinishReason::kCancelled);
      it = queue_.erase(it);
      --metrics_->queued;
    } else {
      ++it;
    }
  }
}

void Scheduler::admit() {
  std::lock_guard<std::mutex> lock(mu_);
  BlockPool* pool = cache_->pages();
  // Blocks the running sequences still need for their contexts (admitted, not yet prefilled).
  int committed = 0;
  if (pool) {
    for (const auto& r : running_) committed += pool->blocks_needed(r->slot, r->context_tokens());
  }
  while (!queue_.empty() && !free_slots_.empty()) {
    Sequence& s = *queue_.front();
    const int slot = free_slots_.back();
    LRKV_CHECK(cache_->length(slot) == 0, "slot {} admitted with {} tokens", slot,
               cache_->length(slot));
    int shared = 0;
    if (pool) {
      // The context's blocks must fit beside the running sequences' (their unfilled contexts and
      // one growth block each, else the next decodes would preempt at once); cached prefix
      // blocks are mapped, not counted.
      shared = cache_->adopt_prefix(slot, s.context().data(), s.context_tokens());
      const int need = pool->blocks_needed(slot, s.context_tokens());
      if (need + committed + static_cast<int>(running_.size()) > pool->free_blocks() &&
          !running_.empty()) {
        cache_->truncate(slot, 0);
        break;  // FIFO: later requests wait too
      }
      committed += need;
    }
    std::unique_ptr<Sequence> owned = std::move(queue_.front());
    queue_.pop_front();
    --metrics_->queued;
    free_slots_.pop_back();
    s.slot = slot;
    s.prefilled = shared;
    metrics_->prefix_cached_tokens_total += shared;
    running_.push_back(std::move(owned));
    ++metrics_->running;
  }
}

void Scheduler::preempt_newest() {
  Sequence& v = *running_.back();
  cache_->truncate(v.slot, 0);
  free_slots_.push_back(v.slot);
  v.preempt();
  ++metrics_->preemptions_total;
  std::unique_ptr<Sequence> owned = std::move(running_.back());
  running_.pop_back();
  --metrics_->running;
  std::lock_guard<std::mutex> lock(mu_);
  queue_.push_front(std::move(owned));
  ++metrics_->queued;
}

int Scheduler::chunk_that_fits(const Sequence& s, int budget) const {
  int n = std::min(budget, s.context_tokens() - s.prefilled);
  const BlockPool* pool = cache_->pages();
  if (!pool || n <= 0) return n;
  // Rows the sequence's own blocks still hold, plus whole free blocks.
  const int64_t have = static_cast<int64_t>(pool->table(s.slot).size()) << pool->shift();
  const int64_t room = have - cache_->length(s.slot) + int64_t{pool->free_blocks()} * pool->block_rows();
  return static_cast<int>(std::min<int64_t>(n, room));
}

void Scheduler::build_batch(std::vector<SeqSpan>* spans, std::vector<Sequence*>* owners) {
  int budget = options_.batch_tokens;
  // Decodes first, oldest first: one token each keeps every stream moving. A decode that needs
  // a block when none is free preempts the newest running sequence (possibly itself).
  for (auto it = running_.begin(); it != running_.end(); ++it) {
    Sequence* s = it->get();
    if (s->prefilling() || budget == 0) continue;
    bool preempted_self = false;
    // (Prompt + max_tokens <= --ctx is checked at submission; were a decode past it, the
    // engine would refuse it: preempting others could not make room.)
    const bool fits_ctx = cache_->length(s->slot) + 1 <= cache_->capacity();
    while (cache_->pages() && fits_ctx && !cache_->reserve(s->slot, cache_->length(s->slot) + 1).ok()) {
      const bool self = running_.back().get() == s;
      preempt_newest();
      if (self) {
        preempted_self = true;
        break;
      }
    }
    if (preempted_self) break;  // s was the newest: nothing after it
    spans->push_back({s->slot, &s->next_token, 1});
    owners->push_back(s);
    --budget;
  }
  for (auto& s : running_) {  // then context chunks, oldest request first, as far as blocks go
    if (!s->prefilling() || budget == 0) continue;
    const int n = chunk_that_fits(*s, budget);
    if (n <= 0) continue;
    LRKV_CHECK(cache_->reserve(s->slot, cache_->length(s->slot) + n).ok(), "chunk of {} rows", n);
    spans->push_back({s->slot, s->context().data() + s->prefilled, n});
    owners->push_back(s.get());
    budget -= n;
  }
}

void Scheduler::remove_finished() {
  running_.remove_if([](const std::unique_ptr<Sequence>& s) { return s->slot < 0; });
}

void Scheduler::publish_gauges() {
  int64_t used = 0;
  for (int s = 0; s < cache_->n_seq(); ++s) used += cache_->length(s);
  metrics_->kv_tokens_used = used;
  if (const BlockPool* pool = cache_->pages()) {
    metrics_->kv_blocks_used = pool->used_blocks();
    metrics_->kv_blocks_cached = pool->cached_blocks();
  }
  metrics_->running = static_cast<int64_t>(running_.size());
}

bool Scheduler::step() {
  drop_cancelled();
  admit();
  if (running_.empty()) {
    publish_gauges();
    return false;
  }
  std::vector<SeqSpan> spans;
  std::vector<Sequence*> owners;
  build_batch(&spans, &owners);
  // A span samples for its request when it decodes or ends the prompt; a prompt chunk with more
  // to come gets a throwaway greedy sampler (the request's random stream must not advance).
  std::vector<Sampler> samplers;
  std::vector<bool> samples(spans.size());
  for (size_t i = 0; i < spans.size(); ++i) {
    Sequence& s = *owners[i];
    samples[i] = !s.prefilling() ||
                 (s.prefilled + spans[i].n == s.context_tokens() && !s.resuming());
    samplers.push_back(samples[i] ? std::move(s.sampler()) : Sampler(SamplerOptions{}));
  }
  std::vector<int> next;
  Status st = engine_.forward_sample(spans, *cache_, samplers, &next);
  ++metrics_->steps_total;
  for (size_t i = 0; i < spans.size(); ++i) {
    Sequence& s = *owners[i];
    if (samples[i]) s.sampler() = std::move(samplers[i]);
    if (!st.ok()) {
      finish(s, FinishReason::kError, st.to_string());
      continue;
    }
    if (s.prefilling()) {
      s.prefilled += spans[i].n;
      (s.resuming() ? metrics_->recomputed_tokens_total : metrics_->prompt_tokens_total) +=
          spans[i].n;
      if (BlockPool* pool = cache_->pages()) {
        pool->register_prefix(s.slot, s.context().data(), s.prefilled);
      }
    }
    if (!samples[i]) continue;
    ++metrics_->generated_tokens_total;
    const FinishReason r = s.accept(next[i]);
    if (r != FinishReason::kNone) finish(s, r);
  }
  remove_finished();
  publish_gauges();
  return true;
}

void Scheduler::run() {
  for (;;) {
    {
      std::unique_lock<std::mutex> lock(mu_);
      cv_.wait(lock, [&] { return stop_ || !queue_.empty() || !running_.empty(); });
      if (stop_) break;
    }
    step();
  }
  for (auto& s : running_) finish(*s, FinishReason::kCancelled, "the server is shutting down");
  running_.clear();
  std::lock_guard<std::mutex> lock(mu_);
  for (auto& s : queue_) finish(*s, FinishReason::kCancelled, "the server is shutting down");
  queue_.clear();
  metrics_->queued = 0;
  publish_gauges();
}

void Scheduler::stop() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stop_ = true;
  }
  cv_.notify_all();
}

}  // namespace lrkv::serve
