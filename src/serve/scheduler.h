// Scheduler: iteration-level continuous batching over one engine and one KV cache of `slots`
// sequences of at most `ctx` tokens each. The cache is paged when the spec says so
// (KvCacheSpec::paging, cache/block_pool.h): sequences then hold blocks only for the tokens they
// have, admission goes by free blocks, and identical prompt prefixes share blocks. Else every
// slot reserves ctx tokens. Every step():
//   1. drops cancelled requests (their slots and blocks are freed: truncate(slot, 0)),
//   2. admits queued requests FIFO while a slot is free and (paged) the blocks of the request's
//      context fit beside one growth block per running sequence; a paged admission first maps
//      the cached blocks of the longest registered prefix of its prompt,
//   3. builds one batch: a decode token for every sequence past its context, oldest first, then
//      context chunks (chunked prefill), up to `batch_tokens` tokens in all; blocks are reserved
//      as spans are added. A decode that finds no free block preempts the newest running
//      sequence (its blocks are freed, it goes back to the head of the queue, and later
//      recomputes prompt + generated tokens; its stream just pauses); a chunk takes what fits,
//   4. runs one engine forward_sample (each request's own sampler; on the GPU the sampling stays
//      on the device), streams text, finishes sequences that hit a stop token/string or
//      max_tokens, and frees their slots; the full blocks of prefilled contexts are registered
//      for sharing (they stay cached after their sequence ends, until the blocks are needed).
// submit() and stop() may be called from any thread; step() and run() from one engine thread.
#pragma once

#include <atomic>
#include <condition_variable>
#include <deque>
#include <list>
#include <memory>
#include <mutex>

#include "cache/kv_cache.h"
#include "model/engine.h"
#include "serve/generation_request.h"
#include "serve/metrics.h"
#include "serve/request_stream.h"
#include "serve/sequence.h"

namespace lrkv::serve {

struct SchedulerOptions {
  int slots = 4;           // sequences running at once (KV cache sequence slots)
  int ctx = 512;           // tokens per slot
  int batch_tokens = 512;  // max tokens per engine forward (decodes + prompt chunks)
  KvCacheSpec cache;       // how the cache stores K/V
};

class Scheduler {
 public:
  // Creates the cache (slots x ctx). `engine` and `metrics` must outlive the scheduler.
  static Result<std::unique_ptr<Scheduler>> create(Engine& engine, const SchedulerOptions& options,
                                                   Metrics* metrics);

  // Queues a request; its text and end arrive on the returned stream. Thread-safe.
  std::shared_ptr<RequestStream> submit(GenerationRequest request);
  // One iteration (see the file comment); false when there was nothing to do.
  bool step();
  // Steps until stop(); sleeps while idle. Finishes every left request as cancelled on exit.
  void run();
  void stop();

  const KvCache& cache() const { return *cache_; }
  const SchedulerOptions& options() const { return options_; }

 private:
  Scheduler(Engine& engine, const SchedulerOptions& options, Metrics* metrics,
            std::unique_ptr<KvCache> cache);
  void drop_cancelled();
  void admit();
  // Spans for this step and the sequence of each span.
  void build_batch(std::vector<SeqSpan>* spans, std::vector<Sequence*>* owners);
  void finish(Sequence& s, FinishReason reason, const std::string& error = {});
  // Frees the newest running sequence's slot and blocks and queues it first (paged caches).
  void preempt_newest();
  // Tokens a chunk of `s` may take now: its context left, the batch budget, the free blocks.
  int chunk_that_fits(const Sequence& s, int budget) const;
  void remove_finished();
  void publish_gauges();

  Engine& engine_;
  SchedulerOptions options_;
  Metrics* metrics_;
  std::unique_ptr<KvCache> cache_;
  std::vector<int> free_slots_;
  std::list<std::unique_ptr<Sequence>> running_;  // admission order

  std::mutex mu_;  // guards queue_ and stop_
  std::condition_variable cv_;
  std::deque<std::unique_ptr<Sequence>> queue_;
  bool stop_ = false;
};

}  // namespace lrkv::serve
