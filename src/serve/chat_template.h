// Chat templates: turn OpenAI chat messages into prompt tokens for the model's instruction
// format. Known formats (names for --chat-template):
//   llama2   <s>[INST] <<SYS>>\n{system}\n<</SYS>>\n\n{user} [/INST] {assistant} </s><s>[INST] ...
//   llama3   <|begin_of_text|><|start_header_id|>{role}<|end_header_id|>\n\n{content}<|eot_id|>...
//   mistral  <s>[INST] {system}\n\n{user} [/INST]{assistant}</s>[INST] ...
//   chatml   <|im_start|>{role}\n{content}<|im_end|>\n ... <|im_start|>assistant\n
//   qwen2    chatml with Qwen2's default system message when none is given
// A model's own template (GGUF tokenizer.chat_template, a Jinja string) is recognised by its
// marker tokens; lrkv does not run Jinja. Special tokens are inserted by id, text between them is
// encoded without BOS, so a template works with any tokenizer that has its special tokens.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "core/status.h"
#include "model/model.h"
#include "serve/api_request.h"

namespace lrkv::serve {

enum class ChatFormat { kLlama2, kLlama3, kMistral, kChatMl, kQwen2 };

const char* chat_format_name(ChatFormat f);
// "llama2" -> kLlama2 ...; the error lists the known names.
Result<ChatFormat> chat_format_by_name(const std::string& name);
// Recognises a Jinja chat template by its markers; the error says to pass --chat-template.
Result<ChatFormat> chat_format_of_jinja(const std::string& jinja);

// A format bound to a tokenizer, its special tokens resolved to ids. Thread-safe (const).
class ChatTemplate {
 public:
  // Fails when the tokenizer lacks a special token the format needs (e.g. <|im_start|>).
  static Result<ChatTemplate> create(ChatFormat format, const Tokenizer& tok);
  ChatFormat format() const { return format_; }
  // Prompt tokens for `messages`, ending where the assistant's reply starts.
  std::vector<int> render(const std::vector<ChatMessage>& messages) const;
  // Tokens that end the assistant's turn (EOS, plus <|eot_id|> / <|im_end|>).
  const std::vector<int>& stop_tokens() const { return stop_tokens_; }

 private:
  ChatTemplate(ChatFormat f, const Tokenizer& tok) : format_(f), tok_(&tok) {}
  // Appends text (no BOS) or, for a name in specials_, its token id.
  void text(const std::string& s, std::vector<int>* out) const;
  void special(const std::string& name, std::vector<int>* out) const;
  void render_llama2(const std::vector<ChatMessage>& m, bool mistral, std::vector<int>* out) const;
  void render_headers(const std::vector<ChatMessage>& m, std::vector<int>* out) const;
  void render_chatml(const std::vector<ChatMessage>& m, std::vector<int>* out) const;

  ChatFormat format_;
  const Tokenizer* tok_;
  std::vector<std::pair<std::string, int>> specials_;  // piece -> id
  std::vector<int> stop_tokens_;
};

// The template the server uses: --chat-template NAME if given, else the model's metadata
// (tokenizer.chat_template), else none (the chat endpoint then answers 400). An unknown name or
// an unrecognised model template is an error naming --chat-template.
Result<std::optional<ChatTemplate>> select_chat_template(const Model& model,
                                                         const std::string& flag);

}  // namespace lrkv::serve
