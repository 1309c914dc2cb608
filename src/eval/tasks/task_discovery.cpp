#include "eval/tasks/task_discovery.h"

#include <algorithm>
#include <filesystem>
#include <sstream>

namespace lrkv {

namespace {

namespace fs = std::filesystem;

struct Known {
  const char* name;
  const char* paths[2];  // alternatives, first match wins
};

constexpr Known kKnown[] = {
    {"arc_easy", {"ARC/ARC-e/ARC-Easy-Test.jsonl", nullptr}},
    {"arc_challenge", {"ARC/ARC-c/ARC-Challenge-Test.jsonl", nullptr}},
    {"openbookqa", {"openbookqa/Main/test.jsonl", nullptr}},
    {"piqa", {"piqa/dev.jsonl", nullptr}},
    {"winogrande", {"winogrande/dev.jsonl", nullptr}},
    {"commonsenseqa", {"commonsenseqa/dev_rand_split.jsonl", nullptr}},
    {"boolq", {"boolq/val.jsonl", nullptr}},
    {"hellaswag", {"hellaswag/hellaswag_val_full.txt", "hellaswag/hellaswag_val_full.txt.bz2"}},
};

std::vector<std::string> split_commas(const std::string& s) {
  std::vector<std::string> out;
  std::stringstream in(s);
  std::string item;
  while (std::getline(in, item, ',')) {
    if (!item.empty()) out.push_back(item);
  }
  return out;
}

bool is_task_file(const fs::path& p) {
  const std::string n = p.filename().string();
  auto ends = [&](const std::string& suf) {
    return n.size() >= suf.size() && n.compare(n.size() - suf.size(), suf.size(), suf) == 0;
  };
  if (ends("-labels.lst") || ends(".lst")) return false;
  return ends(".jsonl") || ends(".jsonl.bz2") || ends(".txt") || ends(".txt.bz2");
}

std::string stem_of(const fs::path& p) {
  std::string n = p.filename().string();
  for (const char* ext : {".bz2", ".jsonl", ".txt"}) {
    const std::string e = ext;
    if (n.size() > e.size() && n.compare(n.size() - e.size(), e.size(), e) == 0)
      n.resize(n.size() - e.size());
  }
  return n;
}

Result<std::vector<TaskFile>> scan_dir(const std::string& dir) {
  std::vector<TaskFile> out;
  std::error_code ec;
  for (const Known& k : kKnown) {
    for (const char* rel : k.paths) {
      if (rel != nullptr && fs::is_regular_file(fs::path(dir) / rel, ec)) {
        out.push_back({k.name, (fs::path(dir) / rel).string()});
        break;
      }
    }
  }
  if (!out.empty()) return out;
  for (const auto& e : fs::directory_iterator(dir, ec)) {
    if (e.is_regular_file() && is_task_file(e.path()))
      out.push_back({stem_of(e.path()), e.path().string()});
  }
  if (ec) return make_error(ErrorCode::kIoError, "--tasks {}: cannot list: {}", dir, ec.message());
  std::sort(out.begin(), out.end(),
            [](const TaskFile& a, const TaskFile& b) { return a.name < b.name; });
  if (out.empty()) {
    return make_error(ErrorCode::kNotFound,
                      "--tasks {}: no known task sets and no *.jsonl / *.txt(.bz2) files", dir);
  }
  return out;
}

}  // namespace

Result<std::vector<TaskFile>> discover_tasks(const std::string& spec, const std::string& only) {
  std::vector<TaskFile> found;
  std::error_code ec;
  if (fs::is_directory(spec, ec)) {
    LRKV_ASSIGN_OR_RETURN(found, scan_dir(spec));
  } else {
    for (const std::string& f : split_commas(spec)) {
      if (!fs::is_regular_file(f, ec))
        return make_error(ErrorCode::kNotFound, "--tasks {}: no such file or directory", f);
      found.push_back({stem_of(f), f});
    }
  }
  if (found.empty())
    return make_error(ErrorCode::kInvalidArgument, "--tasks '{}': no task files given", spec);
  if (only.empty()) return found;
  std::vector<TaskFile> kept;
  for (const std::string& name : split_commas(only)) {
    auto it =
        std::find_if(found.begin(), found.end(), [&](const TaskFile& t) { return t.name == name; });
    if (it == found.end()) {
      std::string names;
      for (const TaskFile& t : found) names += (names.empty() ? "" : ", ") + t.name;
      return make_error(ErrorCode::kInvalidArgument, "--task-names: no task '{}' (found: {})", name,
                        names);
    }
    kept.push_back(*it);
  }
  return kept;
}

}  // namespace lrkv
