#include "model/bpe_tokenizer.h"

#include <algorithm>
#include <array>
#include <queue>

#include "model/utf8.h"

namespace lrkv {

namespace {
// GPT-2's printable bytes stand for themselves: '!'..'~', '¡'..'¬', '®'..'ÿ'.
bool printable_byte(int b) { return (b >= 33 && b <= 126) || (b >= 161 && b <= 172) || b >= 174; }

const std::array<uint32_t, 256>& byte_to_cp_table() {
  static const std::array<uint32_t, 256> table = [] {
    std::array<uint32_t, 256> t{};
    uint32_t next = 256;
    for (int b = 0; b < 256; ++b) t[b] = printable_byte(b) ? static_cast<uint32_t>(b) : next++;
    return t;
  }();
  return table;
}
}  // namespace

uint32_t bpe_byte_to_codepoint(uint8_t b) { return byte_to_cp_table()[b]; }

int bpe_codepoint_to_byte(uint32_t cp) {
  static const std::array<int16_t, 512> inverse = [] {  // the alphabet lies in U+0000..U+0143
    std::array<int16_t, 512> inv;
    inv.fill(-1);
    for (int b = 0; b < 256; ++b) inv[byte_to_cp_table()[b]] = static_cast<int16_t>(b);
    return inv;
  }();
  return cp < inverse.size() ? inverse[cp] : -1;
}

Result<std::unique_ptr<Tokenizer>> BpeTokenizer::create(Vocab vocab) {
  std::unique_ptr<BpeTokenizer> t(new BpeTokenizer(std::move(vocab)));
  const Vocab& v = t->vocab_;
  t->pre_ = pretokenizer_from_name(v.pre);
  t->ignore_merges_ = t->pre_ == PreTokenizer::kLlama3;
  t->specials_by_byte_.resize(256);
  for (size_t i = 0; i < v.tokens.size(); ++i) {
    const TokenType type = i < v.types.size() ? v.types[i] : TokenType::kNormal;
    const int id = static_cast<int>(i);
    if (type == TokenType::kControl || type == TokenType::kUserDefined) {
      if (!v.tokens[i].empty())
        t->specials_by_byte_[static_cast<uint8_t>(v.tokens[i][0])].push_back(id);
    } else if (type != TokenType::kUnused) {
      t->piece_to_id_.emplace(v.tokens[i], id);  // first wins
    }
  }
  for (auto& ids : t->specials_by_byte_) {
    std::stable_sort(ids.begin(), ids.end(),
                     [&](int a, int b) { return v.tokens[a].size() > v.tokens[b].size(); });
  }
  for (size_t r = 0; r < v.merges.size(); ++r) {
    const std::string& m = v.merges[r];
    const size_t sp = m.find(' ');
    if (sp == std::string::npos || sp == 0 || sp + 1 == m.size()) {
      return make_error(ErrorCode::kCorruptFile, "tokenizer: merge {} '{}' is not 'left right'", r,
                        m);
    }
    t->merge_rank_.emplace(m, static_cast<int>(r));
  }
  for (int b = 0; b < 256; ++b) {
    std::string piece;
    utf8_append(piece, bpe_byte_to_codepoint(static_cast<uint8_t>(b)));
    auto it = t->piece_to_id_.find(piece);
    t->byte_token_[b] = it == t->piece_to_id_.end() ? -1 : it->second;
  }
  return std::unique_ptr<Tokenizer>(std::move(t));
}

size_t BpeTokenizer::match_special(std::string_view text, size_t i, int* id) const {
  for (int s : specials_by_byte_[static_cast<uint8_t>(text[i])]) {
    const std::string& p = vocab_.tokens[s];
    if (text.compare(i, p.size(), p) == 0) {
      *id = s;
      return p.size();
    }
  }
  return 0;
}

void BpeTokenizer::encode_word(std::string_view word, std::vector<int>* out) const {
  // Symbols: a linked list of byte ranges of `mapped` (the word in the byte alphabet).
  std::string mapped;
  for (char c : word) utf8_append(mapped, bpe_byte_to_codepoint(static_cast<uint8_t>(c)));
  if (ignore_merges_) {
    if (auto it = piece_to_id_.find(mapped); it != piece_to_id_.end()) {
      out->push_back(it->second);
      return;
    }
  }
  struct Sym {
    int prev, next;
    size_t start, len;
  };
  std::vector<Sym> syms;
  for (size_t i = 0; i < mapped.size();) {
    const size_t n = utf8_char_len(static_cast<uint8_t>(mapped[i]));
    syms.push_back({static_cast<int>(syms.size()) - 1, static_cast<int>(syms.size()) + 1, i, n});
    i += n;
  }
  if (syms.empty()) return;
  syms.back().next = -1;
  struct Cand {
    int rank, left;
    size_t len;                            // merged length, to detect stale candidates
    bool operator<(const Cand& o) const {  // min-heap: lower rank, then leftmost
      return rank > o.rank || (rank == o.rank && left > o.left);
    }
  };
  std::priority_queue<Cand> heap;
  auto try_pair = [&](int left) {
    if (left < 0 || syms[left].next < 0) return;
    const Sym& a = syms[left];
    const Sym& b = syms[a.next];
    std::string key = mapped.substr(a.start, a.len);
    key += ' ';
    key.append(mapped, b.start, b.len);
    if (auto it = merge_rank_.find(key); it != merge_rank_.end()) {
      heap.push({it->second, left, a.len + b.len});
    }
  };
  for (int i = 0; i + 1 < static_cast<int>(syms.size()); ++i) try_pair(i);
  while (!heap.empty()) {
    const Cand c = heap.top();
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
    const std::string piece = mapped.substr(syms[i].start, syms[i].len);
    if (auto it = piece_to_id_.find(piece); it != piece_to_id_.end()) {
      out->push_back(it->second);
      continue;
    }
    for (size_t k = 0; k < piece.size();) {  // not in the vocabulary: one token per byte
      const int b = bpe_codepoint_to_byte(utf8_next(piece, k));
      const int id = b >= 0 ? byte_token_[b] : -1;
      out->push_back(id >= 0 ? id : vocab_.unk_id);
    }
  }
}

std::vector<int> BpeTokenizer::encode(std::string_view text, bool add_bos) const {
  std::vector<int> out;
  if (add_bos && vocab_.bos_id >= 0) out.push_back(vocab_.bos_id);
  auto plain = [&](std::string_view seg) {
    for (std::string_view w : pretokenize(seg, pre_)) encode_word(w, &out);
  };
  size_t start = 0;
  for (size_t i = 0; i < text.size();) {
    int id = -1;
    const size_t n = match_special(text, i, &id);
    if (n == 0) {
      ++i;
      continue;
    }
    plain(text.substr(start, i - start));
    out.push_back(id);
    i += n;
    start = i;
  }
  plain(text.substr(start));
  return out;
}

std::string BpeTokenizer::token_text(int id) const {
  if (id < 0 || id >= n_vocab()) return "";
  const TokenType type =
      id < static_cast<int>(vocab_.types.size()) ? vocab_.types[id] : TokenType::kNormal;
  if (type == TokenType::kControl || type == TokenType::kUnknown || type == TokenType::kUnused)
    return "";
  const std::string& p = vocab_.tokens[id];
  if (type == TokenType::kUserDefined) return p;  // added tokens are stored as plain text
  std::string s;
  for (size_t i = 0; i < p.size();) {
    const uint32_t cp = utf8_next(p, i);
    const int b = bpe_codepoint_to_byte(cp);
    if (b >= 0) {
      s += static_cast<char>(b);
    } else {
      utf8_append(s, cp);
    }
  }
  return s;
}

}  // namespace lrkv
