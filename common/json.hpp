#pragma once

// A small JSON value type with a strict parser and the canonical encoding Ferry signs.
//
// Canonical form (docs/canonical-json.md): UTF-8; no whitespace; object keys sorted by their
// UTF-8 bytes, each once; integers only, in [-(2^53-1), 2^53-1], written without leading zeros or
// "+"; strings escape only '"', '\\' and the control characters U+0000..U+001F (as \b \t \n \f \r or
// \u00xx); every other character is written as itself. Non-integer numbers cannot be signed.

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "common/error.hpp"

namespace ferry::json {

class Value;
using Array = std::vector<Value>;
using Object = std::map<std::string, Value>;  // std::string orders keys by their bytes

class Value {
 public:
  Value() : data_(nullptr) {}
  Value(std::nullptr_t) : data_(nullptr) {}          // NOLINT: implicit by design
  Value(bool b) : data_(b) {}                        // NOLINT
  Value(int v) : data_(static_cast<int64_t>(v)) {}   // NOLINT
  Value(int64_t v) : data_(v) {}                     // NOLINT
  Value(uint32_t v) : data_(static_cast<int64_t>(v)) {}  // NOLINT
  Value(uint64_t v) : data_(static_cast<int64_t>(v)) {}  // NOLINT
  Value(double v) : data_(v) {}                      // NOLINT
  Value(const char* s) : data_(std::string(s)) {}    // NOLINT
  Value(std::string s) : data_(std::move(s)) {}      // NOLINT
  Value(std::string_view s) : data_(std::string(s)) {}  // NOLINT
  Value(Array a) : data_(std::move(a)) {}            // NOLINT
  Value(Object o) : data_(std::move(o)) {}           // NOLINT

  bool is_null() const { return std::holds_alternative<std::nullptr_t>(data_); }
  bool is_bool() const { return std::holds_alternative<bool>(data_); }
  bool is_int() const { return std::holds_alternative<int64_t>(data_); }
  bool is_double() const { return std::holds_alternative<double>(data_); }
  bool is_string() const { return std::holds_alternative<std::string>(data_); }
  bool is_array() const { return std::holds_alternative<Array>(data_); }
  bool is_object() const { return std::holds_alternative<Object>(data_); }

  bool as_bool() const { return std::get<bool>(data_); }
  int64_t as_int() const { return std::get<int64_t>(data_); }
  double as_double() const { return std::get<double>(data_); }
  const std::string& as_string() const { return std::get<std::string>(data_); }
  const Array& as_array() const { return std::get<Array>(data_); }
  Array& as_array() { return std::get<Array>(data_); }
  const Object& as_object() const { return std::get<Object>(data_); }
  Object& as_object() { return std::get<Object>(data_); }

  // The name of the held type, for error messages ("expected string, found array").
  const char* type_name() const;

  bool operator==(const Value& other) const { return data_ == other.data_; }

 private:
  std::variant<std::nullptr_t, bool, int64_t, double, std::string, Array, Object> data_;
};

struct ParseLimits {
  size_t max_bytes = 64u << 20;
  int max_depth = 64;
};

// Parses one JSON text (RFC 8259) strictly: invalid UTF-8, lone surrogates, duplicate object keys,
// nesting deeper than the limit, trailing content and inputs over the size limit are all refused
// with an ErrorKind::kInvalid error naming the byte offset.
Result<Value> Parse(std::string_view text, const ParseLimits& limits = {});

// The canonical bytes of a value (see the header comment). Fails on non-integer numbers and on
// integers outside the exactly representable range.
Result<std::string> Canonical(const Value& value);

// Indented, human-readable JSON for `--json` output; keys in canonical order.
std::string Pretty(const Value& value);

// Checks that `text` is well-formed UTF-8 (no overlongs, no surrogates, nothing past U+10FFFF).
bool IsValidUtf8(std::string_view text);

// Reads the fields of one JSON object and refuses the ones it was not asked about, so a document
// with an unknown field is rejected instead of half-understood. Errors name the field's path.
class ObjectReader {
 public:
  // `path` names the object in error messages, e.g. "manifest.patches[3]".
  static Result<ObjectReader> Open(const Value& value, std::string path);

  Result<std::string> String(const std::string& key);
  Result<std::optional<std::string>> OptionalString(const std::string& key);
  Result<int64_t> Int(const std::string& key);
  Result<std::optional<int64_t>> OptionalInt(const std::string& key);
  Result<bool> Bool(const std::string& key);
  Result<std::optional<bool>> OptionalBool(const std::string& key);
  Result<std::vector<std::string>> StringArray(const std::string& key);  // absent = empty
  Result<const Array*> ArrayField(const std::string& key);  // required array
  Result<const Value*> Field(const std::string& key);       // required, any type
  const Value* OptionalField(const std::string& key);        // nullptr when absent or null

  // Fails when the object has a field that no accessor asked for.
  Status Finish() const;

  const std::string& path() const { return path_; }
  std::string PathOf(const std::string& key) const { return path_ + "." + key; }

 private:
  ObjectReader(const Object* object, std::string path) : object_(object), path_(std::move(path)) {}
  const Value* Find(const std::string& key);

  const Object* object_;
  std::string path_;
  std::vector<std::string> seen_;
};

}  // namespace ferry::json
