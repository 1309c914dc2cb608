#include "serve/metrics.h"

#include <fmt/format.h>
#include <unistd.h>

#include <cstdio>

namespace lrkv::serve {

namespace {

void put(std::string* out, const char* name, const char* type, const char* help, int64_t v) {
  *out += fmt::format("# HELP lrkv_{} {}\n# TYPE lrkv_{} {}\nlrkv_{} {}\n", name, help, name, type,
                      name, v);
}

// Resident set size of this process from /proc/self/statm (0 where it cannot be read).
int64_t resident_bytes() {
  FILE* f = std::fopen("/proc/self/statm", "r");
  if (!f) return 0;
  long size = 0, resident = 0;
  const int n = std::fscanf(f, "%ld %ld", &size, &resident);
  std::fclose(f);
  return n == 2 ? int64_t{resident} * sysconf(_SC_PAGESIZE) : 0;
}

}  // namespace

std::string Metrics::render() const {
  std::string o;
  put(&o, "requests_total", "counter", "Generation requests received", requests_total);
  put(&o, "requests_rejected_total", "counter", "Requests answered 4xx before scheduling",
      requests_rejected);
  put(&o, "requests_unauthorized_total", "counter", "Requests without a valid API key",
      requests_unauthorized);
  put(&o, "requests_finished_total", "counter", "Requests finished (stop or length)",
      requests_finished);
  put(&o, "requests_cancelled_total", "counter", "Requests cancelled by a client disconnect",
      requests_cancelled);
  put(&o, "requests_failed_total", "counter", "Requests failed by an engine error",
      requests_failed);
  put(&o, "prompt_tokens_total", "counter", "Prompt tokens prefilled", prompt_tokens_total);
  put(&o, "generated_tokens_total", "counter", "Tokens generated", generated_tokens_total);
  put(&o, "engine_steps_total", "counter", "Engine forward steps", steps_total);
  put(&o, "sequences_running", "gauge", "Sequences holding a KV slot", running);
  put(&o, "sequences_queued", "gauge", "Requests waiting for a KV slot", queued);
  put(&o, "kv_slots_total", "gauge", "KV sequence slots", kv_slots_total);
  put(&o, "kv_slots_used", "gauge", "KV sequence slots in use", running);
  put(&o, "kv_slots_free", "gauge", "KV sequence slots free", kv_slots_total - running);
  put(&o, "kv_tokens_used", "gauge", "Tokens stored in the KV cache", kv_tokens_used);
  put(&o, "kv_tokens_capacity", "gauge",
      "Tokens the KV cache can hold (blocks x block tokens; slots x ctx when not paged)",
      kv_tokens_capacity);
  put(&o, "kv_blocks_total", "gauge", "Paged KV cache blocks (0: not paged)", kv_blocks_total);
  put(&o, "kv_block_tokens", "gauge", "Tokens per KV cache block", kv_block_tokens);
  put(&o, "kv_blocks_used", "gauge", "KV blocks held by sequences", kv_blocks_used);
  put(&o, "kv_blocks_free", "gauge", "KV blocks free (cached prompt blocks included)",
      kv_blocks_total - kv_blocks_used);
  put(&o, "kv_blocks_cached", "gauge", "KV blocks registered for prefix sharing",
      kv_blocks_cached);
  put(&o, "prefix_cached_tokens_total", "counter",
      "Prompt tokens taken from shared cached blocks instead of computed",
      prefix_cached_tokens_total);
  put(&o, "preemptions_total", "counter", "Sequences preempted for lack of KV blocks",
      preemptions_total);
  put(&o, "recomputed_tokens_total", "counter", "Tokens prefilled again after a preemption",
      recomputed_tokens_total);
  put(&o, "kv_bytes_per_token", "gauge", "KV cache bytes per token, all layers",
      kv_bytes_per_token);
  put(&o, "kv_allocated_bytes", "gauge", "Bytes reserved by the KV cache", kv_allocated_bytes);
  put(&o, "process_resident_bytes", "gauge", "Resident memory of the server process", resident_bytes());
  return o;
}

}  // namespace lrkv::serve
