// The server's request parser (serve/api_request.h) on arbitrary bodies: byte 0 picks the endpoint
// and the max_tokens limit, the rest is the HTTP body. An accepted request must hold what the
// parser promises (ranges of every sampling field, stop strings, messages); anything else aborts.
#include <cmath>
#include <cstdlib>

#include "fuzz_util.h"
#include "serve/api_request.h"

namespace {

void check(bool ok) {
  if (!ok) std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace lrkv::serve;
  if (size < 1) return 0;
  const Endpoint endpoint = (data[0] & 1) ? Endpoint::kChat : Endpoint::kCompletions;
  RequestLimits limits;
  limits.max_tokens = 1 + (data[0] >> 1) * 37;
  const std::string_view body(reinterpret_cast<const char*>(data + 1), size - 1);
  ApiResult<ApiRequest> r = parse_api_request(endpoint, body, limits);
  if (!r.ok) {
    check(r.error.http_status >= 400 && r.error.http_status < 500);
    check(!r.error.message.empty());
    return 0;
  }
  const ApiRequest& q = r.value;
  check(q.endpoint == endpoint);
  check(std::isfinite(q.temperature) && q.temperature >= 0.0f && q.temperature <= 2.0f);
  check(std::isfinite(q.top_p) && q.top_p >= 0.0f && q.top_p <= 1.0f);
  check(q.top_k >= 0);
  check(!q.max_tokens || (*q.max_tokens >= 1 && *q.max_tokens <= limits.max_tokens));
  check(q.stop.size() <= RequestLimits::kMaxStops);
  for (const std::string& s : q.stop) check(!s.empty() && s.size() <= RequestLimits::kMaxStopBytes);
  if (endpoint == Endpoint::kChat) {
    check(!q.messages.empty() && q.messages.size() <= RequestLimits::kMaxMessages);
    for (const ChatMessage& m : q.messages) check(m.role == "system" || m.role == "user" || m.role == "assistant");
  }
  return 0;
}
