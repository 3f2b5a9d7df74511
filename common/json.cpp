#include "common/json.hpp"

#include <algorithm>
#include <charconv>
#include <cctype>
#include <cmath>
#include <cstdio>

namespace ferry::json {
namespace {

constexpr int64_t kMaxSafeInteger = (int64_t{1} << 53) - 1;

// Length of the UTF-8 sequence starting at text[pos], or 0 when it is not well-formed.
size_t Utf8SequenceLength(std::string_view text, size_t pos) {
  const auto byte = [&](size_t i) { return static_cast<unsigned char>(text[i]); };
  const unsigned char lead = byte(pos);
  if (lead < 0x80) {
    return 1;
  }
  size_t length = 0;
  uint32_t min_code = 0;
  uint32_t code = 0;
  if ((lead & 0xE0) == 0xC0) {
    length = 2, min_code = 0x80, code = lead & 0x1Fu;
  } else if ((lead & 0xF0) == 0xE0) {
    length = 3, min_code = 0x800, code = lead & 0x0Fu;
  } else if ((lead & 0xF8) == 0xF0) {
    length = 4, min_code = 0x10000, code = lead & 0x07u;
  } else {
    return 0;
  }
  if (pos + length > text.size()) {
    return 0;
  }
  for (size_t i = 1; i < length; ++i) {
    const unsigned char c = byte(pos + i);
    if ((c & 0xC0) != 0x80) {
      return 0;
    }
    code = (code << 6) | (c & 0x3Fu);
  }
  if (code < min_code || code > 0x10FFFF || (code >= 0xD800 && code <= 0xDFFF)) {
    return 0;
  }
  return length;
}

void AppendUtf8(std::string& out, uint32_t code) {
  if (code < 0x80) {
    out.push_back(static_cast<char>(code));
  } else if (code < 0x800) {
    out.push_back(static_cast<char>(0xC0 | (code >> 6)));
    out.push_back(static_cast<char>(0x80 | (code & 0x3F)));
  } else if (code < 0x10000) {
    out.push_back(static_cast<char>(0xE0 | (code >> 12)));
    out.push_back(static_cast<char>(0x80 | ((code >> 6) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | (code & 0x3F)));
  } else {
    out.push_back(static_cast<char>(0xF0 | (code >> 18)));
    out.push_back(static_cast<char>(0x80 | ((code >> 12) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | ((code >> 6) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | (code & 0x3F)));
  }
}

class Parser {
 public:
  Parser(std::string_view text, const ParseLimits& limits) : text_(text), limits_(limits) {}

  Result<Value> ParseDocument() {
    if (text_.size() > limits_.max_bytes) {
      return InvalidError("JSON text of " + std::to_string(text_.size()) +
                          " bytes exceeds the limit of " + std::to_string(limits_.max_bytes));
    }
    SkipWhitespace();
    FERRY_ASSIGN_OR_RETURN(Value value, ParseValue(0));
    SkipWhitespace();
    if (pos_ != text_.size()) {
      return Fail("trailing content after the JSON value");
    }
    return value;
  }

 private:
  Error Fail(const std::string& what) const {
    return InvalidError("invalid JSON at byte " + std::to_string(pos_) + ": " + what);
  }

  void SkipWhitespace() {
    while (pos_ < text_.size() &&
           (text_[pos_] == ' ' || text_[pos_] == '\t' || text_[pos_] == '\n' || text_[pos_] == '\r')) {
      ++pos_;
    }
  }

  bool Consume(std::string_view literal) {
    if (text_.substr(pos_, literal.size()) == literal) {
      pos_ += literal.size();
      return true;
    }
    return false;
  }

  Result<Value> ParseValue(int depth) {
    if (pos_ >= text_.size()) {
      return Fail("unexpected end of input");
    }
    switch (text_[pos_]) {
      case '{':
        return ParseObject(depth + 1);
      case '[':
        return ParseArray(depth + 1);
      case '"': {
        FERRY_ASSIGN_OR_RETURN(std::string s, ParseString());
        return Value(std::move(s));
      }
      case 't':
        if (Consume("true")) return Value(true);
        break;
      case 'f':
        if (Consume("false")) return Value(false);
        break;
      case 'n':
        if (Consume("null")) return Value(nullptr);
        break;
      default:
        if (text_[pos_] == '-' || (text_[pos_] >= '0' && text_[pos_] <= '9')) {
          return ParseNumber();
        }
    }
    return Fail("unexpected character");
  }

  Status CheckDepth(int depth) const {
    if (depth > limits_.max_depth) {
      return Fail("nesting deeper than " + std::to_string(limits_.max_depth) + " levels");
    }
    return Ok();
  }

  Result<Value> ParseObject(int depth) {
    FERRY_RETURN_IF_ERROR(CheckDepth(depth));
    ++pos_;  // '{'
    Object object;
    SkipWhitespace();
    if (Consume("}")) {
      return Value(std::move(object));
    }
    while (true) {
      SkipWhitespace();
      if (pos_ >= text_.size() || text_[pos_] != '"') {
        return Fail("expected a string key");
      }
      FERRY_ASSIGN_OR_RETURN(std::string key, ParseString());
      SkipWhitespace();
      if (!Consume(":")) {
        return Fail("expected ':'");
      }
      SkipWhitespace();
      FERRY_ASSIGN_OR_RETURN(Value value, ParseValue(depth));
      if (!object.emplace(key, std::move(value)).second) {
        return Fail("duplicate key \"" + key + "\"");
      }
      SkipWhitespace();
      if (Consume(",")) {
        continue;
      }
      if (Consume("}")) {
        return Value(std::move(object));
      }
      return Fail("expected ',' or '}'");
    }
  }

  Result<Value> ParseArray(int depth) {
    FERRY_RETURN_IF_ERROR(CheckDepth(depth));
    ++pos_;  // '['
    Array array;
    SkipWhitespace();
    if (Consume("]")) {
      return Value(std::move(array));
    }
    while (true) {
      SkipWhitespace();
      FERRY_ASSIGN_OR_RETURN(Value value, ParseValue(depth));
      array.push_back(std::move(value));
      SkipWhitespace();
      if (Consume(",")) {
        continue;
      }
      if (Consume("]")) {
        return Value(std::move(array));
      }
      return Fail("expected ',' or ']'");
    }
  }

  Result<uint32_t> ParseHex4() {
    if (pos_ + 4 > text_.size()) {
      return Fail("truncated \\u escape");
    }
    uint32_t code = 0;
    for (int i = 0; i < 4; ++i) {
      const char c = text_[pos_++];
      code <<= 4;
      if (c >= '0' && c <= '9') {
        code |= static_cast<uint32_t>(c - '0');
      } else if (c >= 'a' && c <= 'f') {
        code |= static_cast<uint32_t>(c - 'a' + 10);
      } else if (c >= 'A' && c <= 'F') {
        code |= static_cast<uint32_t>(c - 'A' + 10);
      } else {
        return Fail("bad hex digit in \\u escape");
      }
    }
    return code;
  }

  Result<std::string> ParseString() {
    ++pos_;  // opening quote
    std::string out;
    while (true) {
      if (pos_ >= text_.size()) {
        return Fail("unterminated string");
      }
      const unsigned char c = static_cast<unsigned char>(text_[pos_]);
      if (c == '"') {
        ++pos_;
        return out;
      }
      if (c < 0x20) {
        return Fail("unescaped control character in string");
      }
      if (c == '\\') {
        ++pos_;
        if (pos_ >= text_.size()) {
          return Fail("unterminated escape");
        }
        const char e = text_[pos_++];
        switch (e) {
          case '"': out.push_back('"'); break;
          case '\\': out.push_back('\\'); break;
          case '/': out.push_back('/'); break;
          case 'b': out.push_back('\b'); break;
          case 'f': out.push_back('\f'); break;
          case 'n': out.push_back('\n'); break;
          case 'r': out.push_back('\r'); break;
          case 't': out.push_back('\t'); break;
          case 'u': {
            FERRY_ASSIGN_OR_RETURN(uint32_t code, ParseHex4());
            if (code >= 0xDC00 && code <= 0xDFFF) {
              return Fail("lone low surrogate in \\u escape");
            }
            if (code >= 0xD800 && code <= 0xDBFF) {
              if (!Consume("\\u")) {
                return Fail("high surrogate without a low surrogate");
              }
              FERRY_ASSIGN_OR_RETURN(uint32_t low, ParseHex4());
              if (low < 0xDC00 || low > 0xDFFF) {
                return Fail("high surrogate without a low surrogate");
              }
              code = 0x10000 + ((code - 0xD800) << 10) + (low - 0xDC00);
            }
            AppendUtf8(out, code);
            break;
          }
          default:
            return Fail("unknown escape");
        }
        continue;
      }
      const size_t length = Utf8SequenceLength(text_, pos_);
      if (length == 0) {
        return Fail("invalid UTF-8");
      }
      out.append(text_.substr(pos_, length));
      pos_ += length;
    }
  }

  Result<Value> ParseNumber() {
    const size_t start = pos_;
    bool is_integer = true;
    Consume("-");
    if (Consume("0")) {
      // a leading zero stands alone
    } else if (pos_ < text_.size() && text_[pos_] >= '1' && text_[pos_] <= '9') {
      while (pos_ < text_.size() && std::isdigit(static_cast<unsigned char>(text_[pos_]))) ++pos_;
    } else {
      return Fail("malformed number");
    }
    if (Consume(".")) {
      is_integer = false;
      if (pos_ >= text_.size() || !std::isdigit(static_cast<unsigned char>(text_[pos_]))) {
        return Fail("malformed number");
      }
      while (pos_ < text_.size() && std::isdigit(static_cast<unsigned char>(text_[pos_]))) ++pos_;
    }
    if (pos_ < text_.size() && (text_[pos_] == 'e' || text_[pos_] == 'E')) {
      is_integer = false;
      ++pos_;
      if (!Consume("+")) Consume("-");
      if (pos_ >= text_.size() || !std::isdigit(static_cast<unsigned char>(text_[pos_]))) {
        return Fail("malformed number");
      }
      while (pos_ < text_.size() && std::isdigit(static_cast<unsigned char>(text_[pos_]))) ++pos_;
    }
    const std::string_view digits = text_.substr(start, pos_ - start);
    if (is_integer) {
      int64_t v = 0;
      const auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), v);
      if (ec == std::errc() && end == digits.data() + digits.size() && v >= -kMaxSafeInteger &&
          v <= kMaxSafeInteger) {
        return Value(v);
      }
      // Integers beyond 2^53 are kept as doubles so canonical encoding refuses them.
    }
    const std::string copy(digits);
    char* end = nullptr;
    const double d = std::strtod(copy.c_str(), &end);
    if (end != copy.c_str() + copy.size() || !std::isfinite(d)) {
      return Fail("number out of range");
    }
    return Value(d);
  }

  std::string_view text_;
  const ParseLimits& limits_;
  size_t pos_ = 0;
};

void EncodeString(std::string& out, std::string_view s) {
  out.push_back('"');
  for (const char ch : s) {
    const auto c = static_cast<unsigned char>(ch);
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\b': out += "\\b"; break;
      case '\f': out += "\\f"; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
      default:
        if (c < 0x20) {
          char buf[8];
          std::snprintf(buf, sizeof buf, "\\u%04x", c);
          out += buf;
        } else {
          out.push_back(ch);
        }
    }
  }
  out.push_back('"');
}

Status EncodeCanonical(std::string& out, const Value& value) {
  if (value.is_null()) {
    out += "null";
  } else if (value.is_bool()) {
    out += value.as_bool() ? "true" : "false";
  } else if (value.is_int()) {
    const int64_t v = value.as_int();
    if (v > kMaxSafeInteger || v < -kMaxSafeInteger) {
      return InvalidError("canonical JSON: integer " + std::to_string(v) + " is out of range");
    }
    out += std::to_string(v);
  } else if (value.is_double()) {
    return InvalidError(
        "canonical JSON: only integers within +/-(2^53-1) can be signed, not other numbers");
  } else if (value.is_string()) {
    if (!IsValidUtf8(value.as_string())) {
      return InvalidError("canonical JSON: string is not valid UTF-8");
    }
    EncodeString(out, value.as_string());
  } else if (value.is_array()) {
    out.push_back('[');
    bool first = true;
    for (const Value& item : value.as_array()) {
      if (!first) out.push_back(',');
      first = false;
      FERRY_RETURN_IF_ERROR(EncodeCanonical(out, item));
    }
    out.push_back(']');
  } else {
    out.push_back('{');
    bool first = true;
    for (const auto& [key, item] : value.as_object()) {
      if (!first) out.push_back(',');
      first = false;
      if (!IsValidUtf8(key)) {
        return InvalidError("canonical JSON: key is not valid UTF-8");
      }
      EncodeString(out, key);
      out.push_back(':');
      FERRY_RETURN_IF_ERROR(EncodeCanonical(out, item));
    }
    out.push_back('}');
  }
  return Ok();
}

void EncodePretty(std::string& out, const Value& value, int indent) {
  const auto newline = [&](int level) {
    out.push_back('\n');
    out.append(static_cast<size_t>(level) * 2, ' ');
  };
  if (value.is_double()) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "%.17g", value.as_double());
    out += buf;
  } else if (value.is_string()) {
    EncodeString(out, value.as_string());
  } else if (value.is_array()) {
    if (value.as_array().empty()) {
      out += "[]";
      return;
    }
    out.push_back('[');
    bool first = true;
    for (const Value& item : value.as_array()) {
      if (!first) out.push_back(',');
      first = false;
      newline(indent + 1);
      EncodePretty(out, item, indent + 1);
    }
    newline(indent);
    out.push_back(']');
  } else if (value.is_object()) {
    if (value.as_object().empty()) {
      out += "{}";
      return;
    }
    out.push_back('{');
    bool first = true;
    for (const auto& [key, item] : value.as_object()) {
      if (!first) out.push_back(',');
      first = false;
      newline(indent + 1);
      EncodeString(out, key);
      out += ": ";
      EncodePretty(out, item, indent + 1);
    }
    newline(indent);
    out.push_back('}');
  } else {
    std::string scalar;
    (void)EncodeCanonical(scalar, value);  // null, bool and int always encode
    out += scalar;
  }
}

}  // namespace

