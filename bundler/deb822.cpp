#include "bundler/deb822.hpp"

#include <algorithm>

namespace ferry::bundler {
namespace {

bool IsBlank(char c) { return c == ' ' || c == '\t'; }

char AsciiLower(char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c; }

bool EqualsIgnoreCase(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) {
    return false;
  }
  for (size_t i = 0; i < a.size(); ++i) {
    if (AsciiLower(a[i]) != AsciiLower(b[i])) {
      return false;
    }
  }
  return true;
}

std::string_view TrimBlanks(std::string_view s) {
  while (!s.empty() && IsBlank(s.front())) {
    s.remove_prefix(1);
  }
  while (!s.empty() && IsBlank(s.back())) {
    s.remove_suffix(1);
  }
  return s;
}

std::string_view TrimTrailingBlanks(std::string_view s) {
  while (!s.empty() && IsBlank(s.back())) {
    s.remove_suffix(1);
  }
  return s;
}

bool IsBlankLine(std::string_view line) { return std::all_of(line.begin(), line.end(), IsBlank); }

bool IsValidFieldName(std::string_view name) {
  if (name.empty() || name.front() == '#' || name.front() == '-') {
    return false;
  }
  return std::all_of(name.begin(), name.end(),
                     [](char c) { return c >= '!' && c <= '~' && c != ':'; });
}

// Holds the stanza being read and the field whose continuation lines may still follow.
class StanzaBuilder {
 public:
  StanzaBuilder(std::string_view origin, const Deb822Limits& limits)
      : origin_(origin), limits_(limits) {}

  Error Fail(size_t line, const std::string& cause) const {
    return InvalidError(std::string(origin_) + ":" + std::to_string(line) + ": " + cause);
  }

  bool in_stanza() const { return stanza_.has_value(); }
  bool in_field() const { return field_line_ != 0; }

  Status StartField(size_t line, std::string_view name, std::string_view value) {
    FERRY_RETURN_IF_ERROR(FlushField());
    if (!stanza_) {
      stanza_.emplace(line);
    }
    if (stanza_->fields().size() >= limits_.max_fields) {
      return Fail(line, "stanza has more than " + std::to_string(limits_.max_fields) + " fields");
    }
    field_name_.assign(name);
    field_value_.assign(value);
    field_line_ = line;
    return Ok();
  }

  Status Continue(size_t line, std::string_view text) {
    if (field_value_.size() + 1 + text.size() > limits_.max_value_bytes) {
      return Fail(line, "field " + field_name_ + " is longer than " +
                            std::to_string(limits_.max_value_bytes) + " bytes");
    }
    field_value_.push_back('\n');
    field_value_.append(text);
    return Ok();
  }

  Status FlushField() {
    if (!in_field()) {
      return Ok();
    }
    const size_t line = field_line_;
    field_line_ = 0;
    if (stanza_->Get(field_name_).has_value()) {
      return Fail(line, "duplicate field " + field_name_);
    }
    stanza_->Add(std::move(field_name_), std::move(field_value_));
    return Ok();
  }

  // Ends the current stanza, handing it to the visitor.
  Status FlushStanza(const std::function<Status(Stanza&&)>& visit) {
    FERRY_RETURN_IF_ERROR(FlushField());
    if (!stanza_) {
      return Ok();
    }
    Stanza done = std::move(*stanza_);
    stanza_.reset();
    return visit(std::move(done));
  }

 private:
  std::string_view origin_;
  const Deb822Limits& limits_;
  std::optional<Stanza> stanza_;
  std::string field_name_;
  std::string field_value_;
  size_t field_line_ = 0;
};

}  // namespace

std::optional<std::string_view> Stanza::Get(std::string_view field) const {
  for (const auto& [name, value] : fields_) {
    if (EqualsIgnoreCase(name, field)) {
      return std::string_view(value);
    }
  }
  return std::nullopt;
}

bool Stanza::Add(std::string name, std::string value) {
  if (Get(name).has_value()) {
    return false;
  }
  fields_.emplace_back(std::move(name), std::move(value));
  return true;
}

Status ForEachDeb822Stanza(std::string_view text, std::string_view origin,
                           const std::function<Status(Stanza&&)>& visit,
                           const Deb822Limits& limits) {
  if (text.size() > limits.max_bytes) {
    return InvalidError(std::string(origin) + ": larger than " + std::to_string(limits.max_bytes) +
                        " bytes");
  }
  StanzaBuilder builder(origin, limits);
  size_t line_number = 0;
  size_t pos = 0;
  while (pos < text.size()) {
    ++line_number;
    size_t end = text.find('\n', pos);
    if (end == std::string_view::npos) {
      end = text.size();
    }
    const std::string_view line = text.substr(pos, end - pos);
    pos = end + 1;
    if (line.size() > limits.max_line_bytes) {
      return builder.Fail(line_number,
                          "line longer than " + std::to_string(limits.max_line_bytes) + " bytes");
    }
    if (line.find('\0') != std::string_view::npos) {
      return builder.Fail(line_number, "NUL byte in line");
    }
    if (IsBlankLine(line)) {
      FERRY_RETURN_IF_ERROR(builder.FlushStanza(visit));
      continue;
    }
    if (line.front() == '#') {
      continue;  // deb822 comment; a continuation after it still belongs to the open field
    }
    if (IsBlank(line.front())) {
      if (!builder.in_field()) {
        return builder.Fail(line_number, "continuation line outside a field");
      }
      FERRY_RETURN_IF_ERROR(builder.Continue(line_number, TrimTrailingBlanks(line)));
      continue;
    }
    const size_t colon = line.find(':');
    if (colon == std::string_view::npos) {
      return builder.Fail(line_number, "expected \"Field: value\", found no ':'");
    }
    const std::string_view name = line.substr(0, colon);
    if (!IsValidFieldName(name)) {
      return builder.Fail(line_number, "invalid field name \"" + std::string(name) + "\"");
    }
    FERRY_RETURN_IF_ERROR(
        builder.StartField(line_number, name, TrimBlanks(line.substr(colon + 1))));
  }
  return builder.FlushStanza(visit);
}

Result<std::vector<Stanza>> ParseDeb822(std::string_view text, std::string_view origin,
                                        const Deb822Limits& limits) {
  std::vector<Stanza> stanzas;
  FERRY_RETURN_IF_ERROR(ForEachDeb822Stanza(
      text, origin,
      [&stanzas](Stanza&& stanza) {
        stanzas.push_back(std::move(stanza));
        return Ok();
      },
      limits));
  return stanzas;
}

std::string_view FirstLine(std::string_view value) {
  return value.substr(0, std::min(value.size(), value.find('\n')));
}

}  // namespace ferry::bundler
