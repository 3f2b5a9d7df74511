#include "relay/cli.hpp"

#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <iostream>
#include <map>
#include <set>
#include <thread>

#include "bundler/bundle_reader.hpp"
#include "bundler/dpkg_status.hpp"
#include "bundler/inventory.hpp"
#include "common/cli.hpp"
#include "common/progress.hpp"
#include "relay/applicability.hpp"
#include "relay/catalog.hpp"
#include "relay/event_log.hpp"
#include "relay/evidence_cli.hpp"
#include "relay/fsck.hpp"
#include "relay/importer.hpp"
#include "relay/init.hpp"
#include "relay/lock.hpp"

namespace ferry::relay {
namespace {

using cli::Args;
using cli::Arity;

constexpr const char* kUsage = R"(usage: ferry-relay COMMAND --data DIR [OPTIONS]

  init --data DIR --root root.json [--site-id ID] [--dns NAME...] [--ip ADDR...]
  import --data DIR FILE.ferry...
  import --data DIR --watch MOUNT [--interval SECONDS]
  status --data DIR [--json]
  bundles --data DIR [--json]
  patches --data DIR [--approved] [--json]
  events --data DIR [--from N] [--limit N] [--type TYPE] [--json]
  applicable --data DIR --dpkg-status FILE [--target-os OS] [--json]
  approve --data DIR (PATCH_ID... | --all | --severity LEVEL)
  revoke --data DIR (PATCH_ID... | --all | --severity LEVEL)
  fsck --data DIR [--quick] [--json]
  serve --data DIR --listen ADDR:PORT [--threads N] [--quiet]
  token create --data DIR [--expires DURATION] [--json]
  token list --data DIR [--json]
  endpoints --data DIR [--json]
  endpoint revoke --data DIR ENDPOINT_ID
  evidence export --data DIR --out FILE [--since-last | --from N] [--nonce TEXT] [--label TEXT]
  evidence list --data DIR [--json]
  exception add --data DIR --patch ID [--endpoint ID] --until TIME --reason TEXT
  exception list --data DIR [--json]

--data may come from the configuration file instead: --config FILE, else $FERRY_RELAY_CONFIG,
else /etc/ferry/relay.conf, with a line "data_dir = /var/lib/ferry-relay" (and, for serve,
"listen = ADDR:PORT").
Exit codes: 0 success, 1 verification failed or fsck found a fault, 2 usage, 3 I/O or environment.
)";

std::atomic<bool> g_stop{false};

void OnSignal(int) { g_stop = true; }

// Reads "key = value" lines; '#' starts a comment.
Result<std::map<std::string, std::string>> ReadConfig(const std::string& path) {
  FERRY_ASSIGN_OR_RETURN(const std::string text, fs::ReadFile(path, 64 * 1024));
  std::map<std::string, std::string> values;
  size_t line_number = 0;
  size_t start = 0;
  while (start <= text.size()) {
    const size_t end = std::min(text.find('\n', start), text.size());
    std::string line = text.substr(start, end - start);
    start = end + 1;
    ++line_number;
    if (const size_t hash = line.find('#'); hash != std::string::npos) line.resize(hash);
    const auto trim = [](std::string s) {
      const size_t first = s.find_first_not_of(" \t\r");
      if (first == std::string::npos) return std::string();
      return s.substr(first, s.find_last_not_of(" \t\r") - first + 1);
    };
    line = trim(line);
    if (line.empty()) continue;
    const size_t eq = line.find('=');
    if (eq == std::string::npos) {
      return UsageError(path + ":" + std::to_string(line_number) + ": expected key = value");
    }
    const std::string key = trim(line.substr(0, eq));
    if (!values.emplace(key, trim(line.substr(eq + 1))).second) {
      return UsageError(path + ":" + std::to_string(line_number) + ": \"" + key + "\" set twice");
    }
    if (end == text.size()) break;
  }
  return values;
}

struct ConfigFile {
  std::string path;
  std::map<std::string, std::string> values;  // empty when the default file does not exist
};

// The configuration file: --config, else $FERRY_RELAY_CONFIG (either must exist), else
// /etc/ferry/relay.conf when present.
Result<ConfigFile> LoadConfig(const Args& args) {
  ConfigFile config{"/etc/ferry/relay.conf", {}};
  bool explicit_config = false;
  if (auto path = args.Get("config")) {
    config.path = *path;
    explicit_config = true;
  } else if (const char* env = std::getenv("FERRY_RELAY_CONFIG")) {
    config.path = env;
    explicit_config = true;
  }
  if (!explicit_config && !fs::Exists(config.path)) return config;
  FERRY_ASSIGN_OR_RETURN(config.values, ReadConfig(config.path));
  for (const auto& [key, value] : config.values) {
    if (key != "data_dir" && key != "listen") {
      return UsageError(config.path + ": unknown setting \"" + key + "\"");
    }
  }
  return config;
}

}  // namespace

