// Per-layout record parsers used by read_task_file (task_readers.h documents the layouts).
// Each turns one JSON record into a McQuestion; `label` is the external label for the record
// (from a labels file) or -1. Errors name `where` ("file:line").
#pragma once

#include <nlohmann/json.hpp>
#include <string>

#include "core/status.h"
#include "eval/tasks/task.h"

namespace lrkv {

// The layout a record looks like ("arc", "piqa", "winogrande", "boolq", "generic"), or "".
std::string detect_json_layout(const nlohmann::json& record);

// Parses one record of `layout` (not "hellaswag-txt").
Result<McQuestion> parse_json_record(const std::string& layout, const nlohmann::json& record,
                                     const std::string& where, int external_label);

// Joins a context and an answer with one space unless either side already has whitespace there.
std::string join_with_space(const std::string& context, const std::string& answer);

}  // namespace lrkv
