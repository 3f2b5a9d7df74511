#pragma once

// CSV as RFC 4180 writes it: CRLF line ends, a header row, fields quoted only when they hold a
// comma, a double quote, CR or LF, quotes doubled. The strict reader accepts exactly that, so the
// verifier can compare a package's reports cell by cell with the ones it recomputes.

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

#include "common/error.hpp"

namespace ferry::evidence {

using CsvRow = std::vector<std::string>;

// Builds one CSV text row by row.
class CsvWriter {
 public:
  explicit CsvWriter(const CsvRow& header) { Row(header); }
  void Row(const CsvRow& fields);
  const std::string& text() const { return text_; }
  std::string Take() { return std::move(text_); }

 private:
  std::string text_;
};

// A text cell that a spreadsheet will not run: text starting with =, +, -, @, TAB or CR gets a
// leading apostrophe (OWASP's advice against formula injection), since hostile names reach the
// reports. Numbers and times are written as they are.
std::string CsvText(std::string_view text);

struct CsvRecord {
  size_t line = 0;  // the physical line the record starts on, 1 for the header
  CsvRow fields;
};

// Parses RFC 4180 text as CsvWriter writes it; every record must have as many fields as the first.
// Errors (ErrorKind::kInvalid) name `what` and the line.
Result<std::vector<CsvRecord>> ParseCsv(std::string_view text, std::string_view what);

}  // namespace ferry::evidence
