// Status and Result<T>: recoverable errors as values. Only main() turns them into exit codes.
// Broken invariants (programming errors) use LRKV_CHECK, which aborts loudly with file:line.
#pragma once

#include <cstdio>
#include <cstdlib>
#include <string>
#include <utility>
#include <variant>

#include <fmt/format.h>

namespace lrkv {

enum class ErrorCode {
  kOk = 0,
  kInvalidArgument,  // a bad flag or parameter value
  kIoError,          // file cannot be opened/read/written
  kCorruptFile,      // bad magic, truncated, inconsistent header
  kUnsupported,      // a valid input we do not handle (architecture, dtype, version)
  kShapeMismatch,    // a tensor's shape differs from what the config implies
  kNotFound,         // missing tensor / key / file
  kOutOfMemory,      // an allocation the device (or host) cannot satisfy: a smaller batch / context may fit
  kInternal,
};

const char* error_code_name(ErrorCode code);

class [[nodiscard]] Status {
 public:
  Status() = default;
  Status(ErrorCode code, std::string message) : code_(code), message_(std::move(message)) {}
  static Status Ok() { return {}; }

  bool ok() const { return code_ == ErrorCode::kOk; }
  ErrorCode code() const { return code_; }
  const std::string& message() const { return message_; }
  // "corrupt file: model.gguf: tensor 'x' ..."; one line.
  std::string to_string() const;
  // Prefixes context ("loading X: ") to the message; returns *this for chaining.
  Status& with_context(const std::string& context);

 private:
  ErrorCode code_ = ErrorCode::kOk;
  std::string message_;
};

template <typename... Args>
Status make_error(ErrorCode code, fmt::format_string<Args...> f, Args&&... args) {
  return Status(code, fmt::format(f, std::forward<Args>(args)...));
}

// Result<T>: a T or a non-ok Status.
template <typename T>
class [[nodiscard]] Result {
 public:
  Result(T value) : v_(std::move(value)) {}  // NOLINT: implicit by design
  Result(Status status) : v_(std::move(status)) {  // NOLINT
    if (std::get<Status>(v_).ok()) {
      v_ = Status(ErrorCode::kInternal, "Result constructed from an ok Status");
    }
  }
  bool ok() const { return std::holds_alternative<T>(v_); }
  const Status& status() const {
    static const Status kOkStatus;
    return ok() ? kOkStatus : std::get<Status>(v_);
  }
  T& value() & { return checked(); }
  const T& value() const& { return const_cast<Result*>(this)->checked(); }
  T&& value() && { return std::move(checked()); }
  T* operator->() { return &checked(); }
  const T* operator->() const { return &const_cast<Result*>(this)->checked(); }
  T& operator*() { return checked(); }

 private:
  T& checked() {
    if (!ok()) {
      std::fprintf(stderr, "lrkv: Result::value() on error: %s\n",
                   std::get<Status>(v_).to_string().c_str());
      std::abort();
    }
    return std::get<T>(v_);
  }
  std::variant<T, Status> v_;
};

[[noreturn]] void check_failed(const char* file, int line, const char* cond, const std::string& msg);

}  // namespace lrkv

#define LRKV_CONCAT_INNER(a, b) a##b
#define LRKV_CONCAT(a, b) LRKV_CONCAT_INNER(a, b)

// Returns the Status from the enclosing function if `expr` (a Status) is an error.
#define LRKV_RETURN_IF_ERROR(expr)              \
  do {                                          \
    ::lrkv::Status lrkv_status_ = (expr);       \
    if (!lrkv_status_.ok()) return lrkv_status_; \
  } while (0)

// `LRKV_ASSIGN_OR_RETURN(auto x, f());` unwraps a Result or returns its Status.
#define LRKV_ASSIGN_OR_RETURN(lhs, expr) \
  LRKV_ASSIGN_OR_RETURN_IMPL(LRKV_CONCAT(lrkv_result_, __LINE__), lhs, expr)
#define LRKV_ASSIGN_OR_RETURN_IMPL(tmp, lhs, expr) \
  auto tmp = (expr);                               \
  if (!tmp.ok()) return tmp.status();              \
  lhs = std::move(tmp).value()

// Invariant check: aborts with file:line. Not for user input.
#define LRKV_CHECK(cond, ...)                                                           \
  do {                                                                                  \
    if (!(cond)) ::lrkv::check_failed(__FILE__, __LINE__, #cond, fmt::format("" __VA_ARGS__)); \
  } while (0)