Result<std::string> DataDirectory(const Args& args) {
  if (auto data = args.Get("data")) return *data;
  FERRY_ASSIGN_OR_RETURN(const ConfigFile config, LoadConfig(args));
  if (!fs::Exists(config.path)) {
    return UsageError("missing required option --data (and no " + config.path + ")");
  }
  const auto it = config.values.find("data_dir");
  if (it == config.values.end()) return UsageError(config.path + ": no data_dir setting");
  return it->second;
}

Result<std::optional<std::string>> ConfigSetting(const Args& args, const std::string& key) {
  FERRY_ASSIGN_OR_RETURN(const ConfigFile config, LoadConfig(args));
  const auto it = config.values.find(key);
  if (it == config.values.end()) return std::optional<std::string>();
  return std::optional<std::string>(it->second);
}

namespace {

std::vector<cli::OptionSpec> WithCommon(std::vector<cli::OptionSpec> specs) {
  specs.push_back({"data", Arity::kOne});
  specs.push_back({"config", Arity::kOne});
  return specs;
}

void PrintJson(const json::Value& value) { std::cout << json::Pretty(value); }

// Parses options for a command that takes no positional arguments, refusing stray words.
Result<Args> ParseOptionsOnly(std::span<char* const> argv, std::vector<cli::OptionSpec> specs) {
  FERRY_ASSIGN_OR_RETURN(Args args, Args::Parse(argv, WithCommon(std::move(specs))));
  if (!args.positional().empty()) {
    return UsageError("unexpected argument \"" + args.positional().front() + "\"");
  }
  return args;
}

// ---- init ----

Status Init(std::span<char* const> argv) {
  FERRY_ASSIGN_OR_RETURN(Args args, ParseOptionsOnly(argv, {{"root", Arity::kOne},
                                                            {"site-id", Arity::kOne},
                                                            {"dns", Arity::kMany},
                                                            {"ip", Arity::kMany}}));
  InitOptions options;
  FERRY_ASSIGN_OR_RETURN(options.data_dir, DataDirectory(args));
  FERRY_ASSIGN_OR_RETURN(options.root_path, args.Require("root"));
  options.site_id = args.Get("site-id");
  options.dns_names = args.GetAll("dns");
  options.ip_addresses = args.GetAll("ip");
  FERRY_ASSIGN_OR_RETURN(const InitReport report, InitializeRelay(options));
  std::printf("initialised relay in %s (trust root version %lld%s)\n", options.data_dir.c_str(),
              static_cast<long long>(report.root_version),
              options.site_id ? (", site " + *options.site_id).c_str() : "");
  std::printf("  CA certificate for endpoints: %s\n    SHA-256 %s\n", report.ca_cert.c_str(),
              report.ca_fingerprint.c_str());
  std::printf("  relay public key for auditors: %s\n    key id %s\n",
              report.relay_public_key.c_str(), report.relay_key_id.c_str());
  std::printf("  operator credential: %s (mode 0600)\n", report.operator_token.c_str());
  return Ok();
}

// ---- import ----

struct PendingBundle {
  std::string path;
  std::optional<std::pair<std::string, int64_t>> order;  // channel and sequence, when readable
};

// Sorts bundles so each channel's sequences go up and a delta follows its base.
void SortBySequence(std::vector<PendingBundle>& bundles) {
  std::stable_sort(bundles.begin(), bundles.end(), [](const auto& a, const auto& b) {
    if (a.order.has_value() != b.order.has_value()) return a.order.has_value();
    return a.order && *a.order < *b.order;
  });
}

PendingBundle Peek(const std::string& path) {
  PendingBundle pending{path, std::nullopt};
  if (auto head = bundler::ReadBundleHead(path); head.ok()) {
    pending.order = std::make_pair(head->manifest.channel, head->manifest.sequence);
  }
  return pending;
}

// Imports one file under the lock; prints a line either way. Returns the error, if any.
Status ImportOne(const std::string& data_dir, const std::string& path) {
  FERRY_ASSIGN_OR_RETURN(Relay relay, Relay::Open(data_dir, Relay::Access::kReadWrite));
  DataDir dir{data_dir};
  auto lock = DirectoryLock::TryAcquire(dir.lock_file());
  if (!lock.ok()) {
    std::fprintf(stderr, "waiting for another ferry-relay process to finish...\n");
    lock = DirectoryLock::Acquire(dir.lock_file());
    if (!lock.ok()) return std::move(lock).error();
  }
  FERRY_RETURN_IF_ERROR(RecoverInterruptedImports(relay));
  ProgressBar bar("importing");
  ImportOptions options;
  options.actor = OperatorActor();
  options.progress = [&](uint64_t done, uint64_t total) { bar.Update(done, total); };
  FERRY_ASSIGN_OR_RETURN(const ImportReport report, ImportBundle(relay, path, options));
  bar.Finish();
  const bundler::Manifest& m = report.manifest;
  if (report.already_present) {
    if (report.payloads_written > 0) {
      std::printf(
          "%s: channel %s sequence %lld is already imported; %zu missing payload(s) "
          "restored to the store\n",
          path.c_str(), m.channel.c_str(), static_cast<long long>(m.sequence),
          report.payloads_written);
    } else {
      std::printf("%s: channel %s sequence %lld is already imported; nothing changed\n",
                  path.c_str(), m.channel.c_str(), static_cast<long long>(m.sequence));
    }
    return Ok();
  }
  std::printf(
      "imported %s: channel %s sequence %lld, %zu patches, %zu new payloads, %llu bytes "
      "verified%s\n",
      path.c_str(), m.channel.c_str(), static_cast<long long>(m.sequence), m.patches.size(),
      report.payloads_written, static_cast<unsigned long long>(report.payload_bytes),
      report.new_root_version
          ? (", trust root now version " + std::to_string(*report.new_root_version)).c_str()
          : "");
  std::fflush(stdout);
  return Ok();
}

struct FileStamp {
  off_t size = -1;
  int64_t mtime = 0;
  bool operator==(const FileStamp&) const = default;
};

FileStamp StampOf(const std::string& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) return {};
  return {st.st_size, static_cast<int64_t>(st.st_mtim.tv_sec) * 1000000000 + st.st_mtim.tv_nsec};
}

