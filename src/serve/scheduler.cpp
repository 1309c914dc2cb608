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
  return std::unique_ptr<Scheduler>(new Scheduler(engine, options, metrics, std::move(cache)));
}

Scheduler::Scheduler(Engine& engine, const SchedulerOptions& options, Metrics* metrics,
                     std::unique_ptr<KvCache> cache)
    : engine_(engine), options_(options), metrics_(metrics), cache_(std::move(cache)) {
  for (int s = options_.slots - 1; s >= 0; --s) free_slots_.push_back(s);
  metrics_->kv_slots_total = options_.slots;
  metrics_->kv_tokens_capacity = static_cast<int64_t>(options_.slots) * options_.ctx;
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
  while (!queue_.empty() && !free_slots_.empty()) {
    std::unique_ptr<Sequence> s = std::move(queue_.front());
    queue_.pop_front();
    --metrics_->queued;
    s->slot = free_slots_.back();
    free_slots_.pop_back();
    LRKV_CHECK(cache_->length(s->slot) == 0, "slot {} admitted with {} tokens", s->slot,
               cache_->length(s->slot));
    running_.push_back(std::move(s));
    ++metrics_->running;
  }
}

void Scheduler::build_batch(std::vector<SeqSpan>* spans, std::vector<Sequence*>* owners) {
  int budget = options_.batch_tokens;
  for (auto& s : running_) {  // decodes first: one token each keeps every stream moving
    if (s->prefilling() || budget == 0) continue;
    spans->push_back({s->slot, &s->next_token, 1});
    owners->push_back(s.get());
    --budget;
  }
  for (auto& s : running_) {  // then prompt chunks, oldest request first
    if (!s->prefilling() || budget == 0) continue;
    const int n = std::min(budget, s->prompt_tokens() - s->prefilled);
    spans->push_back({s->slot, s->request().prompt.data() + s->prefilled, n});
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
    samples[i] = !s.prefilling() || s.prefilled + spans[i].n == s.prompt_tokens();
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
      metrics_->prompt_tokens_total += spans[i].n;
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