const char* Value::type_name() const {
  switch (data_.index()) {
    case 0: return "null";
    case 1: return "boolean";
    case 2: return "integer";
    case 3: return "number";
    case 4: return "string";
    case 5: return "array";
    default: return "object";
  }
}

bool IsValidUtf8(std::string_view text) {
  for (size_t pos = 0; pos < text.size();) {
    const size_t length = Utf8SequenceLength(text, pos);
    if (length == 0) {
      return false;
    }
    pos += length;
  }
  return true;
}

Result<Value> Parse(std::string_view text, const ParseLimits& limits) {
  return Parser(text, limits).ParseDocument();
}

Result<std::string> Canonical(const Value& value) {
  std::string out;
  FERRY_RETURN_IF_ERROR(EncodeCanonical(out, value));
  return out;
}

std::string Pretty(const Value& value) {
  std::string out;
  EncodePretty(out, value, 0);
  out.push_back('\n');
  return out;
}

Result<ObjectReader> ObjectReader::Open(const Value& value, std::string path) {
  if (!value.is_object()) {
    return InvalidError(path + ": expected an object, found " + value.type_name());
  }
  return ObjectReader(&value.as_object(), std::move(path));
}

const Value* ObjectReader::Find(const std::string& key) {
  seen_.push_back(key);
  const auto it = object_->find(key);
  return it == object_->end() ? nullptr : &it->second;
}

