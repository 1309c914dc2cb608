// Load generator for any OpenAI-compatible server (`lrkv bench-serve`): `concurrency` clients
// each send requests back to back until `requests` have been sent, with a synthetic prompt of
// about `prompt_len` tokens and max_tokens = gen_len (ignore_eos set, so servers that honour it
// generate exactly gen_len). Measures request and token throughput, time to first token (TTFT,
// streaming), inter-token latency (ITL: gaps between content chunks) and end-to-end latency.
// Soak mode: `duration_s` runs until that many seconds have passed instead of `requests`;
// `random_lengths` draws each request's prompt (4..prompt_len) and generation (1..gen_len)
// lengths; `disconnect_rate` is the fraction of requests the client abandons part-way (streamed:
// after a random number of chunks; whole: at the first bytes), counted apart from errors. Every
// draw is seeded by the request's index, so a run is repeatable.
#pragma once

#include <string>
#include <utility>
#include <vector>

#include "core/status.h"

namespace lrkv::serve {

struct LoadOptions {
  std::string url = "http://127.0.0.1:8080";  // scheme://host:port
  int concurrency = 1;
  int prompt_len = 128;  // approximate tokens (common one-token English words)
  int gen_len = 128;
  int requests = 16;
  bool stream = false;
  bool chat = false;  // /v1/chat/completions instead of /v1/completions
  std::string api_key;
  std::string model;    // "model" field ("" = omitted)
  int timeout_s = 600;  // per request
  double duration_s = 0;      // > 0: run for this long (requests is then ignored)
  bool random_lengths = false;
  double disconnect_rate = 0;  // in [0, 1]
};

struct LoadReport {
  int ok = 0;
  int errors = 0;     // failed or lost: no complete response and not abandoned
  int abandoned = 0;  // disconnected on purpose (disconnect_rate)
  int planned_disconnects = 0;  // requests drawn to hang up (a reply can still beat the client)
  int retried = 0;  // sent again on a fresh connection after the kept-alive one failed unanswered
  std::string first_error;
  double wall_s = 0;
  long prompt_tokens = 0;      // from usage (when the server reports it)
  long completion_tokens = 0;  // from usage, else counted chunks
  std::vector<double> ttft_ms, itl_ms, latency_ms;
  // Streamed requests: tokens after each one's first, and its [first, last] token times (s from
  // the start of the run).
  long decode_tokens = 0;
  std::vector<std::pair<double, double>> decode_spans;
};

// Percentile p in [0, 100] of `v` (nearest rank); 0 for an empty vector.
double percentile(std::vector<double> v, double p);

// Runs the load. Fails only on bad options; request failures are counted in the report.
Result<LoadReport> run_load(const LoadOptions& o);

// Aggregate decode rate: decode_tokens over the time during which at least one request was
// between its first and last token (the union of decode_spans). With every request in flight at
// once this is the batch's decode throughput; prefills that stall the decodes count against it.
double decode_tokens_per_s(const LoadReport& r);

// A llama-bench style summary (requests/s, tokens/s, TTFT/ITL/latency p50/p99, errors).
std::string format_report(const LoadOptions& o, const LoadReport& r);

}  // namespace lrkv::serve
