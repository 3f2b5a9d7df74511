#pragma once

#include <string>
#include <utility>
#include <variant>

namespace ferry {

// What went wrong, at the granularity a caller (and an exit code) needs. The documented exit code
// of every command follows from the kind alone; see ExitCodeFor().
enum class ErrorKind {
  kInvalid,  // the input failed verification: integrity, trust, format, policy (exit 1)
  kUsage,    // the command line or configuration is wrong (exit 2)
  kIo,       // the file system, a library or the environment failed (exit 3)
};

// An expected failure, carried as a value: a kind plus a one-line message that names what failed
// and where ("manifest.json: signature threshold not met (1 of 2)").
class Error {
 public:
  Error(ErrorKind kind, std::string message) : kind_(kind), message_(std::move(message)) {}

  ErrorKind kind() const { return kind_; }
  const std::string& message() const { return message_; }

  // Returns the same error with "context: " put in front of the message.
  Error Context(const std::string& context) const& { return Error(kind_, context + ": " + message_); }
  Error Context(const std::string& context) && {
    message_ = context + ": " + message_;
    return std::move(*this);
  }

 private:
  ErrorKind kind_;
  std::string message_;
};

inline Error InvalidError(std::string message) {
  return Error(ErrorKind::kInvalid, std::move(message));
}
inline Error UsageError(std::string message) { return Error(ErrorKind::kUsage, std::move(message)); }
inline Error IoError(std::string message) { return Error(ErrorKind::kIo, std::move(message)); }

// The documented exit code for an error kind: 1 invalid input, 2 usage, 3 I/O or environment.
inline int ExitCodeFor(ErrorKind kind) {
  switch (kind) {
    case ErrorKind::kInvalid:
      return 1;
    case ErrorKind::kUsage:
      return 2;
    case ErrorKind::kIo:
      return 3;
  }
  return 3;
}

// A value or the Error that prevented it. Small on purpose: std::expected is C++23 and clang 14
// (used for the fuzzers) cannot use libstdc++'s.
template <typename T>
class [[nodiscard]] Result {
 public:
  Result(T value) : state_(std::in_place_index<0>, std::move(value)) {}  // NOLINT: implicit by design
  Result(Error error) : state_(std::in_place_index<1>, std::move(error)) {}  // NOLINT

  bool ok() const { return state_.index() == 0; }
  explicit operator bool() const { return ok(); }

  T& value() & { return std::get<0>(state_); }
  const T& value() const& { return std::get<0>(state_); }
  T&& value() && { return std::get<0>(std::move(state_)); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }
  T&& operator*() && { return std::move(*this).value(); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }

  const Error& error() const& { return std::get<1>(state_); }
  Error&& error() && { return std::get<1>(std::move(state_)); }

 private:
  std::variant<T, Error> state_;
};

template <>
class [[nodiscard]] Result<void> {
 public:
  Result() = default;
  Result(Error error) : error_(std::move(error)), ok_(false) {}  // NOLINT: implicit by design

  bool ok() const { return ok_; }
  explicit operator bool() const { return ok_; }
  const Error& error() const& { return error_; }
  Error&& error() && { return std::move(error_); }

 private:
  Error error_{ErrorKind::kIo, ""};
  bool ok_ = true;
};

using Status = Result<void>;

inline Status Ok() { return Status(); }

}  // namespace ferry

#define FERRY_CONCAT_INNER(a, b) a##b
#define FERRY_CONCAT(a, b) FERRY_CONCAT_INNER(a, b)

// Evaluates a Status-returning expression and returns its error from the enclosing function.
#define FERRY_RETURN_IF_ERROR(expr)                            \
  do {                                                         \
    auto ferry_status_ = (expr);                               \
    if (!ferry_status_.ok()) return std::move(ferry_status_).error(); \
  } while (false)

// Declares `lhs` from a Result-returning expression, or returns its error.
#define FERRY_ASSIGN_OR_RETURN(lhs, expr) \
  FERRY_ASSIGN_OR_RETURN_IMPL(FERRY_CONCAT(ferry_result_, __LINE__), lhs, expr)
#define FERRY_ASSIGN_OR_RETURN_IMPL(tmp, lhs, expr) \
  auto tmp = (expr);                                \
  if (!tmp.ok()) return std::move(tmp).error();     \
  lhs = std::move(tmp).value()
