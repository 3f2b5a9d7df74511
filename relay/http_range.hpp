#pragma once

// The conditional and partial GET rules the payload route follows (RFC 9110 sections 13 and 14),
// as pure functions of header values, so every case is tested without a server.

#include <cstdint>
#include <string>
#include <string_view>

namespace ferry::relay {

struct ByteRange {
  uint64_t first = 0;
  uint64_t length = 0;
};

enum class RangeOutcome {
  kWhole,          // no usable Range: answer 200 with the whole representation
  kPartial,        // answer 206 with `range`
  kUnsatisfiable,  // answer 416 with "Content-Range: bytes */<size>"
};

struct RangeDecision {
  RangeOutcome outcome = RangeOutcome::kWhole;
  ByteRange range;  // set for kPartial
};

// The longest Range value read; a longer one is ignored like any other malformed Range.
inline constexpr size_t kMaxRangeHeader = 256;

// What a GET with this Range value answers for `size` bytes. One "bytes=a-b", "bytes=a-" or
// "bytes=-n" is honoured (b clamped to the end, a suffix longer than the file means all of it);
// a first byte at or past the end, or an empty suffix, is unsatisfiable; several ranges, another
// unit and malformed values are ignored (the whole file), as RFC 9110 allows.
RangeDecision EvaluateRange(std::string_view range_header, uint64_t size);

// True when an If-None-Match value is "*" or lists `etag` (a quoted tag such as "\"abc\"")
// under the weak comparison; a malformed list matches nothing.
bool IfNoneMatchMatches(std::string_view header, std::string_view etag);

// True when an If-Range value lets a Range apply: it must be exactly the strong `etag`. A date
// (this API sends no Last-Modified) or another tag means the whole representation is sent.
bool IfRangeAllows(std::string_view header, std::string_view etag);

// "bytes <first>-<last>/<size>" for a 206 answer.
std::string ContentRangeHeader(const ByteRange& range, uint64_t size);

// "bytes */<size>" for a 416 answer.
std::string UnsatisfiedRangeHeader(uint64_t size);

}  // namespace ferry::relay
