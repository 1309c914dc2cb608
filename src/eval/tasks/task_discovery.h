// Finding task files: `--tasks` names a directory laid out like ../shared/data/tasks (each known
// task set at its usual place), a directory of task files (every *.jsonl, *.txt, *.bz2 in it,
// named by file stem), or comma-separated files.
#pragma once

#include <string>
#include <vector>

#include "core/status.h"

namespace lrkv {

struct TaskFile {
  std::string name;  // "arc_easy", "piqa", ... or the file's stem
  std::string path;
};

// Known task sets under a tasks root (relative path -> name), in report order:
//   arc_easy       ARC/ARC-e/ARC-Easy-Test.jsonl
//   arc_challenge  ARC/ARC-c/ARC-Challenge-Test.jsonl
//   openbookqa     openbookqa/Main/test.jsonl
//   piqa           piqa/dev.jsonl (+ dev-labels.lst)
//   winogrande     winogrande/dev.jsonl
//   commonsenseqa  commonsenseqa/dev_rand_split.jsonl
//   boolq          boolq/val.jsonl
//   hellaswag      hellaswag/hellaswag_val_full.txt(.bz2)
// `only` (comma-separated names, "" = all) filters the result; unknown names are an error.
Result<std::vector<TaskFile>> discover_tasks(const std::string& spec, const std::string& only = "");

}  // namespace lrkv
