#include "relay/http_range.hpp"

#include <limits>

namespace ferry::relay {
namespace {

constexpr uint64_t kSaturated = std::numeric_limits<uint64_t>::max();

bool IsOws(char c) { return c == ' ' || c == '\t'; }

std::string_view TrimOws(std::string_view text) {
  while (!text.empty() && IsOws(text.front())) {
    text.remove_prefix(1);
  }
  while (!text.empty() && IsOws(text.back())) {
    text.remove_suffix(1);
  }
  return text;
}

// Digits only, at least one; values past 2^64-1 saturate, which every caller treats as "past
// the end" rather than as a reason to refuse.
bool ParseDigits(std::string_view text, uint64_t& value) {
  if (text.empty()) {
    return false;
  }
  value = 0;
  for (const char c : text) {
    if (c < '0' || c > '9') {
      return false;
    }
    const uint64_t digit = static_cast<uint64_t>(c - '0');
    value = value > (kSaturated - digit) / 10 ? kSaturated : value * 10 + digit;
  }
  return true;
}

bool EqualsIgnoringAsciiCase(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) {
    return false;
  }
  for (size_t i = 0; i < a.size(); ++i) {
    const auto lower = [](char c) { return c >= 'A' && c <= 'Z' ? static_cast<char>(c + 32) : c; };
    if (lower(a[i]) != lower(b[i])) {
      return false;
    }
  }
  return true;
}

// etagc: '!' and '#'..'~' and obs-text; a tag never holds a quote, a space or a control.
bool IsEtagChar(unsigned char c) { return c == 0x21 || (c >= 0x23 && c != 0x7f); }

// One entity-tag at the start of `text`: sets `opaque` to the quoted part (quotes included) and
// consumes it. False when `text` does not start with a well-formed tag.
bool TakeEntityTag(std::string_view& text, std::string_view& opaque) {
  if (text.starts_with("W/")) {
    text.remove_prefix(2);
  }
  if (text.empty() || text.front() != '"') {
    return false;
  }
  size_t end = 1;
  while (end < text.size() && text[end] != '"') {
    if (!IsEtagChar(static_cast<unsigned char>(text[end]))) {
      return false;
    }
    ++end;
  }
  if (end == text.size()) {
    return false;
  }
  opaque = text.substr(0, end + 1);
  text.remove_prefix(end + 1);
  return true;
}

}  // namespace

RangeDecision EvaluateRange(std::string_view range_header, uint64_t size) {
  const RangeDecision whole;
  std::string_view value = TrimOws(range_header);
  if (value.size() > kMaxRangeHeader) {
    return whole;
  }
  const size_t equals = value.find('=');
  if (equals == std::string_view::npos ||
      !EqualsIgnoringAsciiCase(value.substr(0, equals), "bytes")) {
    return whole;
  }
  value = TrimOws(value.substr(equals + 1));
  // Several ranges would need a multipart answer; serving the whole file instead is allowed.
  if (value.find(',') != std::string_view::npos) {
    return whole;
  }
  const size_t dash = value.find('-');
  if (dash == std::string_view::npos) {
    return whole;
  }
  const std::string_view first_text = value.substr(0, dash);
  const std::string_view last_text = value.substr(dash + 1);
  RangeDecision partial;
  partial.outcome = RangeOutcome::kPartial;
  if (first_text.empty()) {
    uint64_t suffix = 0;
    if (!ParseDigits(last_text, suffix)) {
      return whole;
    }
    if (suffix == 0 || size == 0) {
      return {RangeOutcome::kUnsatisfiable, {}};
    }
    const uint64_t length = suffix < size ? suffix : size;
    partial.range = {size - length, length};
    return partial;
  }
  uint64_t first = 0;
  if (!ParseDigits(first_text, first)) {
    return whole;
  }
  uint64_t last = kSaturated;
  if (!last_text.empty()) {
    if (!ParseDigits(last_text, last)) {
      return whole;
    }
    if (last < first) {
      return whole;
    }
  }
  if (first >= size) {
    return {RangeOutcome::kUnsatisfiable, {}};
  }
  if (last >= size) {
    last = size - 1;
  }
  partial.range = {first, last - first + 1};
  return partial;
}

bool IfNoneMatchMatches(std::string_view header, std::string_view etag) {
  std::string_view rest = TrimOws(header);
  if (rest == "*") {
    return true;
  }
  if (etag.starts_with("W/")) {
    etag.remove_prefix(2);
  }
  bool matched = false;
  while (true) {
    std::string_view opaque;
    if (!TakeEntityTag(rest, opaque)) {
      return false;
    }
    matched = matched || opaque == etag;
    rest = TrimOws(rest);
    if (rest.empty()) {
      return matched;
    }
    if (rest.front() != ',') {
      return false;
    }
    rest = TrimOws(rest.substr(1));
    // Empty list elements (",,") are allowed by the list syntax.
    while (!rest.empty() && rest.front() == ',') {
      rest = TrimOws(rest.substr(1));
    }
    if (rest.empty()) {
      return matched;
    }
  }
}

bool IfRangeAllows(std::string_view header, std::string_view etag) {
  return TrimOws(header) == etag && !etag.starts_with("W/");
}

std::string ContentRangeHeader(const ByteRange& range, uint64_t size) {
  return "bytes " + std::to_string(range.first) + "-" +
         std::to_string(range.first + range.length - 1) + "/" + std::to_string(size);
}

std::string UnsatisfiedRangeHeader(uint64_t size) { return "bytes */" + std::to_string(size); }

}  // namespace ferry::relay
