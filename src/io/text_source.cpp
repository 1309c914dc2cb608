#include "io/text_source.h"

#include <nlohmann/json.hpp>

#include <cmath>
#include <sstream>

#include "core/mmap_file.h"

namespace lrkv {

namespace {

bool ends_with(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

// One endpoint: integer index, or percentage of n (rounded down).
Result<size_t> parse_endpoint(const std::string& s, size_t n, const std::string& whole) {
  try {
    size_t used = 0;
    if (!s.empty() && s.back() == '%') {
      const double pct = std::stod(s.substr(0, s.size() - 1), &used);
      if (used != s.size() - 1 || pct < 0 || pct > 100) throw std::invalid_argument(s);
      return static_cast<size_t>(std::floor(pct / 100.0 * n + 1e-9));
    }
    const long long v = std::stoll(s, &used);
    if (used != s.size() || v < 0) throw std::invalid_argument(s);
    return std::min(static_cast<size_t>(v), n);
  } catch (const std::exception&) {
    return make_error(ErrorCode::kInvalidArgument,
                      "range '{}': expected A:B with non-negative integers or percentages (e.g. "
                      "1800:2000 or 90%:100%)", whole);
  }
}

std::vector<std::string> split_blank_lines(const std::string& text) {
  std::vector<std::string> docs;
  std::string cur;
  std::istringstream in(text);
  std::string line;
  auto flush = [&] {
    while (!cur.empty() && cur.back() == '\n') cur.pop_back();
    if (!cur.empty()) docs.push_back(cur);
    cur.clear();
  };
  while (std::getline(in, line)) {
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (line.find_first_not_of(" \t") == std::string::npos) {
      flush();
    } else {
      cur += line + "\n";
    }
  }
  flush();
  return docs;
}

}  // namespace

Result<std::pair<size_t, size_t>> parse_range(const std::string& range, size_t n) {
  if (range.empty()) return std::pair<size_t, size_t>{0, n};
  const size_t colon = range.find(':');
  if (colon == std::string::npos) {
    return make_error(ErrorCode::kInvalidArgument, "range '{}': expected A:B", range);
  }
  LRKV_ASSIGN_OR_RETURN(size_t a, parse_endpoint(range.substr(0, colon), n, range));
  LRKV_ASSIGN_OR_RETURN(size_t b, parse_endpoint(range.substr(colon + 1), n, range));
  if (a >= b) {
    return make_error(ErrorCode::kInvalidArgument, "range '{}' selects nothing out of {} documents",
                      range, n);
  }
  return std::pair<size_t, size_t>{a, b};
}

Result<std::vector<std::string>> read_documents(const TextSourceOptions& o) {
  LRKV_ASSIGN_OR_RETURN(std::string text, read_text_file(o.path));
  std::vector<std::string> docs;
  if (ends_with(o.path, ".jsonl")) {
    std::istringstream in(text);
    std::string line;
    int line_no = 0;
    while (std::getline(in, line)) {
      ++line_no;
      if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
      nlohmann::json j = nlohmann::json::parse(line, nullptr, /*allow_exceptions=*/false);
      if (j.is_discarded() || !j.is_object()) {
        return make_error(ErrorCode::kCorruptFile, "{}:{}: not a JSON object", o.path, line_no);
      }
      auto it = j.find(o.jsonl_field);
      if (it == j.end() || !it->is_string()) {
        return make_error(ErrorCode::kCorruptFile, "{}:{}: no string field '{}'", o.path, line_no,
                          o.jsonl_field);
      }
      docs.push_back(it->get<std::string>());
    }
  } else if (o.split_paragraphs) {
    docs = split_blank_lines(text);
  } else {
    docs.push_back(std::move(text));
  }
  if (docs.empty() || (docs.size() == 1 && docs[0].empty())) {
    return make_error(ErrorCode::kInvalidArgument, "{}: no text in file", o.path);
  }
  LRKV_ASSIGN_OR_RETURN(auto range, parse_range(o.range, docs.size()));
  return std::vector<std::string>(docs.begin() + range.first, docs.begin() + range.second);
}

std::vector<int> tokenize_documents(const Tokenizer& tok, const std::vector<std::string>& docs,
                                    bool add_bos) {
  std::vector<int> ids;
  for (const std::string& d : docs) {
    std::vector<int> t = tok.encode(d, add_bos);
    ids.insert(ids.end(), t.begin(), t.end());
  }
  return ids;
}

}  // namespace lrkv