namespace {
Error WrongType(const std::string& path, const char* expected, const Value& found) {
  return InvalidError(path + ": expected " + expected + ", found " + found.type_name());
}
}  // namespace

Result<const Value*> ObjectReader::Field(const std::string& key) {
  const Value* v = Find(key);
  if (v == nullptr) {
    return InvalidError(PathOf(key) + ": missing");
  }
  return v;
}

const Value* ObjectReader::OptionalField(const std::string& key) {
  const Value* v = Find(key);
  return (v == nullptr || v->is_null()) ? nullptr : v;
}

Result<std::string> ObjectReader::String(const std::string& key) {
  FERRY_ASSIGN_OR_RETURN(const Value* v, Field(key));
  if (!v->is_string()) return WrongType(PathOf(key), "a string", *v);
  return v->as_string();
}

Result<std::optional<std::string>> ObjectReader::OptionalString(const std::string& key) {
  const Value* v = OptionalField(key);
  if (v == nullptr) return std::optional<std::string>();
  if (!v->is_string()) return WrongType(PathOf(key), "a string", *v);
  return std::optional<std::string>(v->as_string());
}

Result<int64_t> ObjectReader::Int(const std::string& key) {
  FERRY_ASSIGN_OR_RETURN(const Value* v, Field(key));
  if (!v->is_int()) return WrongType(PathOf(key), "an integer", *v);
  return v->as_int();
}

