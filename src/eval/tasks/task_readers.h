// Readers for multiple-choice task files in their original layouts, detected from the first
// record (or named with `layout`):
//   arc          {"question": {"stem", "choices": [{"text", "label"}]}, "answerKey"}
//                (ARC-Easy/Challenge, OpenBookQA, CommonsenseQA)
//                -> "Question: {stem}\nAnswer:" + " {choice}"
//   piqa         {"goal", "sol1", "sol2"} + labels (0/1) from "label" or <stem>-labels.lst
//                -> "Question: {goal}\nAnswer:" + " {sol}"
//   winogrande   {"sentence" with "_", "option1", "option2", "answer": "1"|"2"} (or labels file)
//                -> context = sentence before "_" with the option, continuation = the rest
//   boolq        {"passage", "question", "label"|"answer": bool} -> "{passage}\nQuestion:
//                {question}?\nAnswer:" + " no" | " yes"
//   hellaswag-txt  llama.cpp's text layout, 6 lines per task: context, label (0-3), 4 endings
//                -> context + " {ending}"
//   generic      {"context"|"question": str, "choices": [str | {"text"}...],
//                 "label"|"answer"|"gold": int | "A".."Z" | "1".."9"} -> context + " {choice}"
// Files may be bzip2-compressed. Malformed records are errors naming "file:line".
#pragma once

#include <string>
#include <vector>

#include "core/status.h"
#include "eval/tasks/task.h"

namespace lrkv {

struct TaskReadOptions {
  std::string name;             // "" = the file's stem
  std::string layout = "auto";  // auto | arc | piqa | winogrande | boolq | hellaswag-txt | generic
  std::string labels_path;      // "" = "<stem>-labels.lst" beside the file, when present
  int limit = 0;                // keep the first N questions (0 = all)
};

Result<McTask> read_task_file(const std::string& path, const TaskReadOptions& options = {});

// "arc, piqa, winogrande, boolq, hellaswag-txt, generic".
std::string task_layout_names();

}  // namespace lrkv
