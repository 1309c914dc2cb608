// Evaluation text as a list of documents: a .jsonl file (one {"text": ...} object per line) or a
// plain text file (one document, or blank-line separated documents with split_paragraphs).
// A range selects documents [begin, end) by index or percentage ("1800:2000", "90%:100%").
#pragma once

#include <string>
#include <vector>

#include "core/status.h"
#include "model/tokenizer.h"

namespace lrkv {

struct TextSourceOptions {
  std::string path;
  std::string jsonl_field = "text";
  bool split_paragraphs = false;  // .txt: documents separated by blank lines
  std::string range;              // "" = all; "A:B" with integers or percentages
};

Result<std::vector<std::string>> read_documents(const TextSourceOptions& options);

// Tokenizes each document (BOS first when add_bos) and concatenates the ids.
std::vector<int> tokenize_documents(const Tokenizer& tok, const std::vector<std::string>& docs,
                                    bool add_bos);

// Parses "A:B" into [begin, end) over n items; "" means [0, n). Errors name the flag text.
Result<std::pair<size_t, size_t>> parse_range(const std::string& range, size_t n);

}  // namespace lrkv
