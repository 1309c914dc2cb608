#include "eval/tasks/task_readers.h"

#include <filesystem>
#include <nlohmann/json.hpp>

#include "eval/tasks/compressed_text.h"
#include "eval/tasks/task_layouts.h"

namespace lrkv {

namespace {

namespace fs = std::filesystem;

bool ends_with(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() &&
         s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

// "dir/dev.jsonl.bz2" -> "dev".
std::string file_stem(const std::string& path) {
  std::string name = fs::path(path).filename().string();
  for (const char* ext : {".bz2", ".jsonl", ".json", ".txt"}) {
    if (ends_with(name, ext)) name.resize(name.size() - std::string(ext).size());
  }
  return name;
}

// Splits text into lines (LF or CRLF); line i is at file line i + 1.
std::vector<std::string> split_lines(const std::string& text) {
  std::vector<std::string> lines;
  size_t pos = 0;
  while (pos < text.size()) {
    size_t nl = text.find('\n', pos);
    if (nl == std::string::npos) nl = text.size();
    std::string line = text.substr(pos, nl - pos);
    if (!line.empty() && line.back() == '\r') line.pop_back();
    lines.push_back(std::move(line));
    pos = nl + 1;
  }
  return lines;
}

bool blank(const std::string& s) { return s.find_first_not_of(" \t") == std::string::npos; }

// Labels file: one integer per line (blank lines ignored). *found is false when it is absent
// (an error when `required`).
Status read_labels(const std::string& path, bool required, std::vector<int>* labels, bool* found) {
  std::error_code ec;
  *found = !path.empty() && fs::exists(path, ec);
  if (!*found) {
    if (required) return make_error(ErrorCode::kNotFound, "labels file {} not found", path);
    return Status::Ok();
  }
  LRKV_ASSIGN_OR_RETURN(std::string text, read_text_maybe_bz2(path));
  const std::vector<std::string> lines = split_lines(text);
  for (size_t i = 0; i < lines.size(); ++i) {
    if (blank(lines[i])) continue;
    try {
      size_t used = 0;
      labels->push_back(std::stoi(lines[i], &used));
      if (lines[i].find_first_not_of(" \t", used) != std::string::npos)
        throw std::invalid_argument(lines[i]);
    } catch (const std::exception&) {
      return make_error(ErrorCode::kCorruptFile, "{}:{}: not an integer label: '{}'", path, i + 1,
                        lines[i]);
    }
  }
  return Status::Ok();
}

// llama.cpp's HellaSwag text: per task a context line, a label line (0-3) and four endings.
Status parse_hellaswag_txt(const std::string& text, const TaskReadOptions& o, McTask* task) {
  const std::vector<std::string> lines = split_lines(text);
  size_t n = lines.size();
  while (n > 0 && blank(lines[n - 1])) --n;
  if (n % 6 != 0) {
    return make_error(ErrorCode::kCorruptFile,
                      "{}:{}: incomplete task: {} lines is not a multiple of 6 (context, "
                      "label, 4 endings)",
                      task->path, n - n % 6 + 1, n);
  }
  for (size_t i = 0; i + 6 <= n; i += 6) {
    if (o.limit > 0 && static_cast<int>(task->questions.size()) >= o.limit) break;
    McQuestion q;
    q.where = fmt::format("{}:{}", task->path, i + 1);
    q.id = fmt::format("line {}", i + 1);
    const std::string& label = lines[i + 1];
    if (label.size() != 1 || label[0] < '0' || label[0] > '3') {
      return make_error(ErrorCode::kCorruptFile, "{}:{}: label must be 0-3, got '{}'", task->path,
                        i + 2, label);
    }
    q.label = label[0] - '0';
    for (int e = 0; e < 4; ++e) q.choices.push_back({lines[i], " " + lines[i + 2 + e]});
    task->questions.push_back(std::move(q));
  }
  return Status::Ok();
}

Status parse_jsonl(const std::string& text, const TaskReadOptions& o, McTask* task) {
  const std::vector<std::string> lines = split_lines(text);
  const bool needs_labels = task->layout == "piqa";
  std::string labels_path = o.labels_path;
  if (labels_path.empty()) {
    labels_path =
        (fs::path(task->path).parent_path() / (file_stem(task->path) + "-labels.lst")).string();
  }
  std::vector<int> labels;
  bool have_labels = false;
  LRKV_RETURN_IF_ERROR(read_labels(labels_path, !o.labels_path.empty(), &labels, &have_labels));
  int record = 0;
  for (size_t i = 0; i < lines.size(); ++i) {
    if (blank(lines[i])) continue;
    if (o.limit > 0 && static_cast<int>(task->questions.size()) >= o.limit) break;
    const std::string where = fmt::format("{}:{}", task->path, i + 1);
    nlohmann::json j = nlohmann::json::parse(lines[i], nullptr, false);
    if (j.is_discarded()) return make_error(ErrorCode::kCorruptFile, "{}: malformed JSON", where);
    int ext = -1;
    if (have_labels) {
      if (record >= static_cast<int>(labels.size())) {
        return make_error(ErrorCode::kCorruptFile, "{}: record {} has no label ({} has {} labels)",
                          where, record + 1, labels_path, labels.size());
      }
      ext = labels[record];
    } else if (needs_labels && !j.contains("label")) {
      return make_error(ErrorCode::kNotFound, "{}: no 'label' field and no labels file {}", where,
                        labels_path);
    }
    LRKV_ASSIGN_OR_RETURN(McQuestion q, parse_json_record(task->layout, j, where, ext));
    if (q.id.empty()) q.id = fmt::format("line {}", i + 1);
    task->questions.push_back(std::move(q));
    ++record;
  }
  return Status::Ok();
}

// The layout of a JSONL text from its first non-blank line.
Result<std::string> detect_layout(const std::string& text, const std::string& path) {
  const std::vector<std::string> lines = split_lines(text);
  for (size_t i = 0; i < lines.size(); ++i) {
    if (blank(lines[i])) continue;
    nlohmann::json j = nlohmann::json::parse(lines[i], nullptr, false);
    if (j.is_discarded())
      return make_error(ErrorCode::kCorruptFile, "{}:{}: malformed JSON", path, i + 1);
    const std::string layout = detect_json_layout(j);
    if (layout.empty()) {
      return make_error(ErrorCode::kUnsupported, "{}:{}: unknown task layout (expected one of: {})",
                        path, i + 1, task_layout_names());
    }
    return layout;
  }
  return make_error(ErrorCode::kCorruptFile, "{}: no records", path);
}

}  // namespace

std::string task_layout_names() { return "arc, piqa, winogrande, boolq, hellaswag-txt, generic"; }

Result<McTask> read_task_file(const std::string& path, const TaskReadOptions& o) {
  McTask task;
  task.path = path;
  task.name = o.name.empty() ? file_stem(path) : o.name;
  LRKV_ASSIGN_OR_RETURN(std::string text, read_text_maybe_bz2(path));
  task.layout = o.layout;
  if (task.layout == "auto") {
    if (ends_with(path, ".txt") || ends_with(path, ".txt.bz2")) {
      task.layout = "hellaswag-txt";
    } else {
      LRKV_ASSIGN_OR_RETURN(task.layout, detect_layout(text, path));
    }
  }
  if (task.layout == "hellaswag-txt") {
    LRKV_RETURN_IF_ERROR(parse_hellaswag_txt(text, o, &task));
  } else if (task.layout == "arc" || task.layout == "piqa" || task.layout == "winogrande" ||
             task.layout == "boolq" || task.layout == "generic") {
    LRKV_RETURN_IF_ERROR(parse_jsonl(text, o, &task));
  } else {
    return make_error(ErrorCode::kInvalidArgument, "task layout '{}': expected auto or one of: {}",
                      task.layout, task_layout_names());
  }
  if (task.questions.empty()) return make_error(ErrorCode::kCorruptFile, "{}: no questions", path);
  return task;
}

}  // namespace lrkv
