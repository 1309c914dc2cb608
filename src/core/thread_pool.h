// A fixed pool of worker threads with a blocking parallel_for. Thread-safe to call from one
// thread at a time (calls from inside a task run serially, so nested use cannot deadlock).
#pragma once

#include <condition_variable>
#include <cstdint>
#include <functional>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "core/status.h"

namespace lrkv {

class ThreadPool {
 public:
  explicit ThreadPool(int n_threads);
  ~ThreadPool();
  ThreadPool(const ThreadPool&) = delete;
  ThreadPool& operator=(const ThreadPool&) = delete;

  int size() const { return n_threads_; }
  // Runs fn(begin, end) over [0, n) split into contiguous chunks of at least `grain` items,
  // one chunk per thread at most; the calling thread takes part. Blocks until all are done.
  void parallel_for(int64_t n, int64_t grain, const std::function<void(int64_t, int64_t)>& fn);

 private:
  void worker_loop(int index);

  int n_threads_;
  std::vector<std::thread> workers_;
  std::mutex mu_;
  std::condition_variable cv_start_, cv_done_;
  const std::function<void(int64_t, int64_t)>* job_ = nullptr;
  int64_t job_n_ = 0, job_chunk_ = 0;
  int job_parts_ = 0;
  uint64_t generation_ = 0;
  int pending_ = 0;
  bool stop_ = false;
  bool busy_ = false;
};

// Thread counts accepted from flags and LRKV_THREADS: 1..kMaxThreads (more would only cost memory
// for stacks; std::thread throws std::system_error long before 100000).
constexpr int kMaxThreads = 1024;

// kInvalidArgument naming `what` (e.g. "--threads") unless 1 <= n <= kMaxThreads.
Status check_thread_count(int64_t n, const std::string& what);
// LRKV_THREADS parsed strictly: 0 when unset, else an integer in 1..kMaxThreads or an error
// naming the variable and its value.
Result<int> threads_from_env();

// The process-wide pool used by CPU kernels. Size = LRKV_THREADS env var when valid (an invalid
// value is reported by threads_from_env, which main() calls first), else hardware threads.
ThreadPool& global_pool();
// Resizes the global pool (e.g. from --threads); n <= 0 means the default, n is clamped to
// kMaxThreads. Not thread-safe with running work.
void set_global_threads(int n);

}  // namespace lrkv
