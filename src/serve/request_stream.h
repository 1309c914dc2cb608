// RequestStream: the channel between the engine thread (producer) and the HTTP thread that waits
// on one request (consumer). The engine appends text as tokens are accepted and finishes the
// stream exactly once; the HTTP side takes what arrived since its last call and may ask for
// cancellation (client gone), which the scheduler honours at its next step. Thread-safe.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <string>
#include <string_view>

namespace lrkv::serve {

enum class FinishReason { kNone, kStop, kLength, kCancelled, kError };
// "stop", "length", "cancelled", "error" ("" for kNone).
const char* finish_reason_name(FinishReason r);

struct Usage {
  int prompt_tokens = 0;
  int completion_tokens = 0;
};

// What the consumer gets from one wait().
struct StreamUpdate {
  std::string text;   // new text since the previous wait()
  bool done = false;  // finished: reason/usage/error are final
  FinishReason reason = FinishReason::kNone;
  Usage usage;
  std::string error;  // kError: what went wrong (one line)
};

class RequestStream {
 public:
  // Engine side.
  void append(std::string_view text);
  void finish(FinishReason reason, Usage usage, std::string error = {});
  bool cancel_requested() const { return cancelled_.load(std::memory_order_relaxed); }

  // HTTP side. Returns as soon as there is new text or the end, or after `timeout` (then
  // possibly with nothing new).
  StreamUpdate wait(std::chrono::milliseconds timeout);
  void cancel() { cancelled_.store(true, std::memory_order_relaxed); }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  std::string pending_;
  bool done_ = false;
  FinishReason reason_ = FinishReason::kNone;
  Usage usage_;
  std::string error_;
  std::atomic<bool> cancelled_{false};
};

}  // namespace lrkv::serve
