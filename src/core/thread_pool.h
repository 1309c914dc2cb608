// A fixed pool of worker threads with a blocking parallel_for. Thread-safe to call from one
// thread at a time (calls from inside a task run serially, so nested use cannot deadlock).
#pragma once

#include <condition_variable>
#include <cstdint>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

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

// The process-wide pool used by CPU kernels. Size = LRKV_THREADS env var, else hardware threads.
ThreadPool& global_pool();
// Resizes the global pool (e.g. from --threads). Not thread-safe with running work.
void set_global_threads(int n);

}  // namespace lrkv