// Watches a mount point: each new *.ferry file, once its size has stopped changing, is imported
// in channel and sequence order. Runs until SIGINT or SIGTERM.
Status Watch(const std::string& data_dir, const std::string& mount, int64_t interval) {
  ::signal(SIGINT, OnSignal);
  ::signal(SIGTERM, OnSignal);
  std::printf("watching %s for bundles every %llds\n", mount.c_str(),
              static_cast<long long>(interval));
  std::fflush(stdout);
  // Imported or refused files, at their size and time. A refused file is tried once more after
  // any later import succeeds: a delta copied onto the media before its base becomes importable
  // when the base arrives, while a tampered file is not retried in a loop.
  struct Outcome {
    FileStamp stamp;
    std::optional<int64_t> refused_after;  // imports succeeded when it was refused; unset: imported
  };
  std::map<std::string, Outcome> done;
  int64_t imports = 0;
  std::map<std::string, FileStamp> last_seen;
  bool mounted = true;
  while (!g_stop) {
    std::vector<PendingBundle> ready;
    auto names = fs::ListDirectory(mount);
    if (!names.ok() && mounted) {
      std::printf("%s: not readable (media removed?): %s\n", mount.c_str(),
                  names.error().message().c_str());
      std::fflush(stdout);
    }
    mounted = names.ok();
    if (names.ok()) {
      for (const std::string& name : *names) {
        if (!name.ends_with(".ferry")) continue;
        const std::string path = fs::JoinPath(mount, name);
        const FileStamp stamp = StampOf(path);
        const bool settled = last_seen.count(path) && last_seen[path] == stamp;
        last_seen[path] = stamp;
        const auto it = done.find(path);
        const bool handled = it != done.end() && it->second.stamp == stamp &&
                             it->second.refused_after.value_or(imports) == imports;
        if (settled && !handled) ready.push_back(Peek(path));
      }
    }
    SortBySequence(ready);
    for (const PendingBundle& bundle : ready) {
      if (g_stop) break;
      const Status imported = ImportOne(data_dir, bundle.path);
      if (!imported.ok()) cli::ReportError(imported.error());
      // A refused bundle stays refused until the file changes; an environment failure (a busy
      // database, a read error on flaky media) is tried again at the next scan.
      if (imported.ok()) {
        ++imports;
        done[bundle.path] = Outcome{last_seen[bundle.path], std::nullopt};
      } else if (imported.error().kind() == ErrorKind::kInvalid) {
        done[bundle.path] = Outcome{last_seen[bundle.path], imports};
      }
    }
    for (int64_t waited = 0; waited < interval * 10 && !g_stop; ++waited) {
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
  }
  std::printf("stopped watching %s\n", mount.c_str());
  return Ok();
}

int Import(std::span<char* const> argv) {
  auto args = Args::Parse(argv, WithCommon({{"watch", Arity::kOne}, {"interval", Arity::kOne}}));
  if (!args.ok()) return cli::ReportError(args.error());
  auto data_dir = DataDirectory(*args);
  if (!data_dir.ok()) return cli::ReportError(data_dir.error());
  if (auto mount = args->Get("watch")) {
    if (!args->positional().empty()) {
      return cli::ReportError(UsageError("give either --watch MOUNT or bundle files, not both"));
    }
    auto interval = args->GetInt("interval", 1, 3600);
    if (!interval.ok()) return cli::ReportError(interval.error());
    const Status watched = Watch(*data_dir, *mount, interval->value_or(2));
    return watched.ok() ? 0 : cli::ReportError(watched.error());
  }
  if (args->positional().empty()) {
    return cli::ReportError(UsageError("import needs FILE.ferry... or --watch MOUNT"));
  }
  std::vector<PendingBundle> bundles;
  for (const std::string& path : args->positional()) bundles.push_back(Peek(path));
  SortBySequence(bundles);
  int exit_code = 0;
  for (const PendingBundle& bundle : bundles) {
    const Status imported = ImportOne(*data_dir, bundle.path);
    if (!imported.ok()) {
      const int code = cli::ReportError(imported.error());
      if (exit_code == 0) exit_code = code;
    }
  }
  return exit_code;
}

// ---- listings ----

json::Value BundleJson(const BundleRecord& b) {
  json::Object object{{"channel", b.channel},
                      {"sequence", b.sequence},
                      {"manifest_sha256", b.manifest_sha256},
                      {"created", FormatTime(b.created)},
                      {"expires", FormatTime(b.expires)},
                      {"root_version", b.root_version},
                      {"imported_at", FormatTime(b.imported_at)},
                      {"source", b.source},
                      {"patches", b.patch_count}};
  if (b.base_sequence) object["base_sequence"] = *b.base_sequence;
  return object;
}

json::Value PatchJson(const CatalogPatch& entry) {
  json::Object object = bundler::PatchSummaryJson(entry.patch);
  object["channel"] = entry.channel;
  object["sequence"] = entry.sequence;
  object["approved"] = entry.approved_at.has_value();
  if (entry.approved_at) object["approved_at"] = FormatTime(*entry.approved_at);
  return object;
}

json::Value EventJson(const Event& e) {
  return json::Object{{"seq", e.seq},   {"time", FormatTime(e.time)}, {"actor", e.actor},
                      {"type", e.type}, {"subject", e.subject},       {"details", e.details}};
}

Result<Relay> OpenForReading(const Args& args) {
  FERRY_ASSIGN_OR_RETURN(const std::string data_dir, DataDirectory(args));
  return Relay::Open(data_dir, Relay::Access::kReadOnly);
}

Status ShowStatus(std::span<char* const> argv) {
  FERRY_ASSIGN_OR_RETURN(Args args, ParseOptionsOnly(argv, {{"json", Arity::kFlag}}));
  FERRY_ASSIGN_OR_RETURN(Relay relay, OpenForReading(args));
  FERRY_ASSIGN_OR_RETURN(const crypto::TrustRoot root, relay.TrustedRoot());
  FERRY_ASSIGN_OR_RETURN(const std::optional<std::string> site, relay.SiteId());
  FERRY_ASSIGN_OR_RETURN(const std::vector<BundleRecord> bundles, ListBundles(relay.db()));
  FERRY_ASSIGN_OR_RETURN(const std::vector<CatalogPatch> patches, ListPatches(relay.db()));
  FERRY_ASSIGN_OR_RETURN(const int64_t events, EventCount(relay.db()));
  FERRY_ASSIGN_OR_RETURN(const int64_t ratchet, relay.GetMetaInt(kMetaRatchet, 0));
  FERRY_ASSIGN_OR_RETURN(const int64_t catalog_version, relay.GetMetaInt(kMetaCatalogVersion, 0));
  std::map<std::string, int64_t> channels;
  for (const BundleRecord& b : bundles)
    channels[b.channel] = std::max(channels[b.channel], b.sequence);
  const auto approved = std::count_if(patches.begin(), patches.end(), [](const CatalogPatch& p) {
    return p.approved_at.has_value();
  });
  std::set<std::string> payloads;
  uint64_t payload_bytes = 0;
  for (const CatalogPatch& p : patches) {
    if (payloads.insert(crypto::DigestHex(p.patch.payload.sha256)).second) {
      payload_bytes += p.patch.payload.size;
    }
  }
  if (args.Has("json")) {
    json::Object channel_json;
    for (const auto& [name, sequence] : channels) channel_json[name] = sequence;
    json::Object out{{"data_dir", relay.dir().root},
                     {"trust_root_version", root.version},
                     {"trust_root_expires", FormatTime(root.expires)},
                     {"channels", std::move(channel_json)},
                     {"bundles", static_cast<int64_t>(bundles.size())},
                     {"patches", static_cast<int64_t>(patches.size())},
                     {"approved_patches", static_cast<int64_t>(approved)},
                     {"payloads", static_cast<int64_t>(payloads.size())},
                     {"payload_bytes", payload_bytes},
                     {"events", events},
                     {"catalog_version", catalog_version},
                     {"time_ratchet", ratchet ? json::Value(FormatTime(ratchet)) : json::Value()}};
    if (site) out["site_id"] = *site;
    PrintJson(out);
    return Ok();
  }
  std::printf("relay %s%s\n", relay.dir().root.c_str(),
              site ? (" (site " + *site + ")").c_str() : "");
  std::printf("  trust root version %lld, expires %s\n", static_cast<long long>(root.version),
              FormatTime(root.expires).c_str());
  std::printf("  %zu bundle(s), %zu patch(es) (%lld approved), %zu payload(s), %llu bytes\n",
              bundles.size(), patches.size(), static_cast<long long>(approved), payloads.size(),
              static_cast<unsigned long long>(payload_bytes));
  for (const auto& [name, sequence] : channels) {
    std::printf("  channel %s at sequence %lld\n", name.c_str(), static_cast<long long>(sequence));
  }
  std::printf("  %lld audit event(s); catalog version %lld; time ratchet %s\n",
              static_cast<long long>(events), static_cast<long long>(catalog_version),
              ratchet ? FormatTime(ratchet).c_str() : "(none yet)");
  return Ok();
}

Status Bundles(std::span<char* const> argv) {
  FERRY_ASSIGN_OR_RETURN(Args args, ParseOptionsOnly(argv, {{"json", Arity::kFlag}}));
  FERRY_ASSIGN_OR_RETURN(Relay relay, OpenForReading(args));
  FERRY_ASSIGN_OR_RETURN(const std::vector<BundleRecord> bundles, ListBundles(relay.db()));
  if (args.Has("json")) {
    json::Array out;
    for (const BundleRecord& b : bundles) out.push_back(BundleJson(b));
    PrintJson(out);
    return Ok();
  }
  std::printf("%-24s %8s %6s %8s  %-20s %-20s %s\n", "CHANNEL", "SEQUENCE", "BASE", "PATCHES",
              "CREATED", "IMPORTED", "SOURCE");
  for (const BundleRecord& b : bundles) {
    std::printf("%-24s %8lld %6s %8lld  %-20s %-20s %s\n", b.channel.c_str(),
                static_cast<long long>(b.sequence),
                b.base_sequence ? std::to_string(*b.base_sequence).c_str() : "-",
                static_cast<long long>(b.patch_count), FormatTime(b.created).c_str(),
                FormatTime(b.imported_at).c_str(), b.source.c_str());
  }
  return Ok();
}

Status Patches(std::span<char* const> argv) {
  FERRY_ASSIGN_OR_RETURN(
      Args args, ParseOptionsOnly(argv, {{"json", Arity::kFlag}, {"approved", Arity::kFlag}}));
  FERRY_ASSIGN_OR_RETURN(Relay relay, OpenForReading(args));
  FERRY_ASSIGN_OR_RETURN(std::vector<CatalogPatch> patches, ListPatches(relay.db()));
  if (args.Has("approved")) {
    std::erase_if(patches, [](const CatalogPatch& p) { return !p.approved_at.has_value(); });
  }
  if (args.Has("json")) {
    json::Array out;
    for (const CatalogPatch& p : patches) out.push_back(PatchJson(p));
    PrintJson(out);
    return Ok();
  }
  std::printf("%-44s %-6s %-8s %-8s %s\n", "PATCH", "KIND", "SEVERITY", "APPROVED", "CVES");
  for (const CatalogPatch& entry : patches) {
    std::string cves;
    for (const auto& cve : entry.patch.cves) cves += (cves.empty() ? "" : ",") + cve;
    std::printf("%-44s %-6s %-8s %-8s %s\n", entry.patch.id.c_str(), entry.patch.kind.c_str(),
                entry.patch.severity.c_str(), entry.approved_at ? "yes" : "no", cves.c_str());
  }
  return Ok();
}

Status Events(std::span<char* const> argv) {
  FERRY_ASSIGN_OR_RETURN(Args args, ParseOptionsOnly(argv, {{"json", Arity::kFlag},
                                                            {"from", Arity::kOne},
                                                            {"limit", Arity::kOne},
                                                            {"type", Arity::kOne}}));
  FERRY_ASSIGN_OR_RETURN(const auto from, args.GetInt("from", 1, int64_t{1} << 62));
  FERRY_ASSIGN_OR_RETURN(const auto limit, args.GetInt("limit", 1, 1000000));
  FERRY_ASSIGN_OR_RETURN(Relay relay, OpenForReading(args));
  FERRY_ASSIGN_OR_RETURN(
      const std::vector<Event> events,
      ListEvents(relay.db(), from.value_or(1), limit.value_or(1000), args.Get("type")));
  if (args.Has("json")) {
    json::Array out;
    for (const Event& e : events) out.push_back(EventJson(e));
    PrintJson(out);
    return Ok();
  }
  for (const Event& e : events) {
    const std::string details = *json::Canonical(e.details);
    std::printf("%6lld %s %-18s %-22s %s %s\n", static_cast<long long>(e.seq),
                FormatTime(e.time).c_str(), e.type.c_str(), e.actor.c_str(), e.subject.c_str(),
                details.c_str());
  }
  return Ok();
}

// ---- applicability and approvals ----

Status ShowApplicable(std::span<char* const> argv) {
  FERRY_ASSIGN_OR_RETURN(Args args, ParseOptionsOnly(argv, {{"json", Arity::kFlag},
                                                            {"dpkg-status", Arity::kOne},
                                                            {"target-os", Arity::kOne}}));
  FERRY_ASSIGN_OR_RETURN(const std::string status_path, args.Require("dpkg-status"));
  FERRY_ASSIGN_OR_RETURN(Relay relay, OpenForReading(args));
  FERRY_ASSIGN_OR_RETURN(const std::string text,
                         fs::ReadFile(status_path, bundler::kMaxDpkgStatusBytes));
  FERRY_ASSIGN_OR_RETURN(std::vector<bundler::InstalledPackage> installed,
                         bundler::ParseDpkgStatus(text, status_path));
  FERRY_ASSIGN_OR_RETURN(const bundler::Inventory inventory,
                         bundler::MakeInventory(std::move(installed)));
  FERRY_ASSIGN_OR_RETURN(const std::vector<CatalogPatch> catalog, ListPatches(relay.db()));
  FERRY_ASSIGN_OR_RETURN(const int64_t catalog_version, relay.GetMetaInt(kMetaCatalogVersion, 0));
  std::vector<bundler::Patch> patches;
  std::map<std::string, bool> approved;
  for (const CatalogPatch& entry : catalog) {
    patches.push_back(entry.patch);
    approved[entry.patch.id] = entry.approved_at.has_value();
  }
  const ApplicabilityIndex index(patches, catalog_version);
  const std::vector<Applicable> needed =
      index.Evaluate(inventory, args.Get("target-os").value_or(""));
  if (args.Has("json")) {
    json::Array out;
    for (const Applicable& a : needed) {
      out.push_back(json::Object{{"patch_id", a.patch_id},
                                 {"package", a.package},
                                 {"architecture", a.architecture},
                                 {"installed_version", a.installed_version},
                                 {"patch_version", a.patch_version},
                                 {"severity", a.severity},
                                 {"approved", approved[a.patch_id]}});
    }
    PrintJson(json::Object{{"inventory_sha256", bundler::InventoryHash(inventory)},
                           {"installed_packages", static_cast<int64_t>(inventory.packages.size())},
                           {"catalog_version", catalog_version},
                           {"applicable", std::move(out)}});
    return Ok();
  }
  std::printf("%s: %zu installed package(s), %zu applicable patch(es) in catalog version %lld\n",
              status_path.c_str(), inventory.packages.size(), needed.size(),
              static_cast<long long>(catalog_version));
  for (const Applicable& a : needed) {
    // A script patch replaces no installed version: it is run once on every endpoint of its OS.
    const std::string change = a.installed_version.empty()
                                   ? "script, run once"
                                   : a.installed_version + " -> " + a.patch_version;
    std::printf("  %-28s %-8s %s  %-8s %s\n", a.package.c_str(), a.architecture.c_str(),
                change.c_str(), a.severity.c_str(),
                approved[a.patch_id] ? "approved" : "not approved");
  }
  return Ok();
}

Status ChangeApproval(std::span<char* const> argv, bool approve) {
  FERRY_ASSIGN_OR_RETURN(
      Args args, Args::Parse(argv, WithCommon({{"all", Arity::kFlag}, {"severity", Arity::kOne}})));
  FERRY_ASSIGN_OR_RETURN(const std::string data_dir, DataDirectory(args));
  PatchSelection selection;
  selection.ids = args.positional();
  selection.all = args.Has("all");
  selection.min_severity = args.Get("severity");
  if ((!selection.ids.empty()) + selection.all + selection.min_severity.has_value() > 1) {
    return UsageError("name patch ids, --all or --severity LEVEL: one of them");
  }
  FERRY_ASSIGN_OR_RETURN(Relay relay, Relay::Open(data_dir, Relay::Access::kReadWrite));
  FERRY_ASSIGN_OR_RETURN(const std::vector<std::string> changed,
                         approve ? ApprovePatches(relay.db(), selection, OperatorActor())
                                 : RevokePatches(relay.db(), selection, OperatorActor()));
  for (const std::string& id : changed) {
    std::printf("%s %s\n", approve ? "approved" : "revoked", id.c_str());
  }
  std::printf("%zu patch(es) %s\n", changed.size(), approve ? "approved" : "revoked");
  return Ok();
}

// ---- fsck ----

int Fsck(std::span<char* const> argv) {
  auto args = ParseOptionsOnly(argv, {{"json", Arity::kFlag}, {"quick", Arity::kFlag}});
  if (!args.ok()) return cli::ReportError(args.error());
  const auto run = [&]() -> Result<FsckReport> {
    FERRY_ASSIGN_OR_RETURN(const std::string data_dir, DataDirectory(*args));
    FERRY_ASSIGN_OR_RETURN(Relay relay, Relay::Open(data_dir, Relay::Access::kReadWrite));
    // Holding the lock means no import is half-way: the store is checked in a settled state.
    FERRY_ASSIGN_OR_RETURN(const DirectoryLock lock,
                           DirectoryLock::Acquire(relay.dir().lock_file()));
    FERRY_RETURN_IF_ERROR(RecoverInterruptedImports(relay));
    ProgressBar bar("checking");
    FsckOptions options;
    options.hash_payloads = !args->Has("quick");
    options.progress = [&](uint64_t done, uint64_t total) { bar.Update(done, total); };
    return CheckRelay(relay, options);
  };
  auto report = run();
  if (!report.ok()) return cli::ReportError(report.error());
  if (args->Has("json")) {
    PrintJson(json::Object{{"ok", report->ok()},
                           {"faults", json::Array(report->faults.begin(), report->faults.end())},
                           {"payloads_checked", static_cast<int64_t>(report->payloads_checked)},
                           {"bytes_hashed", report->bytes_hashed},
                           {"events_checked", report->events_checked}});
  } else {
    for (const std::string& fault : report->faults) std::printf("fault: %s\n", fault.c_str());
    std::printf("%s: %zu payload(s) checked, %llu bytes hashed, %lld event(s) checked\n",
                report->ok() ? "clean" : "FAULTS FOUND", report->payloads_checked,
                static_cast<unsigned long long>(report->bytes_hashed),
                static_cast<long long>(report->events_checked));
  }
  if (!report->ok()) {
    std::fprintf(stderr, "error: fsck found %zu fault(s); first: %s\n", report->faults.size(),
                 report->faults.front().c_str());
    return 1;
  }
  return 0;
}

int Dispatch(int argc, char** argv) {
  if (argc < 2) return cli::ReportError(UsageError("no command given (try --help)"));
  const std::string command = argv[1];
  const std::span<char* const> rest(argv + 2, static_cast<size_t>(argc - 2));
  if (command == "import") return Import(rest);
  if (command == "fsck") return Fsck(rest);
  if (command == "serve") return RunServe(rest);
  if (command == "token") return RunTokenCommand(rest);
  if (command == "endpoints") return RunEndpointsCommand(rest);
  if (command == "endpoint") return RunEndpointCommand(rest);
  Status status = Ok();
  if (command == "init") {
    status = Init(rest);
  } else if (command == "status") {
    status = ShowStatus(rest);
  } else if (command == "bundles") {
    status = Bundles(rest);
  } else if (command == "patches") {
    status = Patches(rest);
  } else if (command == "events") {
    status = Events(rest);
  } else if (command == "applicable") {
    status = ShowApplicable(rest);
  } else if (command == "approve") {
    status = ChangeApproval(rest, true);
  } else if (command == "revoke") {
    status = ChangeApproval(rest, false);
  } else if (command == "evidence") {
    status = RunEvidenceCommand(rest, WithCommon({}), DataDirectory);
  } else if (command == "exception") {
    status = RunExceptionCommand(rest, WithCommon({}), DataDirectory);
  } else {
    status = UsageError("unknown command \"" + command + "\" (try --help)");
  }
  return status.ok() ? 0 : cli::ReportError(status.error());
}

}  // namespace

int RunRelayCli(int argc, char** argv) {
  if (argc >= 2 && (std::string_view(argv[1]) == "--help" || std::string_view(argv[1]) == "-h" ||
                    std::string_view(argv[1]) == "help")) {
    std::fputs(kUsage, stdout);
    return 0;
  }
  return Dispatch(argc, argv);
}

}  // namespace ferry::relay
