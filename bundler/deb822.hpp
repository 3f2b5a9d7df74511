#pragma once

// Debian control-file syntax (deb822(5)): the format of DEBIAN/control, Packages and Release files.
//
// A stanza is a run of "Name: value" lines; a line that begins with a space or a tab continues the
// previous field; stanzas are separated by one or more blank lines (lines holding only spaces and
// tabs count as blank, as Debian policy allows). A line whose first character is '#' is a comment
// and is skipped wherever it appears; a '#' anywhere else is data. Field names are US-ASCII
// printable characters other than ':' and may not start with '#' or '-'; they compare
// case-insensitively, and a stanza may not name the same field twice.

#include <cstddef>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/error.hpp"

namespace ferry::bundler {

// One paragraph of a deb822 file. Values are stored as dpkg stores them: the text after the colon
// with surrounding blanks removed, and for a multi-line field each continuation line appended after
// a '\n', verbatim including its leading blank (so "Description: a\n b\n .\n c" keeps its shape).
class Stanza {
 public:
  Stanza() = default;
  explicit Stanza(size_t line) : line_(line) {}

  // The value of a field, looked up case-insensitively; nullopt when the stanza lacks it.
  std::optional<std::string_view> Get(std::string_view field) const;

  // Every field in file order, names spelled as in the file.
  const std::vector<std::pair<std::string, std::string>>& fields() const { return fields_; }

  // The 1-based line on which the stanza starts, for error messages.
  size_t line() const { return line_; }

  // Appends a field; false (and no change) if the stanza already has one of that name.
  bool Add(std::string name, std::string value);

 private:
  std::vector<std::pair<std::string, std::string>> fields_;
  size_t line_ = 0;
};

struct Deb822Limits {
  size_t max_bytes = 256u << 20;       // the whole text
  size_t max_line_bytes = 1u << 20;    // one physical line (real Provides lines pass 64 KiB)
  size_t max_value_bytes = 16u << 20;  // one field, continuation lines included
  size_t max_fields = 1000;            // per stanza
};

// Calls `visit` for every stanza in order, so a large Packages file need not be held twice.
// Stops at the first syntax error or at the first error `visit` returns. Errors are
// ErrorKind::kInvalid and read "ORIGIN:LINE: cause".
Status ForEachDeb822Stanza(std::string_view text, std::string_view origin,
                           const std::function<Status(Stanza&&)>& visit,
                           const Deb822Limits& limits = {});

// Parses a whole deb822 text into its stanzas (empty text gives no stanzas).
Result<std::vector<Stanza>> ParseDeb822(std::string_view text, std::string_view origin,
                                        const Deb822Limits& limits = {});

// The first line of a multi-line value (a Description's synopsis).
std::string_view FirstLine(std::string_view value);

}  // namespace ferry::bundler
