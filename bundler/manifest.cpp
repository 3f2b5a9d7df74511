#include "bundler/manifest.hpp"

#include <algorithm>
#include <map>
#include <set>

namespace ferry::bundler {
namespace {

constexpr size_t kMaxIdentifier = 128;
constexpr size_t kMaxTitle = 1024;
constexpr size_t kMaxFileName = 255;
constexpr size_t kMaxListItems = 4096;  // CVE ids, supersedes, installer arguments
constexpr size_t kMaxArgument = 4096;
constexpr std::string_view kSeverities[] = {"critical", "high", "medium", "low", "none", "unknown"};
constexpr std::string_view kKinds[] = {"deb", "script", "file"};

json::Array StringsToJson(const std::vector<std::string>& items) {
  return json::Array(items.begin(), items.end());
}

json::Array IntsToJson(const std::vector<int64_t>& items) {
  return json::Array(items.begin(), items.end());
}

Result<std::string> Identifier(json::ObjectReader& reader, const std::string& key) {
  FERRY_ASSIGN_OR_RETURN(std::string value, reader.String(key));
  if (!IsSafeIdentifier(value)) {
    return InvalidError(reader.PathOf(key) + ": \"" + value + "\" is not a valid identifier");
  }
  return value;
}

Result<std::vector<std::string>> BoundedStrings(json::ObjectReader& reader, const std::string& key,
                                                size_t max_length) {
  FERRY_ASSIGN_OR_RETURN(std::vector<std::string> items, reader.StringArray(key));
  if (items.size() > kMaxListItems) {
    return InvalidError(reader.PathOf(key) + ": more than " + std::to_string(kMaxListItems) + " items");
  }
  for (const std::string& item : items) {
    if (item.size() > max_length) {
      return InvalidError(reader.PathOf(key) + ": an item is longer than " +
                          std::to_string(max_length) + " bytes");
    }
  }
  return items;
}

Result<std::vector<int64_t>> ExitCodes(json::ObjectReader& reader, const std::string& key) {
  FERRY_ASSIGN_OR_RETURN(const json::Array* items, reader.ArrayField(key));
  std::vector<int64_t> codes;
  for (const json::Value& item : *items) {
    if (!item.is_int() || item.as_int() < 0 || item.as_int() > 255) {
      return InvalidError(reader.PathOf(key) + ": exit codes are integers 0..255");
    }
    codes.push_back(item.as_int());
  }
  if (codes.size() > 256) {
    return InvalidError(reader.PathOf(key) + ": too many exit codes");
  }
  return codes;
}

Result<UnixTime> Time(json::ObjectReader& reader, const std::string& key) {
  FERRY_ASSIGN_OR_RETURN(std::string text, reader.String(key));
  auto parsed = ParseTime(text);
  if (!parsed.ok()) return std::move(parsed).error().Context(reader.PathOf(key));
  return *parsed;
}

Result<Installer> InstallerFromJson(const json::Value& value, const std::string& path) {
  FERRY_ASSIGN_OR_RETURN(json::ObjectReader reader, json::ObjectReader::Open(value, path));
  Installer installer;
  FERRY_ASSIGN_OR_RETURN(installer.arguments, BoundedStrings(reader, "arguments", kMaxArgument));
  FERRY_ASSIGN_OR_RETURN(installer.success_exit_codes, ExitCodes(reader, "success_exit_codes"));
  FERRY_ASSIGN_OR_RETURN(installer.reboot_exit_codes, ExitCodes(reader, "reboot_exit_codes"));
  FERRY_RETURN_IF_ERROR(reader.Finish());
  if (installer.success_exit_codes.empty()) {
    return InvalidError(path + ".success_exit_codes: at least one code is required");
  }
  for (const int64_t code : installer.reboot_exit_codes) {
    if (std::count(installer.success_exit_codes.begin(), installer.success_exit_codes.end(), code)) {
      return InvalidError(path + ": exit code " + std::to_string(code) +
                          " is both a success and a reboot code");
    }
  }
  return installer;
}

Result<PayloadRef> PayloadFromJson(const json::Value& value, const std::string& path) {
  FERRY_ASSIGN_OR_RETURN(json::ObjectReader reader, json::ObjectReader::Open(value, path));
  PayloadRef payload;
  FERRY_ASSIGN_OR_RETURN(const std::string hash, reader.String("sha256"));
  auto digest = crypto::ParseDigestHex(hash);
  if (!digest.ok()) return std::move(digest).error().Context(path + ".sha256");
  payload.sha256 = *digest;
  FERRY_ASSIGN_OR_RETURN(const int64_t size, reader.Int("size"));
  if (size < 0 || static_cast<uint64_t>(size) > kMaxPayloadSize) {
    return InvalidError(path + ".size: " + std::to_string(size) + " is outside 0..4 GiB");
  }
  payload.size = static_cast<uint64_t>(size);
  FERRY_ASSIGN_OR_RETURN(payload.file_name, reader.String("file"));
  if (!IsPlainFileName(payload.file_name)) {
    return InvalidError(path + ".file: \"" + payload.file_name + "\" is not a plain file name");
  }
  FERRY_RETURN_IF_ERROR(reader.Finish());
  return payload;
}

}  // namespace

Result<Patch> PatchFromJson(const json::Value& value, const std::string& path) {
  FERRY_ASSIGN_OR_RETURN(json::ObjectReader reader, json::ObjectReader::Open(value, path));
  Patch patch;
  FERRY_ASSIGN_OR_RETURN(patch.id, Identifier(reader, "id"));
  FERRY_ASSIGN_OR_RETURN(patch.title, reader.String("title"));
  if (patch.title.size() > kMaxTitle) return InvalidError(path + ".title: too long");
  FERRY_ASSIGN_OR_RETURN(patch.kind, reader.String("kind"));
  if (std::find(std::begin(kKinds), std::end(kKinds), patch.kind) == std::end(kKinds)) {
    return InvalidError(path + ".kind: \"" + patch.kind + "\" is not deb, script or file");
  }
  FERRY_ASSIGN_OR_RETURN(patch.package, Identifier(reader, "package"));
  FERRY_ASSIGN_OR_RETURN(patch.version, Identifier(reader, "version"));
  FERRY_ASSIGN_OR_RETURN(patch.architecture, Identifier(reader, "architecture"));
  FERRY_ASSIGN_OR_RETURN(patch.target_os, Identifier(reader, "target_os"));
  FERRY_ASSIGN_OR_RETURN(patch.severity, reader.String("severity"));
  if (!IsKnownSeverity(patch.severity)) {
    return InvalidError(path + ".severity: \"" + patch.severity + "\" is not a known severity");
  }
  FERRY_ASSIGN_OR_RETURN(patch.cvss, reader.OptionalString("cvss"));
  if (patch.cvss && patch.cvss->size() > 8) return InvalidError(path + ".cvss: too long");
  FERRY_ASSIGN_OR_RETURN(patch.cves, BoundedStrings(reader, "cves", 32));
  for (const std::string& cve : patch.cves) {
    if (!IsCveId(cve)) return InvalidError(path + ".cves: \"" + cve + "\" is not a CVE id");
  }
  FERRY_ASSIGN_OR_RETURN(const std::optional<std::string> released, reader.OptionalString("released"));
  if (released) {
    auto parsed = ParseTime(*released);
    if (!parsed.ok()) return std::move(parsed).error().Context(path + ".released");
    patch.released = *parsed;
  }
  FERRY_ASSIGN_OR_RETURN(patch.supersedes, BoundedStrings(reader, "supersedes", kMaxIdentifier));
  for (const std::string& id : patch.supersedes) {
    if (!IsSafeIdentifier(id)) return InvalidError(path + ".supersedes: \"" + id + "\" is not an id");
  }
  FERRY_ASSIGN_OR_RETURN(patch.reboot, reader.Bool("reboot"));
  FERRY_ASSIGN_OR_RETURN(const json::Value* payload, reader.Field("payload"));
  FERRY_ASSIGN_OR_RETURN(patch.payload, PayloadFromJson(*payload, path + ".payload"));
  if (const json::Value* installer = reader.OptionalField("installer")) {
    FERRY_ASSIGN_OR_RETURN(patch.installer, InstallerFromJson(*installer, path + ".installer"));
  }
  FERRY_RETURN_IF_ERROR(reader.Finish());
  if ((patch.kind == "script") != patch.installer.has_value()) {
    return InvalidError(path + ": an installer is required for kind script and only for it");
  }
  return patch;
}

json::Object PatchSummaryJson(const Patch& patch) {
  json::Object object{{"id", patch.id},
                      {"kind", patch.kind},
                      {"package", patch.package},
                      {"version", patch.version},
                      {"architecture", patch.architecture},
                      {"target_os", patch.target_os},
                      {"severity", patch.severity},
                      {"cves", json::Array(patch.cves.begin(), patch.cves.end())},
                      {"file", patch.payload.file_name},
                      {"sha256", crypto::DigestHex(patch.payload.sha256)},
                      {"size", patch.payload.size}};
  if (patch.released) object["released"] = FormatTime(*patch.released);
  if (patch.cvss) object["cvss"] = *patch.cvss;
  return object;
}

json::Value PatchToJson(const Patch& patch) {
  json::Object object{
      {"id", patch.id},
      {"title", patch.title},
      {"kind", patch.kind},
      {"package", patch.package},
      {"version", patch.version},
      {"architecture", patch.architecture},
      {"target_os", patch.target_os},
      {"severity", patch.severity},
      {"cves", StringsToJson(patch.cves)},
      {"supersedes", StringsToJson(patch.supersedes)},
      {"reboot", patch.reboot},
      {"payload", json::Object{{"sha256", crypto::DigestHex(patch.payload.sha256)},
                               {"size", patch.payload.size},
                               {"file", patch.payload.file_name}}},
  };
  if (patch.cvss) object["cvss"] = *patch.cvss;
  if (patch.released) object["released"] = FormatTime(*patch.released);
  if (patch.installer) {
    object["installer"] = json::Object{
        {"arguments", StringsToJson(patch.installer->arguments)},
        {"success_exit_codes", IntsToJson(patch.installer->success_exit_codes)},
        {"reboot_exit_codes", IntsToJson(patch.installer->reboot_exit_codes)},
    };
  }
  return object;
}

namespace {

Result<std::pair<int64_t, int64_t>> ParseFormat(const std::string& text) {
  const size_t dot = text.find('.');
  const auto number = [](std::string_view s) -> int64_t {
    if (s.empty() || s.size() > 6 || (s.size() > 1 && s[0] == '0')) return -1;
    int64_t n = 0;
    for (const char c : s) {
      if (c < '0' || c > '9') return -1;
      n = n * 10 + (c - '0');
    }
    return n;
  };
  const int64_t major = number(std::string_view(text).substr(0, dot));
  const int64_t minor = dot == std::string::npos ? -1 : number(std::string_view(text).substr(dot + 1));
  if (major < 0 || minor < 0) {
    return InvalidError("manifest.format: \"" + text + "\" is not MAJOR.MINOR");
  }
  return std::make_pair(major, minor);
}

}  // namespace

namespace {
bool IsAsciiAlnum(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}
}  // namespace

bool IsSafeIdentifier(std::string_view text) {
  // A leading letter or digit keeps "..", ".hidden" and "-option" out of paths and command lines.
  if (text.empty() || text.size() > kMaxIdentifier || !IsAsciiAlnum(text.front())) return false;
  return std::all_of(text.begin(), text.end(), [](char c) {
    return IsAsciiAlnum(c) || c == '.' || c == '_' || c == '+' || c == '~' || c == ':' || c == '-';
  });
}

bool IsPlainFileName(std::string_view name) {
  if (name.empty() || name.size() > kMaxFileName || name == "." || name == "..") return false;
  return std::all_of(name.begin(), name.end(), [](char c) {
    return static_cast<unsigned char>(c) >= 0x20 && c != '/' && c != '\\' && c != 0x7f;
  });
}

bool IsCveId(std::string_view id) {
  if (id.size() < 13 || id.size() > 32 || id.substr(0, 4) != "CVE-" || id[8] != '-') return false;
  for (size_t i = 4; i < id.size(); ++i) {
    if (i != 8 && (id[i] < '0' || id[i] > '9')) return false;
  }
  return true;
}

int SeverityRank(std::string_view severity) {
  constexpr std::string_view kOrder[] = {"unknown", "none", "low", "medium", "high", "critical"};
  for (int i = 0; i < 6; ++i) {
    if (kOrder[i] == severity) return i;
  }
  return 0;
}

bool IsKnownSeverity(std::string_view severity) {
  return std::find(std::begin(kSeverities), std::end(kSeverities), severity) != std::end(kSeverities);
}

std::vector<PayloadRef> Manifest::CarriedPayloads() const {
  const std::set<crypto::Sha256Digest> left_out(omitted.begin(), omitted.end());
  std::set<crypto::Sha256Digest> seen;
  std::vector<PayloadRef> carried;
  for (const Patch& patch : patches) {
    if (!left_out.count(patch.payload.sha256) && seen.insert(patch.payload.sha256).second) {
      carried.push_back(patch.payload);
    }
  }
  return carried;
}

json::Value Manifest::ToJson() const {
  json::Array patch_list;
  for (const Patch& patch : patches) patch_list.push_back(PatchToJson(patch));
  json::Array omitted_list;
  for (const auto& digest : omitted) omitted_list.emplace_back(crypto::DigestHex(digest));
  json::Object object{
      {"type", "ferry-manifest"},
      {"format", std::to_string(format_major) + "." + std::to_string(format_minor)},
      {"channel", channel},
      {"sequence", sequence},
      {"created", FormatTime(created)},
      {"expires", FormatTime(expires)},
      {"root_version", root_version},
      {"patches", std::move(patch_list)},
      {"omitted", std::move(omitted_list)},
  };
  if (base_sequence) object["base_sequence"] = *base_sequence;
  if (site) object["site"] = *site;
  return object;
}

Result<Manifest> ManifestFromJson(const json::Value& value) {
  FERRY_ASSIGN_OR_RETURN(json::ObjectReader reader, json::ObjectReader::Open(value, "manifest"));
  FERRY_ASSIGN_OR_RETURN(const std::string type, reader.String("type"));
  if (type != "ferry-manifest") {
    return InvalidError("manifest.type: \"" + type + "\" is not ferry-manifest");
  }
  // The version is checked before anything else so a newer format gets a clear refusal.
  FERRY_ASSIGN_OR_RETURN(const std::string format, reader.String("format"));
  FERRY_ASSIGN_OR_RETURN(const auto version, ParseFormat(format));
  if (version.first != kFormatMajor) {
    return InvalidError("manifest.format: major version " + std::to_string(version.first) +
                        " is not supported (this reader knows " + std::to_string(kFormatMajor) + ")");
  }
  Manifest manifest;
  manifest.format_major = version.first;
  manifest.format_minor = version.second;
  FERRY_ASSIGN_OR_RETURN(manifest.channel, Identifier(reader, "channel"));
  FERRY_ASSIGN_OR_RETURN(manifest.sequence, reader.Int("sequence"));
  if (manifest.sequence < 1) return InvalidError("manifest.sequence: must be at least 1");
  FERRY_ASSIGN_OR_RETURN(manifest.base_sequence, reader.OptionalInt("base_sequence"));
  if (manifest.base_sequence &&
      (*manifest.base_sequence < 1 || *manifest.base_sequence >= manifest.sequence)) {
    return InvalidError("manifest.base_sequence: must be at least 1 and below the sequence");
  }
  FERRY_ASSIGN_OR_RETURN(manifest.created, Time(reader, "created"));
  FERRY_ASSIGN_OR_RETURN(manifest.expires, Time(reader, "expires"));
  if (manifest.expires <= manifest.created) {
    return InvalidError("manifest.expires: not after manifest.created");
  }
  FERRY_ASSIGN_OR_RETURN(manifest.site, reader.OptionalString("site"));
  if (manifest.site && !IsSafeIdentifier(*manifest.site)) {
    return InvalidError("manifest.site: \"" + *manifest.site + "\" is not a valid identifier");
  }
  FERRY_ASSIGN_OR_RETURN(manifest.root_version, reader.Int("root_version"));
  if (manifest.root_version < 1) return InvalidError("manifest.root_version: must be at least 1");

  FERRY_ASSIGN_OR_RETURN(const json::Array* patches, reader.ArrayField("patches"));
  if (patches->size() > static_cast<size_t>(kMaxPatches)) {
    return InvalidError("manifest.patches: more than " + std::to_string(kMaxPatches) + " patches");
  }
  std::set<std::string> ids;
  std::map<crypto::Sha256Digest, uint64_t> sizes;
  for (size_t i = 0; i < patches->size(); ++i) {
    const std::string path = "manifest.patches[" + std::to_string(i) + "]";
    FERRY_ASSIGN_OR_RETURN(Patch patch, PatchFromJson((*patches)[i], path));
    if (!ids.insert(patch.id).second) {
      return InvalidError(path + ".id: duplicate patch id \"" + patch.id + "\"");
    }
    const auto [it, inserted] = sizes.emplace(patch.payload.sha256, patch.payload.size);
    if (!inserted && it->second != patch.payload.size) {
      return InvalidError(path + ".payload: same hash as another patch but a different size");
    }
    manifest.patches.push_back(std::move(patch));
  }

  FERRY_ASSIGN_OR_RETURN(const std::vector<std::string> omitted, reader.StringArray("omitted"));
  if (!omitted.empty() && !manifest.is_delta()) {
    return InvalidError("manifest.omitted: only a delta bundle may leave payloads out");
  }
  for (const std::string& hex : omitted) {
    auto digest = crypto::ParseDigestHex(hex);
    if (!digest.ok()) return std::move(digest).error().Context("manifest.omitted");
    if (!sizes.count(*digest)) {
      return InvalidError("manifest.omitted: " + hex + " is not the payload of any patch");
    }
    if (std::find(manifest.omitted.begin(), manifest.omitted.end(), *digest) !=
        manifest.omitted.end()) {
      return InvalidError("manifest.omitted: " + hex + " is listed twice");
    }
    manifest.omitted.push_back(*digest);
  }
  FERRY_RETURN_IF_ERROR(reader.Finish());
  return manifest;
}

}  // namespace ferry::bundler
