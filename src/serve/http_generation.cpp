// POST /v1/completions and /v1/chat/completions: parse, validate, submit, then answer from the
// request's stream. Both modes use a chunked body so a vanished client is noticed while its
// request runs (a failed write cancels it; the scheduler frees the slot at its next step):
//   stream: SSE chunks as text arrives, ": ping" comments during long silences, a last chunk
//           with finish_reason, an optional usage chunk, then "data: [DONE]".
//   whole:  one JSON body when done; while waiting longer than a second, single spaces (JSON
//           whitespace, ignored by every parser) probe the connection.
#include <chrono>

#include "serve/http_routes.h"
#include "serve/openai_response.h"

namespace lrkv::serve {

namespace {

using Clock = std::chrono::steady_clock;
constexpr auto kPoll = std::chrono::milliseconds(200);
constexpr auto kProbeAfter = std::chrono::seconds(1);

struct PendingResponse {
  std::shared_ptr<RequestStream> stream;
  ResponseId id;
  bool include_usage = false;
  std::string text;       // whole mode: the completion so far
  bool first = true;      // stream mode: no content chunk sent yet
  bool finished = false;  // the response was written completely
  Clock::time_point last_write = Clock::now();
};

bool write(httplib::DataSink& sink, const std::string& s) { return sink.write(s.data(), s.size()); }

std::string engine_error(const StreamUpdate& u) {
  return ApiError{500, "generation failed: " + u.error, "server_error", "", ""}.to_json();
}

bool provide_whole(PendingResponse& p, httplib::DataSink& sink) {
  StreamUpdate u = p.stream->wait(kPoll);
  p.text += u.text;
  if (!u.done) {
    if (Clock::now() - p.last_write < kProbeAfter) return true;
    p.last_write = Clock::now();
    return write(sink, " ");
  }
  const std::string body = u.reason == FinishReason::kError
                               ? engine_error(u)
                               : completion_body(p.id, p.text, u.reason, u.usage);
  if (!write(sink, body)) return false;
  sink.done();
  p.finished = true;
  return true;
}

bool provide_sse(PendingResponse& p, httplib::DataSink& sink) {
  StreamUpdate u = p.stream->wait(kPoll);
  std::string out;
  if (!u.text.empty()) {
    out += sse_event(chunk_body(p.id, u.text, FinishReason::kNone, p.first));
    p.first = false;
  }
  if (u.done) {
    out += sse_event(u.reason == FinishReason::kError ? engine_error(u)
                                                      : chunk_body(p.id, "", u.reason, p.first));
    if (p.include_usage) out += sse_event(usage_chunk_body(p.id, u.usage));
    out += "data: [DONE]\n\n";
  } else if (out.empty() && Clock::now() - p.last_write >= kProbeAfter) {
    out = ": ping\n\n";
  }
  if (!out.empty()) {
    if (!write(sink, out)) return false;
    p.last_write = Clock::now();
  }
  if (u.done) {
    sink.done();
    p.finished = true;
  }
  return true;
}

}  // namespace

void handle_generation(const RouteContext& ctx, Endpoint endpoint, const httplib::Request& req,
                       httplib::Response& res) {
  ++ctx.metrics->requests_total;
  ApiResult<ApiRequest> parsed = parse_api_request(endpoint, req.body, ctx.limits);
  if (!parsed.ok) {
    ++ctx.metrics->requests_rejected;
    return reply_error(res, parsed.error);
  }
  ApiResult<GenerationRequest> gen = build_generation(parsed.value, ctx.prompt);
  if (!gen.ok) {
    ++ctx.metrics->requests_rejected;
    return reply_error(res, gen.error);
  }
  auto p = std::make_shared<PendingResponse>();
  p->stream = ctx.scheduler->submit(std::move(gen.value));
  p->id =
      new_response_id(endpoint, parsed.value.model.empty() ? ctx.model_name : parsed.value.model);
  p->include_usage = parsed.value.include_usage;
  auto release = [p](bool) {
    if (!p->finished) p->stream->cancel();
  };
  if (parsed.value.stream) {
    res.set_header("Cache-Control", "no-cache");
    res.set_chunked_content_provider(
        "text/event-stream", [p](size_t, httplib::DataSink& sink) { return provide_sse(*p, sink); },
        release);
  } else {
    res.set_chunked_content_provider(
        "application/json",
        [p](size_t, httplib::DataSink& sink) { return provide_whole(*p, sink); }, release);
  }
}

}  // namespace lrkv::serve
