#include "common/cli.hpp"

#include <charconv>
#include <cstdio>

namespace ferry::cli {

Result<Args> Args::Parse(std::span<char* const> argv, const std::vector<OptionSpec>& specs) {
  Args args;
  bool options_done = false;
  for (size_t i = 0; i < argv.size(); ++i) {
    std::string word = argv[i];
    if (options_done || !word.starts_with("--")) {
      args.positional_.push_back(std::move(word));
      continue;
    }
    if (word == "--") {
      options_done = true;
      continue;
    }
    std::string name = word.substr(2);
    std::optional<std::string> inline_value;
    if (const size_t eq = name.find('='); eq != std::string::npos) {
      inline_value = name.substr(eq + 1);
      name = name.substr(0, eq);
    }
    const OptionSpec* spec = nullptr;
    for (const OptionSpec& candidate : specs) {
      if (candidate.name == name) spec = &candidate;
    }
    if (spec == nullptr) return UsageError("unknown option --" + name);
    std::vector<std::string>& values = args.values_[name];
    switch (spec->arity) {
      case Arity::kFlag:
        if (inline_value) return UsageError("option --" + name + " takes no value");
        values.emplace_back();
        break;
      case Arity::kOne:
        if (!values.empty()) return UsageError("option --" + name + " given twice");
        if (inline_value) {
          values.push_back(*inline_value);
        } else if (i + 1 < argv.size()) {
          values.push_back(argv[++i]);
        } else {
          return UsageError("option --" + name + " needs a value");
        }
        break;
      case Arity::kMany: {
        const size_t before = values.size();
        if (inline_value) values.push_back(*inline_value);
        while (i + 1 < argv.size() && !std::string_view(argv[i + 1]).starts_with("--")) {
          values.push_back(argv[++i]);
        }
        if (values.size() == before) return UsageError("option --" + name + " needs a value");
        break;
      }
    }
  }
  return args;
}

std::optional<std::string> Args::Get(const std::string& name) const {
  const auto it = values_.find(name);
  if (it == values_.end() || it->second.empty()) return std::nullopt;
  return it->second.front();
}

std::vector<std::string> Args::GetAll(const std::string& name) const {
  const auto it = values_.find(name);
  return it == values_.end() ? std::vector<std::string>() : it->second;
}

Result<std::string> Args::Require(const std::string& name) const {
  auto value = Get(name);
  if (!value) return UsageError("missing required option --" + name);
  return *value;
}

Result<std::optional<int64_t>> Args::GetInt(const std::string& name, int64_t min, int64_t max) const {
  const auto text = Get(name);
  if (!text) return std::optional<int64_t>();
  int64_t value = 0;
  const auto [end, ec] = std::from_chars(text->data(), text->data() + text->size(), value);
  if (ec != std::errc() || end != text->data() + text->size() || value < min || value > max) {
    return UsageError("option --" + name + ": \"" + *text + "\" is not an integer in " +
                      std::to_string(min) + ".." + std::to_string(max));
  }
  return std::optional<int64_t>(value);
}

int ReportError(const Error& error) {
  std::fprintf(stderr, "error: %s\n", error.message().c_str());
  return ExitCodeFor(error.kind());
}

}  // namespace ferry::cli
