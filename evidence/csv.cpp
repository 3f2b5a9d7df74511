#include "evidence/csv.hpp"

namespace ferry::evidence {

void CsvWriter::Row(const CsvRow& fields) {
  for (size_t i = 0; i < fields.size(); ++i) {
    if (i > 0) text_.push_back(',');
    const std::string& field = fields[i];
    if (field.find_first_of(",\"\r\n") == std::string::npos) {
      text_.append(field);
      continue;
    }
    text_.push_back('"');
    for (const char c : field) {
      if (c == '"') text_.push_back('"');
      text_.push_back(c);
    }
    text_.push_back('"');
  }
  text_.append("\r\n");
}

std::string CsvText(std::string_view text) {
  if (!text.empty() && (text[0] == '=' || text[0] == '+' || text[0] == '-' || text[0] == '@' ||
                        text[0] == '\t' || text[0] == '\r')) {
    return "'" + std::string(text);
  }
  return std::string(text);
}

Result<std::vector<CsvRecord>> ParseCsv(std::string_view text, std::string_view what) {
  std::vector<CsvRecord> records;
  size_t line = 1;
  size_t i = 0;
  const auto fault = [&](const std::string& why) {
    return InvalidError("report " + std::string(what) + " line " + std::to_string(line) + ": " +
                        why);
  };
  while (i < text.size()) {
    CsvRecord record;
    record.line = line;
    while (true) {
      std::string field;
      if (i < text.size() && text[i] == '"') {
        ++i;
        while (true) {
          if (i >= text.size()) return fault("a quoted field is not closed");
          const char c = text[i++];
          if (c == '"') {
            if (i < text.size() && text[i] == '"') {
              field.push_back('"');
              ++i;
              continue;
            }
            break;
          }
          if (c == '\n') ++line;
          field.push_back(c);
        }
      } else {
        while (i < text.size() && text[i] != ',' && text[i] != '\r' && text[i] != '\n') {
          if (text[i] == '"') return fault("a double quote inside an unquoted field");
          field.push_back(text[i++]);
        }
      }
      record.fields.push_back(std::move(field));
      if (i < text.size() && text[i] == ',') {
        ++i;
        continue;
      }
      if (text.substr(i, 2) == "\r\n") {
        i += 2;
        break;
      }
      return fault(i >= text.size() ? "the last line does not end with CRLF"
                                    : "expected a comma or CRLF after a field");
    }
    if (!records.empty() && record.fields.size() != records.front().fields.size()) {
      return fault(std::to_string(record.fields.size()) + " fields, the header has " +
                   std::to_string(records.front().fields.size()));
    }
    records.push_back(std::move(record));
    ++line;
  }
  return records;
}

}  // namespace ferry::evidence
