#include "serve/chat_template.h"

#include <algorithm>

namespace lrkv::serve {

namespace {

constexpr const char* kQwen2System = "You are a helpful assistant.";

struct FormatName {
  ChatFormat format;
  const char* name;
};
constexpr FormatName kFormats[] = {{ChatFormat::kLlama2, "llama2"},
                                   {ChatFormat::kLlama3, "llama3"},
                                   {ChatFormat::kMistral, "mistral"},
                                   {ChatFormat::kChatMl, "chatml"},
                                   {ChatFormat::kQwen2, "qwen2"}};

// Special pieces a format needs besides BOS/EOS (which every tokenizer has by id).
std::vector<std::string> special_pieces(ChatFormat f) {
  switch (f) {
    case ChatFormat::kLlama3:
      return {"<|start_header_id|>", "<|end_header_id|>", "<|eot_id|>"};
    case ChatFormat::kChatMl:
    case ChatFormat::kQwen2:
      return {"<|im_start|>", "<|im_end|>"};
    default:
      return {};
  }
}

std::string trim(const std::string& s) {
  const size_t b = s.find_first_not_of(" \t\n\r");
  if (b == std::string::npos) return "";
  return s.substr(b, s.find_last_not_of(" \t\n\r") - b + 1);
}

}  // namespace

const char* chat_format_name(ChatFormat f) {
  for (const auto& fn : kFormats) {
    if (fn.format == f) return fn.name;
  }
  return "?";
}

Result<ChatFormat> chat_format_by_name(const std::string& name) {
  for (const auto& fn : kFormats) {
    if (name == fn.name) return fn.format;
  }
  return make_error(ErrorCode::kInvalidArgument,
                    "--chat-template {}: expected llama2, llama3, mistral, chatml or qwen2", name);
}

Result<ChatFormat> chat_format_of_jinja(const std::string& jinja) {
  auto has = [&](const char* s) { return jinja.find(s) != std::string::npos; };
  if (has("<|start_header_id|>")) return ChatFormat::kLlama3;
  if (has("<|im_start|>")) return has(kQwen2System) ? ChatFormat::kQwen2 : ChatFormat::kChatMl;
  if (has("[INST]")) return has("<<SYS>>") ? ChatFormat::kLlama2 : ChatFormat::kMistral;
  return make_error(ErrorCode::kUnsupported,
                    "the model's chat template is not one lrkv knows; pass --chat-template llama2, "
                    "llama3, mistral, chatml or qwen2");
}

Result<ChatTemplate> ChatTemplate::create(ChatFormat format, const Tokenizer& tok) {
  ChatTemplate t(format, tok);
  const Vocab& v = tok.vocab();
  for (const std::string& piece : special_pieces(format)) {
    auto it = std::find(v.tokens.begin(), v.tokens.end(), piece);
    if (it == v.tokens.end()) {
      return make_error(ErrorCode::kInvalidArgument,
                        "--chat-template {}: the model's vocabulary has no {} token",
                        chat_format_name(format), piece);
    }
    t.specials_.emplace_back(piece, static_cast<int>(it - v.tokens.begin()));
  }
  t.stop_tokens_.push_back(tok.eos());
  if (format == ChatFormat::kLlama3) t.stop_tokens_.push_back(t.specials_[2].second);
  if (format == ChatFormat::kChatMl || format == ChatFormat::kQwen2) {
    t.stop_tokens_.push_back(t.specials_[1].second);
  }
  return t;
}

void ChatTemplate::text(const std::string& s, std::vector<int>* out) const {
  if (s.empty()) return;
  std::vector<int> ids = tok_->encode(s, false);
  out->insert(out->end(), ids.begin(), ids.end());
}

void ChatTemplate::special(const std::string& name, std::vector<int>* out) const {
  if (name == "<bos>") return out->push_back(tok_->bos());
  if (name == "<eos>") return out->push_back(tok_->eos());
  for (const auto& [piece, id] : specials_) {
    if (piece == name) return out->push_back(id);
  }
  LRKV_CHECK(false, "special token {} not resolved by create()", name);
}

// Llama-2 (Meta's chat_completion) and Mistral: the system message goes into the first user
// turn; each user/assistant pair is one BOS..EOS block.
void ChatTemplate::render_llama2(const std::vector<ChatMessage>& m, bool mistral,
                                 std::vector<int>* out) const {
  std::string system;
  size_t i = 0;
  if (!m.empty() && m[0].role == "system") system = trim(m[i++].content);
  bool first_user = true;
  special("<bos>", out);
  for (; i < m.size(); ++i) {
    std::string content = trim(m[i].content);
    if (m[i].role == "assistant") {
      text(mistral ? content : " " + content + " ", out);
      special("<eos>", out);
      if (!mistral) special("<bos>", out);
      continue;
    }
    if (first_user && !system.empty()) {
      content =
          mistral ? system + "\n\n" + content : "<<SYS>>\n" + system + "\n<</SYS>>\n\n" + content;
    }
    first_user = false;
    text("[INST] " + content + " [/INST]", out);
  }
}

void ChatTemplate::render_headers(const std::vector<ChatMessage>& m, std::vector<int>* out) const {
  special("<bos>", out);
  for (const ChatMessage& msg : m) {
    special("<|start_header_id|>", out);
    text(msg.role, out);
    special("<|end_header_id|>", out);
    text("\n\n" + trim(msg.content), out);
    special("<|eot_id|>", out);
  }
  special("<|start_header_id|>", out);
  text("assistant", out);
  special("<|end_header_id|>", out);
  text("\n\n", out);
}

void ChatTemplate::render_chatml(const std::vector<ChatMessage>& m, std::vector<int>* out) const {
  if (tok_->vocab().add_bos) special("<bos>", out);
  auto turn = [&](const std::string& role, const std::string& content) {
    special("<|im_start|>", out);
    text(role + "\n" + content, out);
    special("<|im_end|>", out);
    text("\n", out);
  };
  if (format_ == ChatFormat::kQwen2 && (m.empty() || m[0].role != "system"))
    turn("system", kQwen2System);
  for (const ChatMessage& msg : m) turn(msg.role, msg.content);
  special("<|im_start|>", out);
  text("assistant\n", out);
}

std::vector<int> ChatTemplate::render(const std::vector<ChatMessage>& messages) const {
  std::vector<int> out;
  switch (format_) {
    case ChatFormat::kLlama2:
      render_llama2(messages, false, &out);
      break;
    case ChatFormat::kMistral:
      render_llama2(messages, true, &out);
      break;
    case ChatFormat::kLlama3:
      render_headers(messages, &out);
      break;
    case ChatFormat::kChatMl:
    case ChatFormat::kQwen2:
      render_chatml(messages, &out);
      break;
  }
  return out;
}

Result<std::optional<ChatTemplate>> select_chat_template(const Model& model,
                                                         const std::string& flag) {
  if (!model.tokenizer) {
    if (flag.empty()) return std::optional<ChatTemplate>();
    return make_error(ErrorCode::kInvalidArgument, "--chat-template {}: the model has no tokenizer",
                      flag);
  }
  ChatFormat format;
  if (!flag.empty()) {
    LRKV_ASSIGN_OR_RETURN(format, chat_format_by_name(flag));
  } else {
    auto it = model.extra_metadata.find("tokenizer.chat_template");
    if (it == model.extra_metadata.end()) return std::optional<ChatTemplate>();
    LRKV_ASSIGN_OR_RETURN(format, chat_format_of_jinja(it->second));
  }
  LRKV_ASSIGN_OR_RETURN(ChatTemplate t, ChatTemplate::create(format, *model.tokenizer));
  return std::optional<ChatTemplate>(std::move(t));
}

}  // namespace lrkv::serve
