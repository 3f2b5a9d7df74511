#pragma once

// Command-line parsing shared by every Ferry executable: GNU-style long options, a documented
// exit code per error kind, and one-line "error: <cause>" reports.

#include <map>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "common/error.hpp"

namespace ferry::cli {

enum class Arity {
  kFlag,  // --json
  kOne,   // --out FILE or --out=FILE
  kMany,  // --key A B C (until the next option) and/or repeated --key A --key B
};

struct OptionSpec {
  std::string name;  // without the leading dashes
  Arity arity;
};

class Args {
 public:
  // Parses `argv` (without the program and command words). Unknown options, missing values and
  // repeated single-value options are usage errors.
  static Result<Args> Parse(std::span<char* const> argv, const std::vector<OptionSpec>& specs);

  bool Has(const std::string& name) const { return values_.count(name) > 0; }
  std::optional<std::string> Get(const std::string& name) const;
  std::vector<std::string> GetAll(const std::string& name) const;
  const std::vector<std::string>& positional() const { return positional_; }

  // The value of a required option, or a usage error naming it.
  Result<std::string> Require(const std::string& name) const;
  // An integer option within [min, max].
  Result<std::optional<int64_t>> GetInt(const std::string& name, int64_t min, int64_t max) const;

 private:
  std::map<std::string, std::vector<std::string>> values_;
  std::vector<std::string> positional_;
};

// Prints "error: <message>" on stderr and returns the documented exit code for the error's kind.
int ReportError(const Error& error);

}  // namespace ferry::cli
