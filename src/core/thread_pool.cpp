#include "core/thread_pool.h"

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <memory>

namespace lrkv {

ThreadPool::ThreadPool(int n_threads) : n_threads_(std::max(1, n_threads)) {
  for (int i = 1; i < n_threads_; ++i) workers_.emplace_back([this, i] { worker_loop(i); });
}

ThreadPool::~ThreadPool() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stop_ = true;
  }
  cv_start_.notify_all();
  for (auto& t : workers_) t.join();
}

void ThreadPool::worker_loop(int index) {
  uint64_t seen = 0;
  for (;;) {
    const std::function<void(int64_t, int64_t)>* job;
    int64_t begin, end;
    {
      std::unique_lock<std::mutex> lock(mu_);
      cv_start_.wait(lock, [&] { return stop_ || generation_ != seen; });
      if (stop_) return;
      seen = generation_;
      if (index >= job_parts_) continue;
      job = job_;
      begin = index * job_chunk_;
      end = std::min(job_n_, begin + job_chunk_);
    }
    if (begin < end) (*job)(begin, end);
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (--pending_ == 0) cv_done_.notify_one();
    }
  }
}

void ThreadPool::parallel_for(int64_t n, int64_t grain,
                              const std::function<void(int64_t, int64_t)>& fn) {
  if (n <= 0) return;
  grain = std::max<int64_t>(1, grain);
  int parts = static_cast<int>(std::min<int64_t>(n_threads_, (n + grain - 1) / grain));
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (busy_) parts = 1;  // nested call from a task: run inline
  }
  if (parts <= 1) {
    fn(0, n);
    return;
  }
  const int64_t chunk = (n + parts - 1) / parts;
  parts = static_cast<int>((n + chunk - 1) / chunk);
  {
    std::lock_guard<std::mutex> lock(mu_);
    busy_ = true;
    job_ = &fn;
    job_n_ = n;
    job_chunk_ = chunk;
    job_parts_ = parts;
    pending_ = parts - 1;
    ++generation_;
  }
  cv_start_.notify_all();
  fn(0, std::min(n, chunk));
  std::unique_lock<std::mutex> lock(mu_);
  cv_done_.wait(lock, [&] { return pending_ == 0; });
  busy_ = false;
  job_ = nullptr;
}

namespace {
std::unique_ptr<ThreadPool>& pool_slot() {
  static std::unique_ptr<ThreadPool> pool;
  return pool;
}
int default_threads() {
  auto env = threads_from_env();
  if (env.ok() && *env > 0) return *env;
  return static_cast<int>(std::clamp<unsigned>(std::thread::hardware_concurrency(), 1, kMaxThreads));
}
}  // namespace

Status check_thread_count(int64_t n, const std::string& what) {
  if (n < 1 || n > kMaxThreads) {
    return make_error(ErrorCode::kInvalidArgument, "{} {}: expected a thread count in 1..{}", what,
                      n, kMaxThreads);
  }
  return Status::Ok();
}

Result<int> threads_from_env() {
  const char* env = std::getenv("LRKV_THREADS");
  if (env == nullptr || *env == '\0') return 0;
  char* end = nullptr;
  errno = 0;
  const long long n = std::strtoll(env, &end, 10);
  if (errno != 0 || end == env || *end != '\0' || n < 1 || n > kMaxThreads) {
    return make_error(ErrorCode::kInvalidArgument,
                      "LRKV_THREADS='{}': expected a thread count in 1..{}", env, kMaxThreads);
  }
  return static_cast<int>(n);
}

ThreadPool& global_pool() {
  auto& slot = pool_slot();
  if (!slot) slot = std::make_unique<ThreadPool>(default_threads());
  return *slot;
}

void set_global_threads(int n) {
  pool_slot() = std::make_unique<ThreadPool>(n > 0 ? std::min(n, kMaxThreads) : default_threads());
}

}  // namespace lrkv
