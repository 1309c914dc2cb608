#include "serve/request_stream.h"

#include "core/status.h"

namespace lrkv::serve {

const char* finish_reason_name(FinishReason r) {
  switch (r) {
    case FinishReason::kNone:
      return "";
    case FinishReason::kStop:
      return "stop";
    case FinishReason::kLength:
      return "length";
    case FinishReason::kCancelled:
      return "cancelled";
    case FinishReason::kError:
      return "error";
  }
  return "";
}

void RequestStream::append(std::string_view text) {
  if (text.empty()) return;
  {
    std::lock_guard<std::mutex> lock(mu_);
    LRKV_CHECK(!done_, "append after finish");
    pending_.append(text);
  }
  cv_.notify_all();
}

void RequestStream::finish(FinishReason reason, Usage usage, std::string error) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    LRKV_CHECK(!done_, "finish called twice");
    done_ = true;
    reason_ = reason;
    usage_ = usage;
    error_ = std::move(error);
  }
  cv_.notify_all();
}

StreamUpdate RequestStream::wait(std::chrono::milliseconds timeout) {
  std::unique_lock<std::mutex> lock(mu_);
  cv_.wait_for(lock, timeout, [&] { return done_ || !pending_.empty(); });
  StreamUpdate u;
  u.text.swap(pending_);
  u.done = done_;
  u.reason = reason_;
  u.usage = usage_;
  u.error = error_;
  return u;
}

}  // namespace lrkv::serve
