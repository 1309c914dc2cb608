// Zero-shot multiple-choice tasks: every question is a list of (context, continuation) choices
// and the index of the right one. A choice is scored by the log-likelihood of its continuation
// given its context; most tasks share one context across choices, WinoGrande does not (the
// option is substituted into the sentence and the rest of the sentence is scored).
#pragma once

#include <string>
#include <vector>

namespace lrkv {

struct McChoice {
  std::string context;       // e.g. "Question: ...\nAnswer:"
  std::string continuation;  // e.g. " the answer" (leading space included)
};

struct McQuestion {
  std::string id;                 // the file's id when it has one, else "line N"
  std::string where;              // "file:line" of the record, for messages
  std::vector<McChoice> choices;  // at least 2
  int label = -1;                 // index into choices
};

struct McTask {
  std::string name;    // "arc_easy", "piqa", ... or the file's stem
  std::string path;    // file read
  std::string layout;  // "arc", "piqa", "winogrande", "boolq", "hellaswag-txt", "generic"
  std::vector<McQuestion> questions;
};

}  // namespace lrkv