Result<std::optional<int64_t>> ObjectReader::OptionalInt(const std::string& key) {
  const Value* v = OptionalField(key);
  if (v == nullptr) return std::optional<int64_t>();
  if (!v->is_int()) return WrongType(PathOf(key), "an integer", *v);
  return std::optional<int64_t>(v->as_int());
}

Result<bool> ObjectReader::Bool(const std::string& key) {
  FERRY_ASSIGN_OR_RETURN(const Value* v, Field(key));
  if (!v->is_bool()) return WrongType(PathOf(key), "a boolean", *v);
  return v->as_bool();
}

Result<std::optional<bool>> ObjectReader::OptionalBool(const std::string& key) {
  const Value* v = OptionalField(key);
  if (v == nullptr) return std::optional<bool>();
  if (!v->is_bool()) return WrongType(PathOf(key), "a boolean", *v);
  return std::optional<bool>(v->as_bool());
}

Result<std::vector<std::string>> ObjectReader::StringArray(const std::string& key) {
  std::vector<std::string> out;
  const Value* v = OptionalField(key);
  if (v == nullptr) return out;
  if (!v->is_array()) return WrongType(PathOf(key), "an array", *v);
  for (size_t i = 0; i < v->as_array().size(); ++i) {
    const Value& item = v->as_array()[i];
    if (!item.is_string()) {
      return WrongType(PathOf(key) + "[" + std::to_string(i) + "]", "a string", item);
    }
    out.push_back(item.as_string());
  }
  return out;
}

Result<const Array*> ObjectReader::ArrayField(const std::string& key) {
  FERRY_ASSIGN_OR_RETURN(const Value* v, Field(key));
  if (!v->is_array()) return WrongType(PathOf(key), "an array", *v);
  return &v->as_array();
}

Status ObjectReader::Finish() const {
  for (const auto& [key, value] : *object_) {
    if (std::find(seen_.begin(), seen_.end(), key) == seen_.end()) {
      return InvalidError(PathOf(key) + ": unknown field");
    }
  }
  return Ok();
}

}  // namespace ferry::json
