#include "eval/tasks/task_layouts.h"

#include <cctype>

namespace lrkv {

namespace {

using nlohmann::json;

Result<std::string> get_string(const json& j, const char* key, const std::string& where) {
  auto it = j.find(key);
  if (it == j.end() || !it->is_string()) {
    return make_error(ErrorCode::kCorruptFile, "{}: missing string field '{}'", where, key);
  }
  return it->get<std::string>();
}

// Parses an answer given as an int, "A".."Z" or "1".."9" (1-based), or a bool (false=0, true=1).
Result<int> parse_label(const json& v, const std::string& where, const char* key) {
  if (v.is_number_integer()) return v.get<int>();
  if (v.is_boolean()) return v.get<bool>() ? 1 : 0;
  if (v.is_string()) {
    const std::string s = v.get<std::string>();
    if (s == "true" || s == "True") return 1;
    if (s == "false" || s == "False") return 0;
    if (s.size() == 1 && s[0] >= 'A' && s[0] <= 'Z') return s[0] - 'A';
    if (s.size() == 1 && s[0] >= '1' && s[0] <= '9') return s[0] - '1';
  }
  return make_error(ErrorCode::kCorruptFile,
                    "{}: field '{}' is not a label (int, bool, A-Z or 1-9): {}", where, key,
                    v.dump());
}

Result<McQuestion> parse_arc(const json& r, const std::string& where) {
  auto q = r.find("question");
  if (q == r.end() || !q->is_object())
    return make_error(ErrorCode::kCorruptFile, "{}: missing object 'question'", where);
  LRKV_ASSIGN_OR_RETURN(std::string stem, get_string(*q, "stem", where));
  auto ch = q->find("choices");
  if (ch == q->end() || !ch->is_array()) {
    return make_error(ErrorCode::kCorruptFile, "{}: missing array 'question.choices'", where);
  }
  LRKV_ASSIGN_OR_RETURN(std::string key, get_string(r, "answerKey", where));
  McQuestion out;
  const std::string ctx = "Question: " + stem + "\nAnswer:";
  for (const json& c : *ch) {
    if (!c.is_object())
      return make_error(ErrorCode::kCorruptFile, "{}: a choice is not an object", where);
    LRKV_ASSIGN_OR_RETURN(std::string text, get_string(c, "text", where));
    LRKV_ASSIGN_OR_RETURN(std::string label, get_string(c, "label", where));
    if (label == key) out.label = static_cast<int>(out.choices.size());
    out.choices.push_back({ctx, " " + text});
  }
  if (out.label < 0) {
    return make_error(ErrorCode::kCorruptFile, "{}: answerKey '{}' names none of the choices",
                      where, key);
  }
  return out;
}

Result<McQuestion> parse_piqa(const json& r, const std::string& where, int label) {
  LRKV_ASSIGN_OR_RETURN(std::string goal, get_string(r, "goal", where));
  LRKV_ASSIGN_OR_RETURN(std::string s1, get_string(r, "sol1", where));
  LRKV_ASSIGN_OR_RETURN(std::string s2, get_string(r, "sol2", where));
  McQuestion out;
  const std::string ctx = "Question: " + goal + "\nAnswer:";
  out.choices = {{ctx, " " + s1}, {ctx, " " + s2}};
  out.label = label;
  if (r.contains("label")) {
    LRKV_ASSIGN_OR_RETURN(out.label, parse_label(r["label"], where, "label"));
  }
  return out;
}

Result<McQuestion> parse_winogrande(const json& r, const std::string& where, int label) {
  LRKV_ASSIGN_OR_RETURN(std::string sentence, get_string(r, "sentence", where));
  LRKV_ASSIGN_OR_RETURN(std::string o1, get_string(r, "option1", where));
  LRKV_ASSIGN_OR_RETURN(std::string o2, get_string(r, "option2", where));
  const size_t blank = sentence.find('_');
  if (blank == std::string::npos)
    return make_error(ErrorCode::kCorruptFile, "{}: sentence has no '_' blank", where);
  std::string rest = sentence.substr(blank + 1);
  const size_t a = rest.find_first_not_of(" \t"), b = rest.find_last_not_of(" \t");
  rest = a == std::string::npos ? "" : rest.substr(a, b - a + 1);
  McQuestion out;
  const std::string prefix = sentence.substr(0, blank);
  out.choices = {{prefix + o1, " " + rest}, {prefix + o2, " " + rest}};
  out.label = label;
  if (r.contains("answer") &&
      !(r["answer"].is_string() && r["answer"].get<std::string>().empty())) {
    LRKV_ASSIGN_OR_RETURN(out.label, parse_label(r["answer"], where, "answer"));
  }
  return out;
}

Result<McQuestion> parse_boolq(const json& r, const std::string& where) {
  LRKV_ASSIGN_OR_RETURN(std::string passage, get_string(r, "passage", where));
  LRKV_ASSIGN_OR_RETURN(std::string question, get_string(r, "question", where));
  McQuestion out;
  const std::string ctx = passage + "\nQuestion: " + question + "?\nAnswer:";
  out.choices = {{ctx, " no"}, {ctx, " yes"}};
  const char* key = r.contains("label") ? "label" : "answer";
  if (!r.contains(key))
    return make_error(ErrorCode::kCorruptFile, "{}: missing field 'label' (or 'answer')", where);
  LRKV_ASSIGN_OR_RETURN(out.label, parse_label(r[key], where, key));
  return out;
}

Result<McQuestion> parse_generic(const json& r, const std::string& where, int label) {
  const char* ctx_key = r.contains("context") ? "context" : "question";
  LRKV_ASSIGN_OR_RETURN(std::string ctx, get_string(r, ctx_key, where));
  auto ch = r.find("choices");
  if (ch == r.end() || !ch->is_array())
    return make_error(ErrorCode::kCorruptFile, "{}: missing array 'choices'", where);
  McQuestion out;
  for (const json& c : *ch) {
    std::string text;
    if (c.is_string()) {
      text = c.get<std::string>();
    } else if (c.is_object() && c.contains("text") && c["text"].is_string()) {
      text = c["text"].get<std::string>();
    } else {
      return make_error(ErrorCode::kCorruptFile,
                        "{}: choice {} is neither a string nor {{\"text\": ...}}", where,
                        out.choices.size());
    }
    const std::string joined = join_with_space(ctx, text);
    out.choices.push_back({ctx, joined.substr(ctx.size())});
  }
  out.label = label;
  for (const char* key : {"label", "answer", "gold"}) {
    if (r.contains(key)) {
      LRKV_ASSIGN_OR_RETURN(out.label, parse_label(r[key], where, key));
      break;
    }
  }
  return out;
}

}  // namespace

std::string join_with_space(const std::string& context, const std::string& answer) {
  const bool ctx_space =
      !context.empty() && std::isspace(static_cast<unsigned char>(context.back()));
  const bool ans_space =
      !answer.empty() && std::isspace(static_cast<unsigned char>(answer.front()));
  return context + (ctx_space || ans_space || context.empty() ? "" : " ") + answer;
}

std::string detect_json_layout(const json& r) {
  if (!r.is_object()) return "";
  if (r.contains("question") && r["question"].is_object() && r["question"].contains("stem"))
    return "arc";
  if (r.contains("goal") && r.contains("sol1") && r.contains("sol2")) return "piqa";
  if (r.contains("sentence") && r.contains("option1") && r.contains("option2")) return "winogrande";
  if (r.contains("passage") && r.contains("question")) return "boolq";
  if (r.contains("choices") && (r.contains("context") || r.contains("question"))) return "generic";
  return "";
}

Result<McQuestion> parse_json_record(const std::string& layout, const json& r,
                                     const std::string& where, int external_label) {
  if (!r.is_object())
    return make_error(ErrorCode::kCorruptFile, "{}: record is not a JSON object", where);
  Result<McQuestion> q =
      make_error(ErrorCode::kInvalidArgument, "unknown task layout '{}'", layout);
  if (layout == "arc") q = parse_arc(r, where);
  if (layout == "piqa") q = parse_piqa(r, where, external_label);
  if (layout == "winogrande") q = parse_winogrande(r, where, external_label);
  if (layout == "boolq") q = parse_boolq(r, where);
  if (layout == "generic") q = parse_generic(r, where, external_label);
  if (!q.ok()) return q;
  McQuestion& out = *q;
  out.where = where;
  for (const char* key : {"id", "qID", "idx"}) {
    if (r.contains(key)) {
      out.id = r[key].is_string() ? r[key].get<std::string>() : r[key].dump();
      break;
    }
  }
  if (out.choices.size() < 2) {
    return make_error(ErrorCode::kCorruptFile, "{}: {} choice(s); a question needs at least 2",
                      where, out.choices.size());
  }
  if (out.label < 0 || out.label >= static_cast<int>(out.choices.size())) {
    return make_error(ErrorCode::kCorruptFile,
                      "{}: label {} outside the {} choices (or no label given)", where, out.label,
                      out.choices.size());
  }
  return q;
}

}  // namespace lrkv
