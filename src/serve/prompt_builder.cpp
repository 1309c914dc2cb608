#include "serve/prompt_builder.h"

#include <algorithm>
#include <random>

namespace lrkv::serve {

namespace {

ApiError too_long(const std::string& param, const std::string& what, size_t tokens, int ctx) {
  ApiError e = invalid_param(param, "{} ({} tokens) does not fit the context of {} tokens", what,
                             tokens, ctx);
  e.code = "context_length_exceeded";
  return e;
}

size_t text_bytes(const ApiRequest& r) {
  size_t n = r.prompt.size();
  for (const ChatMessage& m : r.messages) n += m.content.size() + m.role.size();
  return n;
}

SamplerOptions sampler_options(const ApiRequest& r) {
  SamplerOptions s;
  s.temperature = r.temperature;
  s.top_p = r.top_p;
  s.top_k = r.top_k;
  s.seed = r.seed ? *r.seed : std::random_device{}();
  return s;
}

}  // namespace

size_t longest_piece_bytes(const Tokenizer& tok) {
  size_t n = 1;
  for (const std::string& p : tok.vocab().tokens) n = std::max(n, p.size());
  return n;
}

ApiResult<GenerationRequest> build_generation(const ApiRequest& r, const PromptContext& c) {
  const bool chat = r.endpoint == Endpoint::kChat;
  const std::string param = chat ? "messages" : "prompt";
  if (chat && c.chat == nullptr) {
    return invalid_param(
        "messages",
        "this model has no chat template; restart the server with --chat-template NAME "
        "or use /v1/completions");
  }
  if (text_bytes(r) > static_cast<size_t>(c.ctx) * c.max_piece_bytes) {
    ApiError e = invalid_param(param, "the {} ({} bytes) cannot fit the context of {} tokens",
                               param, text_bytes(r), c.ctx);
    e.code = "context_length_exceeded";
    return e;
  }
  GenerationRequest g;
  g.prompt = chat ? c.chat->render(r.messages) : c.tok->encode(r.prompt, c.tok->vocab().add_bos);
  if (g.prompt.empty())
    return invalid_param("prompt", "the prompt is empty and the model adds no BOS token");
  const size_t room = g.prompt.size() < static_cast<size_t>(c.ctx) ? c.ctx - g.prompt.size() : 0;
  if (room == 0) return too_long(param, "the prompt", g.prompt.size(), c.ctx);
  if (r.max_tokens && static_cast<size_t>(*r.max_tokens) > room) {
    return too_long("max_tokens", fmt::format("the prompt plus max_tokens {}", *r.max_tokens),
                    g.prompt.size() + *r.max_tokens, c.ctx);
  }
  g.max_tokens =
      r.max_tokens ? *r.max_tokens : static_cast<int>(chat ? room : std::min<size_t>(16, room));
  g.sampling = sampler_options(r);
  g.stop = r.stop;
  if (!r.ignore_eos) g.stop_tokens = chat ? c.chat->stop_tokens() : std::vector<int>{c.tok->eos()};
  return g;
}

}  // namespace lrkv::serve
