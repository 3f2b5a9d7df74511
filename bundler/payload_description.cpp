#include "bundler/payload_description.hpp"

#include "bundler/manifest.hpp"

#include <algorithm>

#include "bundler/deb_file.hpp"
#include "bundler/debian_version.hpp"
#include "bundler/osv.hpp"
#include "common/json.hpp"

namespace ferry::bundler {
namespace {

constexpr size_t kMaxTitleBytes = 256;
constexpr size_t kMaxTargetOsBytes = 64;

bool IsAsciiAlnum(char c) {
  return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

bool HasControlCharacter(std::string_view s) {
  return std::any_of(s.begin(), s.end(),
                     [](char c) { return static_cast<unsigned char>(c) < 0x20 || c == 0x7f; });
}

bool IsValidTargetOs(std::string_view os) {
  if (os.empty() || os.size() > kMaxTargetOsBytes || !IsAsciiAlnum(os.front())) {
    return false;
  }
  return std::all_of(os.begin(), os.end(), [](char c) {
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || c == '.' || c == '-';
  });
}

// Reads an optional array of exit codes: integers 0..255, each once.
Result<std::vector<int>> ReadExitCodes(json::ObjectReader& reader, const std::string& key) {
  std::vector<int> codes;
  const json::Value* value = reader.OptionalField(key);
  if (value == nullptr) {
    return codes;
  }
  const std::string path = reader.PathOf(key);
  if (!value->is_array()) {
    return InvalidError(path + ": expected an array, found " + value->type_name());
  }
  if (value->as_array().size() > kMaxPayloadExitCodes) {
    return InvalidError(path + ": more than " + std::to_string(kMaxPayloadExitCodes) + " codes");
  }
  for (size_t i = 0; i < value->as_array().size(); ++i) {
    const json::Value& item = value->as_array()[i];
    const std::string item_path = path + "[" + std::to_string(i) + "]";
    if (!item.is_int()) {
      return InvalidError(item_path + ": expected an integer, found " + item.type_name());
    }
    if (item.as_int() < 0 || item.as_int() > 255) {
      return InvalidError(item_path + ": exit code " + std::to_string(item.as_int()) +
                          " is outside 0..255");
    }
    const int code = static_cast<int>(item.as_int());
    if (std::find(codes.begin(), codes.end(), code) != codes.end()) {
      return InvalidError(item_path + ": exit code " + std::to_string(code) + " listed twice");
    }
    codes.push_back(code);
  }
  return codes;
}

}  // namespace


Result<PayloadDescription> ParsePayloadDescription(std::string_view text, std::string_view origin) {
  const std::string where(origin);
  if (text.size() > kMaxPayloadDescriptionBytes) {
    return InvalidError(where + ": larger than " + std::to_string(kMaxPayloadDescriptionBytes) +
                        " bytes");
  }
  json::ParseLimits limits;
  limits.max_bytes = kMaxPayloadDescriptionBytes;
  limits.max_depth = 8;
  auto parsed = json::Parse(text, limits);
  if (!parsed.ok()) {
    return std::move(parsed).error().Context(where);
  }
  FERRY_ASSIGN_OR_RETURN(json::ObjectReader reader,
                         json::ObjectReader::Open(*parsed, where + ": $"));
  const auto bad = [&](const std::string& key, const std::string& cause) {
    return InvalidError(reader.PathOf(key) + ": " + cause);
  };

  PayloadDescription d;
  FERRY_ASSIGN_OR_RETURN(d.id, reader.String("id"));
  if (!IsSafeIdentifier(d.id)) {
    return bad("id", "\"" + d.id + "\" is not 1..128 characters of [A-Za-z0-9._+~:-]");
  }
  FERRY_ASSIGN_OR_RETURN(std::optional<std::string> title, reader.OptionalString("title"));
  d.title = title.value_or(d.id);
  if (d.title.empty() || d.title.size() > kMaxTitleBytes || HasControlCharacter(d.title)) {
    return bad("title", "must be one line of 1.." + std::to_string(kMaxTitleBytes) + " bytes");
  }
  FERRY_ASSIGN_OR_RETURN(d.kind, reader.String("kind"));
  if (d.kind != "script" && d.kind != "file") {
    return bad("kind", "\"" + d.kind + "\" is neither \"script\" nor \"file\"");
  }
  FERRY_ASSIGN_OR_RETURN(d.file, reader.String("file"));
  if (!IsPlainFileName(d.file)) {
    return bad("file", "\"" + d.file + "\" is not a plain file name in the same directory");
  }
  if (d.file.size() >= kPayloadDescriptionSuffix.size() &&
      d.file.compare(d.file.size() - kPayloadDescriptionSuffix.size(),
                     kPayloadDescriptionSuffix.size(), kPayloadDescriptionSuffix) == 0) {
    return bad("file", "names a description file, not a payload");
  }
  FERRY_ASSIGN_OR_RETURN(std::optional<std::string> package, reader.OptionalString("package"));
  d.package = package.value_or(d.id);
  if (!IsSafeIdentifier(d.package)) {
    return bad("package", "\"" + d.package + "\" is not 1..128 characters of [A-Za-z0-9._+~:-]");
  }
  FERRY_ASSIGN_OR_RETURN(std::optional<std::string> version, reader.OptionalString("version"));
  d.version = version.value_or("0");
  if (auto v = ParseDebianVersion(d.version); !v.ok()) {
    return bad("version", v.error().message());
  }
  FERRY_ASSIGN_OR_RETURN(std::optional<std::string> architecture,
                         reader.OptionalString("architecture"));
  d.architecture = architecture.value_or("all");
  if (!IsValidDebianArchitecture(d.architecture)) {
    return bad("architecture", "\"" + d.architecture + "\" is not an architecture name");
  }
  FERRY_ASSIGN_OR_RETURN(d.target_os, reader.String("target_os"));
  if (!IsValidTargetOs(d.target_os)) {
    return bad("target_os", "\"" + d.target_os + "\" is not like \"debian-12\"");
  }
  FERRY_ASSIGN_OR_RETURN(d.arguments, reader.StringArray("arguments"));
  if (d.arguments.size() > kMaxPayloadArguments) {
    return bad("arguments", "more than " + std::to_string(kMaxPayloadArguments) + " arguments");
  }
  for (size_t i = 0; i < d.arguments.size(); ++i) {
    if (d.arguments[i].size() > kMaxPayloadArgumentBytes ||
        d.arguments[i].find('\0') != std::string::npos) {
      return bad(
          "arguments[" + std::to_string(i) + "]",
          "longer than " + std::to_string(kMaxPayloadArgumentBytes) + " bytes or holds a NUL");
    }
  }
  FERRY_ASSIGN_OR_RETURN(d.success_exit_codes, ReadExitCodes(reader, "success_exit_codes"));
  FERRY_ASSIGN_OR_RETURN(d.reboot_exit_codes, ReadExitCodes(reader, "reboot_exit_codes"));
  if (d.kind == "script") {
    if (d.success_exit_codes.empty()) {
      return bad("success_exit_codes", "a script needs at least one success exit code");
    }
    for (const int code : d.reboot_exit_codes) {
      if (std::find(d.success_exit_codes.begin(), d.success_exit_codes.end(), code) !=
          d.success_exit_codes.end()) {
        return bad("reboot_exit_codes",
                   "exit code " + std::to_string(code) + " is also a success exit code");
      }
    }
  } else {
    // A plain file is placed, not run: run-time fields would be silently meaningless.
    if (!d.arguments.empty()) {
      return bad("arguments", "only a script takes arguments");
    }
    if (!d.success_exit_codes.empty()) {
      return bad("success_exit_codes", "only a script has exit codes");
    }
    if (!d.reboot_exit_codes.empty()) {
      return bad("reboot_exit_codes", "only a script has exit codes");
    }
  }
  FERRY_ASSIGN_OR_RETURN(std::optional<std::string> severity, reader.OptionalString("severity"));
  d.severity = severity.value_or("unknown");
  if (!IsKnownSeverity(d.severity)) {
    return bad("severity",
               "\"" + d.severity + "\" is not one of critical, high, medium, low, none, unknown");
  }
  FERRY_ASSIGN_OR_RETURN(d.cves, reader.StringArray("cves"));
  if (d.cves.size() > kMaxPayloadCves) {
    return bad("cves", "more than " + std::to_string(kMaxPayloadCves) + " entries");
  }
  for (size_t i = 0; i < d.cves.size(); ++i) {
    if (!IsCveId(d.cves[i])) {
      return bad("cves[" + std::to_string(i) + "]", "\"" + d.cves[i] + "\" is not a CVE id");
    }
  }
  std::sort(d.cves.begin(), d.cves.end());
  if (const auto dup = std::adjacent_find(d.cves.begin(), d.cves.end()); dup != d.cves.end()) {
    return bad("cves", *dup + " listed twice");
  }
  FERRY_ASSIGN_OR_RETURN(std::optional<std::string> released, reader.OptionalString("released"));
  if (released.has_value()) {
    auto time = ParseTime(*released);
    if (!time.ok()) {
      return bad("released", time.error().message());
    }
    d.released = *time;
  }
  FERRY_ASSIGN_OR_RETURN(std::optional<bool> reboot, reader.OptionalBool("reboot"));
  d.reboot = reboot.value_or(false);
  FERRY_RETURN_IF_ERROR(reader.Finish());
  return d;
}

}  // namespace ferry::bundler
