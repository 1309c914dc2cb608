#include "model/sentencepiece_tokenizer.h"

#include <queue>

#include "model/utf8.h"

namespace lrkv {

namespace {
constexpr std::string_view kSpace = "\xE2\x96\x81";  // U+2581 "▁"

bool parse_byte_piece(const std::string& piece, int* byte) {
  // Exactly "<0x" + two hex digits + ">" (sscanf's %X would also take "-1" or " 1").
  if (piece.size() != 6 || piece.compare(0, 3, "<0x") != 0 || piece[5] != '>') return false;
  const auto hex = [](char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    return -1;
  };
  const int hi = hex(piece[3]), lo = hex(piece[4]);
  if (hi < 0 || lo < 0) return false;
  *byte = hi * 16 + lo;
  return true;
}
}  // namespace

Result<std::unique_ptr<Tokenizer>> SentencePieceTokenizer::create(Vocab vocab) {
  std::unique_ptr<SentencePieceTokenizer> t(new SentencePieceTokenizer(std::move(vocab)));
  const Vocab& v = t->vocab_;
  std::fill(std::begin(t->byte_token_), std::end(t->byte_token_), -1);
  t->piece_to_id_.reserve(v.tokens.size() * 2);
  for (size_t i = 0; i < v.tokens.size(); ++i) {
    int b;
    const bool is_byte_type = i < v.types.size() && v.types[i] == TokenType::kByte;
    if (parse_byte_piece(v.tokens[i], &b) && (is_byte_type || v.types.empty() ||
                                              v.types[i] == TokenType::kNormal)) {
      if (t->byte_token_[b] < 0) t->byte_token_[b] = static_cast<int>(i);
      continue;
    }
    const bool control = i < v.types.size() && (v.types[i] == TokenType::kControl ||
                                                 v.types[i] == TokenType::kUnknown);
    if (!control) t->piece_to_id_.emplace(v.tokens[i], static_cast<int>(i));  // first wins
  }
  return std::unique_ptr<Tokenizer>(std::move(t));
}

void SentencePieceTokenizer::encode_chunk(std::string_view text, std::vector<int>* out) const {
  // Symbols: a doubly linked list of byte ranges [start, start+len) of `text`.
  struct Sym {
    int prev, next;
    size_t start, len;
  };
  std::vector<Sym> syms;
  for (size_t i = 0; i < text.size();) {
    const size_t n = std::min(utf8_char_len(static_cast<uint8_t>(text[i])), text.size() - i);
    syms.push_back({static_cast<int>(syms.size()) - 1, static_cast<int>(syms.size()) + 1, i, n});
    i += n;
  }
  if (syms.empty()) return;
  syms.back().next = -1;

  struct Cand {
    float score;
    int left;
    size_t len;  // merged length, to detect stale candidates
    int id;
    bool operator<(const Cand& o) const {  // max-heap: higher score, then smaller left
      return score < o.score || (score == o.score && left > o.left);
    }
  };
  std::priority_queue<Cand> heap;
  auto try_pair = [&](int left) {
    if (left < 0 || syms[left].next < 0) return;
    const Sym& a = syms[left];
    const Sym& b = syms[a.next];
    auto it = piece_to_id_.find(std::string(text.substr(a.start, a.len + b.len)));
    if (it == piece_to_id_.end()) return;
    const float score = it->second < static_cast<int>(vocab_.scores.size()) ? vocab_.scores[it->second] : 0.0f;
    heap.push({score, left, a.len + b.len, it->second});
  };
  for (int i = 0; i + 1 < static_cast<int>(syms.size()); ++i) try_pair(i);
  while (!heap.empty()) {
    Cand c = heap.top();
    heap.pop();
    Sym& a = syms[c.left];
    if (a.len == 0 || a.next < 0 || a.len + syms[a.next].len != c.len) continue;  // stale
    Sym& b = syms[a.next];
    a.len += b.len;
    b.len = 0;
    a.next = b.next;
    if (a.next >= 0) syms[a.next].prev = c.left;
    try_pair(a.prev);
    try_pair(c.left);
  }
  for (int i = 0; i >= 0; i = syms[i].next) {
    const Sym& s = syms[i];
    auto it = piece_to_id_.find(std::string(text.substr(s.start, s.len)));
    if (it != piece_to_id_.end()) {
      out->push_back(it->second);
      continue;
    }
    for (size_t k = 0; k < s.len; ++k) {  // byte fallback
      const int id = byte_token_[static_cast<uint8_t>(text[s.start + k])];
      out->push_back(id >= 0 ? id : vocab_.unk_id);
    }
  }
}

std::vector<int> SentencePieceTokenizer::encode(std::string_view text, bool add_bos) const {
  std::vector<int> out;
  if (add_bos) out.push_back(vocab_.bos_id);
  if (text.empty()) return out;
  std::string norm;
  norm.reserve(text.size() * 2 + 3);
  if (vocab_.add_space_prefix) norm += kSpace;
  for (char c : text) {
    if (c == ' ') {
      norm += kSpace;
    } else {
      norm += c;
    }
  }
  // Merges never cross a newline in practice (no piece contains "\n" followed by text), but to
  // keep it exact we encode the whole text as one chunk.
  encode_chunk(norm, &out);
  return out;
}

std::string SentencePieceTokenizer::token_text(int id) const {
  if (id < 0 || id >= n_vocab()) return "";
  if (id < static_cast<int>(vocab_.types.size())) {
    const TokenType t = vocab_.types[id];
    if (t == TokenType::kControl || t == TokenType::kUnknown || t == TokenType::kUnused) return "";
  }
  const std::string& p = vocab_.tokens[id];
  int b;
  if (parse_byte_piece(p, &b) && byte_token_[b] == id) return std::string(1, static_cast<char>(b));
  std::string s;
  for (size_t i = 0; i < p.size();) {
    if (p.compare(i, kSpace.size(), kSpace) == 0) {
      s += ' ';
      i += kSpace.size();
    } else {
      s += p[i++];
    }
  }
  return s;
}

std::string SentencePieceTokenizer::decode(const std::vector<int>& ids) const {
  std::string s;
  bool first = true;
  for (int id : ids) {
    std::string t = token_text(id);
    if (t.empty()) continue;
    if (first && vocab_.add_space_prefix && t[0] == ' ') t.erase(0, 1);  // the dummy prefix
    first = false;
    s += t;
  }
  return s;
}

}  // namespace lrkv
