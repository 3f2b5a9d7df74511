#include "endpoint/agent.hpp"

#include <stdlib.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cstdio>
#include <filesystem>
#include <set>
#include <utility>

#include "bundler/bundle_reader.hpp"
#include "bundler/deb_file.hpp"
#include "common/file.hpp"
#include "crypto/secure.hpp"
#include "endpoint/child_process.hpp"
#include "endpoint/client_identity.hpp"
#include "endpoint/dpkg_installer.hpp"
#include "endpoint/local_inventory.hpp"
#include "endpoint/patch_check.hpp"
#include "endpoint/schedule.hpp"
#include "endpoint/script_installer.hpp"

namespace ferry::endpoint {
namespace {

constexpr size_t kMaxPemFile = 64 * 1024;
constexpr size_t kMaxTokenBytes = 256;
constexpr size_t kMaxOsRelease = 64 * 1024;
// The CSR's subject is ignored by the relay (it names the endpoint itself); this one says what
// made the key.
constexpr const char* kCsrCommonName = "ferry-agent";
// Verified manifests kept in memory between cycles.
constexpr size_t kMaxCachedManifests = 64;
// A download cut short is resumed at once this many times before waiting for the next cycle.
constexpr int kDownloadAttempts = 3;
// Signed creation times further ahead of the clock than this do not move the time floor.
constexpr int64_t kMaxFutureSkew = 86400;

std::string Plural(size_t count, const std::string& noun) {
  const bool sibilant = noun.ends_with("ch") || noun.ends_with("s");
  return std::to_string(count) + " " + noun + (count == 1 ? "" : sibilant ? "es" : "s");
}

std::string ResultName(PatchOutcome::Kind kind) {
  switch (kind) {
    case PatchOutcome::Kind::kInstalled:
      return "installed";
    case PatchOutcome::Kind::kRebootRequired:
      return "reboot_required";
    case PatchOutcome::Kind::kFailed:
      return "failed";
    case PatchOutcome::Kind::kRefused:
      return "refused";
    case PatchOutcome::Kind::kDeferred:
      break;
  }
  return "deferred";
}

// The running kernel's boot id: a reboot changes it, which clears "reboot required".
std::string CurrentBootId() {
  auto text = fs::ReadFile("/proc/sys/kernel/random/boot_id", 128);
  if (!text.ok()) {
    return "";
  }
  std::string id = *text;
  while (!id.empty() && (id.back() == '\n' || id.back() == ' ')) {
    id.pop_back();
  }
  return id;
}

Result<std::string> LocalHostname() {
  std::array<char, 256> name{};
  if (::gethostname(name.data(), name.size() - 1) != 0) {
    return IoError("gethostname failed; give --hostname");
  }
  return std::string(name.data());
}

// An outcome that ends the patch here: the cause goes to the log, the report and status.json.
// Errors of kind kIo (relay away, disk trouble) defer the patch to a later cycle instead.
PatchOutcome Stop(PatchOutcome outcome, const Error& error) {
  outcome.kind =
      error.kind() == ErrorKind::kIo ? PatchOutcome::Kind::kDeferred : PatchOutcome::Kind::kRefused;
  outcome.cause = error.message();
  outcome.log_excerpt = MakeLogExcerpt("", error.message());
  outcome.finished = Now();
  return outcome;
}

PatchOutcome Failed(PatchOutcome outcome, const std::string& cause) {
  outcome.kind = PatchOutcome::Kind::kFailed;
  outcome.cause = cause;
  outcome.log_excerpt = MakeLogExcerpt("", cause);
  outcome.finished = Now();
  return outcome;
}

// A private, empty working directory for a script installer, removed afterwards.
class WorkDir {
 public:
  static Result<WorkDir> Make() {
    std::error_code ec;
    std::string pattern =
        (std::filesystem::temp_directory_path(ec) / "ferry-agent-XXXXXX").string();
    if (ec || ::mkdtemp(pattern.data()) == nullptr) {
      return IoError(pattern + ": cannot create a working directory");
    }
    return WorkDir(std::move(pattern));
  }
  WorkDir(WorkDir&& other) noexcept : path_(std::exchange(other.path_, std::string())) {}
  WorkDir& operator=(WorkDir&&) = delete;
  ~WorkDir() {
    if (!path_.empty()) {
      std::error_code ignored;
      std::filesystem::remove_all(path_, ignored);
    }
  }
  const std::string& path() const { return path_; }

 private:
  explicit WorkDir(std::string path) : path_(std::move(path)) {}
  std::string path_;
};

}  // namespace

Logger StderrLogger() {
  return [](const std::string& line) { std::fprintf(stderr, "ferry-agent: %s\n", line.c_str()); };
}

Result<std::string> DetectTargetOs(const std::string& os_release_path) {
  FERRY_ASSIGN_OR_RETURN(const std::string text, fs::ReadFile(os_release_path, kMaxOsRelease));
  std::string id;
  std::string version;
  size_t start = 0;
  while (start < text.size()) {
    const size_t end = std::min(text.find('\n', start), text.size());
    const std::string line = text.substr(start, end - start);
    start = end + 1;
    const size_t eq = line.find('=');
    if (eq == std::string::npos) {
      continue;
    }
    std::string value = line.substr(eq + 1);
    if (value.size() >= 2 && (value.front() == '"' || value.front() == '\'') &&
        value.back() == value.front()) {
      value = value.substr(1, value.size() - 2);
    }
    const std::string key = line.substr(0, eq);
    if (key == "ID") {
      id = value;
    } else if (key == "VERSION_ID") {
      version = value;
    }
  }
  // Debian names its releases by major version ("12"); point releases share the same patches.
  if (id == "debian") {
    version = version.substr(0, version.find('.'));
  }
  const std::string target = id + "-" + version;
  if (id.empty() || version.empty() || !bundler::IsSafeIdentifier(target)) {
    return IoError(os_release_path + ": no usable ID and VERSION_ID to name this OS release");
  }
  return target;
}

Result<EnrollResult> Enroll(const EnrollOptions& options, const Logger& log) {
  const UnixTime now = Now();
  if (fs::Exists(StatePaths{options.state_dir}.config())) {
    return UsageError(options.state_dir + ": already enrolled; refusing to replace its identity " +
                      "(use a new state directory)");
  }
  FERRY_ASSIGN_OR_RETURN(const RelayUrl url, ParseRelayUrl(options.relay_url));
  if (options.token.empty() || options.token.size() > kMaxTokenBytes ||
      !std::all_of(options.token.begin(), options.token.end(),
                   [](char c) { return c > 0x20 && c < 0x7f; })) {
    return UsageError("--token: expected the enrolment token printed by ferry-relay token create");
  }
  std::string hostname;
  if (options.hostname) {
    hostname = *options.hostname;
  } else {
    FERRY_ASSIGN_OR_RETURN(hostname, LocalHostname());
  }
  if (!IsValidHostname(hostname)) {
    return UsageError("host name \"" + hostname +
                      "\" is not 1 to 253 characters of "
                      "[A-Za-z0-9.-] (give --hostname)");
  }
  std::string target_os;
  if (options.target_os) {
    target_os = *options.target_os;
  } else {
    FERRY_ASSIGN_OR_RETURN(target_os, DetectTargetOs());
  }

  // Trust comes from the command line, checked before anything is sent or stored.
  FERRY_ASSIGN_OR_RETURN(const std::string root_text,
                         fs::ReadFile(options.root_file, crypto::kMaxTrustRootBytes));
  FERRY_ASSIGN_OR_RETURN(crypto::TrustRoot root,
                         CheckEnrollmentRoot(root_text, options.root_file, now));
  log("trust root v" + std::to_string(root.version) + " from " + options.root_file +
      " is valid (expires " + FormatTime(root.expires) + ")");
  FERRY_ASSIGN_OR_RETURN(const std::string ca_pem, fs::ReadFile(options.ca_file, kMaxPemFile));

  FERRY_ASSIGN_OR_RETURN(AgentState state, AgentState::OpenForEnrollment(options.state_dir));
  const StatePaths& paths = state.paths();
  // The relay's CA is pinned from the first connection on: only this copy is ever trusted.
  FERRY_RETURN_IF_ERROR(fs::WriteFileAtomic(paths.ca(), ca_pem, 0644));
  FERRY_ASSIGN_OR_RETURN(KeyAndCsr identity, MakeClientKeyAndCsr(kCsrCommonName));
  struct Wipe {
    std::string& text;
    ~Wipe() { crypto::SecureWipe(text.data(), text.size()); }
  } wipe_key{identity.key_pem};

  HttpsClientOptions client;
  client.url = url;
  client.ca_file = paths.ca();
  client.connect_timeout = options.connect_timeout;
  client.io_timeout = options.io_timeout;
  client.user_agent = "ferry-agent/" + std::string(kAgentVersion);
  FERRY_ASSIGN_OR_RETURN(HttpsClient https, HttpsClient::Create(client));
  RelayClient relay(std::move(https));
  log("enrol: asking " + url.ToString() + " for an identity for " + hostname + " (" + target_os +
      ")");
  FERRY_ASSIGN_OR_RETURN(const EnrollAnswer answer,
                         relay.Enroll({options.token, identity.csr_pem, hostname, target_os}));
  FERRY_RETURN_IF_ERROR(CheckClientCertificate(answer.certificate_pem, identity.key_pem, ca_pem,
                                               answer.endpoint_id, now));

  // The key is stored only with its certificate: a failed enrolment leaves no private key.
  FERRY_RETURN_IF_ERROR(fs::WriteFileAtomic(paths.key(), identity.key_pem, 0600));
  FERRY_RETURN_IF_ERROR(fs::WriteFileAtomic(paths.cert(), answer.certificate_pem, 0644));
  FERRY_RETURN_IF_ERROR(state.SaveRoot(root));
  AgentStatus status;
  FERRY_RETURN_IF_ERROR(state.SaveStatus(status));
  AgentConfig config;
  config.relay_url = url.ToString();
  config.endpoint_id = answer.endpoint_id;
  config.hostname = hostname;
  config.target_os = target_os;
  config.root_version = root.version;
  config.poll_seconds = ClampPollSeconds(answer.poll_seconds);
  config.enrolled = now;
  // agent.json last: its presence is what "enrolled" means.
  FERRY_RETURN_IF_ERROR(state.SaveConfig(config));
  log("enrolled as " + config.endpoint_id + "; state in " + paths.dir);
  return EnrollResult{config.endpoint_id, config.root_version, config.poll_seconds};
}

Agent::Agent(AgentState state, AgentConfig config, crypto::TrustRoot root, RelayClient relay,
             RunOptions options, Logger log)
    : state_(std::move(state)),
      config_(std::move(config)),
      root_(std::move(root)),
      relay_(std::move(relay)),
      options_(std::move(options)),
      log_(std::move(log)),
      outbox_(state_.paths().outbox()),
      cache_(state_.paths().cache(), options_.cache_max) {}

Result<Agent> Agent::Open(const RunOptions& options, Logger log) {
  FERRY_ASSIGN_OR_RETURN(AgentState state, AgentState::Open(options.state_dir));
  FERRY_ASSIGN_OR_RETURN(AgentConfig config, state.LoadConfig());
  FERRY_ASSIGN_OR_RETURN(crypto::TrustRoot root, state.LoadRoot(config.root_version));
  FERRY_ASSIGN_OR_RETURN(const RelayUrl url, ParseRelayUrl(config.relay_url));
  HttpsClientOptions client;
  client.url = url;
  client.ca_file = state.paths().ca();
  client.client_cert_file = state.paths().cert();
  client.client_key_file = state.paths().key();
  client.connect_timeout = options.connect_timeout;
  client.io_timeout = options.io_timeout;
  client.user_agent = "ferry-agent/" + std::string(kAgentVersion);
  FERRY_ASSIGN_OR_RETURN(HttpsClient https, HttpsClient::Create(client));
  if (!log) {
    log = StderrLogger();
  }
  return Agent(std::move(state), std::move(config), std::move(root), RelayClient(std::move(https)),
               options, std::move(log));
}

bool Agent::StopRequested() const { return options_.stop_requested && options_.stop_requested(); }

UnixTime Agent::EffectiveNow(const AgentStatus& status) const {
  return std::max(Now(), status.time_floor);
}

void Agent::ClearRebootAfterBoot(AgentStatus& status) const {
  if (!status.reboot_required) {
    return;
  }
  const std::string boot_id = CurrentBootId();
  if (!boot_id.empty() && !status.reboot_boot_id.empty() && boot_id != status.reboot_boot_id) {
    log_("reboot: the machine has restarted since " +
         Plural(status.reboot_patches.size(), "patch") + " asked for it; clearing the flag");
    status.reboot_required = false;
    status.reboot_patches.clear();
    status.reboot_boot_id.clear();
  }
}

void Agent::SendReports(CycleReport& report) {
  auto waiting = outbox_.Count();
  if (waiting.ok() && *waiting > 0) {
    log_("reports: sending " + Plural(*waiting, "waiting report"));
    auto flushed = outbox_.Flush(
        [this](const std::vector<Report>& batch) {
          return relay_.SendReports(config_.endpoint_id, batch);
        },
        log_);
    if (flushed.ok()) {
      log_("reports: " + std::to_string(flushed->accepted) + " accepted, " +
           std::to_string(flushed->rejected) + " rejected, " + std::to_string(flushed->remaining) +
           " unconfirmed");
    } else {
      log_("reports: " + flushed.error().message() + "; they stay in the outbox");
      if (flushed.error().kind() == ErrorKind::kIo) {
        NoteRelayLost(report, flushed.error());
      }
    }
  } else if (!waiting.ok()) {
    log_("reports: " + waiting.error().message());
  }
  auto left = outbox_.Count();
  report.reports_waiting = left.ok() ? *left : 0;
}

Result<bundler::Inventory> Agent::ReadInventory() const {
  auto inventory = ReadLocalInventory(DpkgRoot{options_.dpkg_root});
  if (!inventory.ok()) {
    return std::move(inventory).error().Context("inventory");
  }
  return inventory;
}

Result<CheckinAnswer> Agent::CheckIn(const bundler::Inventory& inventory, AgentStatus& status) {
  const std::string canonical = bundler::InventoryCanonical(inventory);
  const std::string hash = crypto::DigestHex(crypto::Sha256Of(canonical));
  CheckinRequest request{config_.endpoint_id, hash, config_.target_os, std::nullopt};
  // The whole list travels only when the relay may not know it yet.
  if (hash != status.inventory_sha256) {
    request.inventory = canonical;
  }
  log_("check-in: " + Plural(inventory.packages.size(), "installed package") + ", inventory " +
       hash.substr(0, 12) + (request.inventory ? " (sent in full)" : " (hash only)"));
  FERRY_ASSIGN_OR_RETURN(CheckinAnswer answer, relay_.Checkin(request));
  if (answer.need_inventory) {
    if (request.inventory) {
      return InvalidError("check-in: the relay asked again for the inventory it was just sent");
    }
    log_("check-in: the relay does not know this inventory; sending it in full");
    request.inventory = canonical;
    FERRY_ASSIGN_OR_RETURN(answer, relay_.Checkin(request));
    if (answer.need_inventory) {
      return InvalidError("check-in: the relay asked again for the inventory it was just sent");
    }
  }
  status.inventory_sha256 = hash;
  return answer;
}

void Agent::ApplyCheckin(const CheckinAnswer& answer, AgentStatus& status) {
  status.last_checkin = Now();
  status.last_error.clear();
  status.catalog_version = answer.catalog_version;
  status.pending.clear();
  for (const OfferedPatch& patch : answer.patches) {
    status.pending.push_back(
        {patch.id, patch.kind, patch.package, patch.version, patch.severity, patch.reboot});
  }
  const int64_t poll = ClampPollSeconds(answer.poll_seconds);
  if (poll != config_.poll_seconds) {
    config_.poll_seconds = poll;
    if (Status saved = state_.SaveConfig(config_); !saved.ok()) {
      log_("state: " + saved.error().message());
    }
  }
  log_("check-in: catalog " + std::to_string(answer.catalog_version) + ", " +
       Plural(answer.patches.size(), "patch") + " offered, root v" +
       std::to_string(answer.root_version) + ", next check-in in about " +
       std::to_string(config_.poll_seconds) + " s");
}

Status Agent::UpdateTrust(int64_t announced_version) {
  if (announced_version <= root_.version) {
    return Ok();
  }
  const int64_t last = std::min<int64_t>(announced_version, root_.version + bundler::kMaxRootChain);
  for (int64_t version = root_.version + 1; version <= last; ++version) {
    const std::string what = "trust root v" + std::to_string(version);
    auto text = relay_.FetchRoot(version);
    if (!text.ok()) {
      return std::move(text).error().Context(what);
    }
    // Only the holders of the current root keys can move trust forward; the relay cannot.
    auto next = crypto::VerifyRootUpdate(root_, *text);
    if (!next.ok()) {
      return std::move(next).error().Context(what);
    }
    FERRY_RETURN_IF_ERROR(state_.SaveRoot(*next));
    config_.root_version = next->version;
    FERRY_RETURN_IF_ERROR(state_.SaveConfig(config_));
    root_ = std::move(*next);
    log_("trust: root v" + std::to_string(version) + " accepted (signed by root v" +
         std::to_string(version - 1) + "'s keys and its own)");
  }
  return Ok();
}

std::vector<const OfferedPatch*> Agent::SelectPatches(const CheckinAnswer& answer,
                                                      const AgentStatus& status, UnixTime now,
                                                      CycleReport& report) const {
  std::vector<const OfferedPatch*> selected;
  for (const OfferedPatch& patch : answer.patches) {
    const auto it = status.patches.find(patch.id);
    if (it != status.patches.end()) {
      const PatchRecord& record = it->second;
      if (record.retry_after && *record.retry_after > now) {
        log_("patch " + patch.id + ": waiting (" + record.result + " after " +
             Plural(record.failures, "attempt") + "); next attempt after " +
             FormatTime(*record.retry_after));
        ++report.deferred;
        continue;
      }
      // dpkg's database says whether a deb is installed; nothing records a script's effect but
      // this agent, so a script that succeeded is not run again.
      if (patch.kind != "deb" &&
          (record.result == "installed" || record.result == "reboot_required")) {
        continue;
      }
    }
    selected.push_back(&patch);
  }
  return selected;
}

std::map<std::string, Result<bundler::Manifest>> Agent::FetchManifests(
    const CheckinAnswer& answer, const std::vector<const OfferedPatch*>& patches,
    AgentStatus& status) {
  std::map<std::string, Result<bundler::Manifest>> manifests;
  const UnixTime now = EffectiveNow(status);
  for (const OfferedPatch* patch : patches) {
    const std::string& ref = patch->manifest;
    if (manifests.count(ref) != 0) {
      continue;
    }
    const auto announced = std::find_if(answer.manifests.begin(), answer.manifests.end(),
                                        [&](const ManifestRef& entry) { return entry.ref == ref; });
    const auto verify = [&]() -> Result<bundler::Manifest> {
      std::string text;
      if (const auto cached = manifest_texts_.find(announced->sha256);
          cached != manifest_texts_.end()) {
        text = cached->second;
      } else {
        FERRY_ASSIGN_OR_RETURN(text, relay_.FetchManifest(ref));
      }
      if (crypto::Sha256Of(text) != announced->sha256) {
        return InvalidError("manifest " + ref +
                            ": the bytes served do not match the SHA-256 the relay announced");
      }
      auto manifest = VerifyManifest(text, root_, now);
      if (!manifest.ok()) {
        return std::move(manifest).error();
      }
      if (manifest->channel + "/" + std::to_string(manifest->sequence) != ref) {
        return InvalidError("manifest " + ref + ": the signed manifest is " + manifest->channel +
                            "/" + std::to_string(manifest->sequence));
      }
      if (manifest_texts_.size() >= kMaxCachedManifests) {
        manifest_texts_.clear();
      }
      manifest_texts_.emplace(announced->sha256, std::move(text));
      if (manifest->created <= Now() + kMaxFutureSkew) {
        status.time_floor = std::max(status.time_floor, manifest->created);
      }
      return manifest;
    };
    Result<bundler::Manifest> manifest = verify();
    if (manifest.ok()) {
      log_("manifest " + ref + ": signatures verified against root v" +
           std::to_string(root_.version) + " (" + Plural(manifest->patches.size(), "patch") +
           ", expires " + FormatTime(manifest->expires) + ")");
    } else {
      log_("manifest " + ref + ": " + manifest.error().message());
    }
    manifests.emplace(ref, std::move(manifest));
  }
  return manifests;
}

Result<std::string> Agent::FetchPayload(const bundler::Patch& patch,
                                        std::set<crypto::Sha256Digest>& keep, bool& relay_failed) {
  const bundler::PayloadRef& payload = patch.payload;
  const std::string complete = cache_.CompletePath(payload.sha256);
  if (fs::Exists(complete)) {
    if (CheckPayloadFile(complete, payload).ok()) {
      (void)cache_.Touch(payload.sha256);
      keep.insert(payload.sha256);
      log_("patch " + patch.id + ": payload found in the cache and re-verified");
      return complete;
    }
    log_("patch " + patch.id + ": the cached payload is damaged; downloading it again");
    FERRY_RETURN_IF_ERROR(cache_.Remove(payload.sha256));
  }
  std::set<crypto::Sha256Digest> keeping = keep;
  keeping.insert(payload.sha256);
  FERRY_ASSIGN_OR_RETURN(const CacheCleanup room, cache_.Clean(Now(), payload.size, keeping));
  const std::string part = cache_.PartPath(payload.sha256);
  std::error_code no_part;
  const uint64_t partial = std::filesystem::file_size(part, no_part);  // counted in `used`
  const uint64_t others = room.used - std::min<uint64_t>(room.used, no_part ? 0 : partial);
  if (others + payload.size > cache_.max_bytes()) {
    return IoError("the cache is full of payloads waiting to be installed (--cache-max " +
                   std::to_string(cache_.max_bytes()) + ")");
  }
  bool whole_retried = false;
  for (int attempt = 1;; ++attempt) {
    const bool had_partial = fs::Exists(part);
    auto downloaded = relay_.DownloadPayload(payload.sha256, part, payload.size);
    if (!downloaded.ok()) {
      if (downloaded.error().kind() == ErrorKind::kIo && attempt < kDownloadAttempts) {
        log_("patch " + patch.id + ": " + downloaded.error().message() + "; resuming");
        continue;
      }
      relay_failed = downloaded.error().kind() == ErrorKind::kIo;
      return std::move(downloaded).error();
    }
    log_("patch " + patch.id + ": downloaded " + std::to_string(downloaded->received) + " bytes" +
         (downloaded->resumed_from > 0
              ? " (resumed at byte " + std::to_string(downloaded->resumed_from) + ")"
              : ""));
    Status checked = CheckPayloadFile(part, payload);
    if (checked.ok()) {
      FERRY_RETURN_IF_ERROR(cache_.Promote(payload.sha256));
      keep.insert(payload.sha256);
      return complete;
    }
    FERRY_RETURN_IF_ERROR(cache_.Remove(payload.sha256));
    // Bytes kept from an earlier attempt may be what is wrong: one clean download decides.
    if (had_partial && !whole_retried && checked.error().kind() == ErrorKind::kInvalid) {
      whole_retried = true;
      log_("patch " + patch.id + ": the resumed file does not verify; downloading it whole");
      continue;
    }
    return checked.error();
  }
}

PatchOutcome Agent::Install(const bundler::Patch& patch, const std::string& payload_path) {
  PatchOutcome outcome;
  outcome.started = Now();
  Result<InstallOutcome> result = IoError("no installer for kind " + patch.kind);
  if (patch.kind == "deb") {
    log_("patch " + patch.id + ": installing " + patch.package + " " + patch.version +
         " with dpkg" + (options_.dpkg_root.empty() ? "" : " (root " + options_.dpkg_root + ")"));
    result = InstallDeb(payload_path, DpkgRoot{options_.dpkg_root});
  } else {
    auto work = WorkDir::Make();
    if (!work.ok()) {
      return Stop(outcome, IoError(work.error().message()));
    }
    log_("patch " + patch.id + ": running the installer " + patch.payload.file_name);
    result = RunScriptInstaller(*patch.installer, payload_path, work->path());
  }
  if (!result.ok()) {
    // Nothing was attempted (dpkg's lock stayed taken, dpkg missing): not a result to report.
    return Stop(outcome, IoError("the installer could not start: " + result.error().message()));
  }
  outcome.started = result->started;
  outcome.finished = result->finished;
  if (result->exit_code) {
    outcome.exit_code = *result->exit_code;
  }
  outcome.log_excerpt = result->log_excerpt.size() > kMaxLogExcerpt
                            ? MakeLogExcerpt(result->log_excerpt, "")
                            : result->log_excerpt;
  switch (result->result) {
    case InstallResult::kInstalled:
      outcome.kind =
          patch.reboot ? PatchOutcome::Kind::kRebootRequired : PatchOutcome::Kind::kInstalled;
      break;
    case InstallResult::kRebootRequired:
      outcome.kind = PatchOutcome::Kind::kRebootRequired;
      break;
    case InstallResult::kFailed:
      outcome.kind = PatchOutcome::Kind::kFailed;
      outcome.cause = "the installer failed" +
                      (result->exit_code ? " (exit code " + std::to_string(*result->exit_code) + ")"
                                         : std::string());
      break;
  }
  return outcome;
}

PreparedPatch Agent::PreparePatch(const OfferedPatch& offered,
                                  const Result<bundler::Manifest>& manifest,
                                  const bundler::Inventory& inventory,
                                  std::set<crypto::Sha256Digest>& keep) {
  PreparedPatch prepared;
  prepared.offered = &offered;
  PatchOutcome outcome;
  outcome.started = Now();
  const auto stop = [&](const Error& error) {
    prepared.outcome = Stop(outcome, error);
    return std::move(prepared);
  };
  if (!manifest.ok()) {
    prepared.relay_failed = manifest.error().kind() == ErrorKind::kIo;
    return stop(manifest.error().Context("patch " + offered.id));
  }
  auto matched = MatchOfferedPatch(offered, *manifest, config_.target_os);
  if (!matched.ok()) {
    return stop(matched.error());
  }
  prepared.patch = **matched;
  const bundler::Patch& patch = prepared.patch;
  if (patch.kind == "file") {
    return stop(InvalidError("patch " + patch.id +
                             ": kind \"file\" (deliver a file) is not supported by this agent"));
  }
  if (patch.kind == "deb") {
    if (Status upgrade = CheckUpgrade(patch, inventory); !upgrade.ok()) {
      return stop(upgrade.error());
    }
  }
  if (patch.payload.size > cache_.max_bytes()) {
    prepared.outcome = Failed(
        outcome, "patch " + patch.id + ": its payload of " + std::to_string(patch.payload.size) +
                     " bytes does not fit the cache limit of " +
                     std::to_string(cache_.max_bytes()) + " bytes (--cache-max)");
    return prepared;
  }
  auto path = FetchPayload(patch, keep, prepared.relay_failed);
  if (!path.ok()) {
    return stop(path.error().Context("patch " + patch.id));
  }
  if (patch.kind == "deb") {
    auto control = bundler::ReadDebControl(*path);
    Status matches = control.ok() ? CheckDebControl(*control, patch)
                                  : Status(control.error().Context("patch " + patch.id));
    if (!matches.ok()) {
      keep.erase(patch.payload.sha256);
      (void)cache_.Remove(patch.payload.sha256);
      return stop(matches.error());
    }
  }
  prepared.payload_path = *path;
  return prepared;
}

PatchOutcome Agent::InstallPrepared(const PreparedPatch& prepared) {
  const bundler::Patch& patch = prepared.patch;
  PatchOutcome installed = Install(patch, prepared.payload_path);
  if (!installed.cause.empty()) {
    installed.cause = "patch " + patch.id + ": " + installed.cause;
  }
  if (installed.kind == PatchOutcome::Kind::kInstalled ||
      installed.kind == PatchOutcome::Kind::kRebootRequired) {
    if (Status removed = cache_.Remove(patch.payload.sha256); !removed.ok()) {
      log_("cache: " + removed.error().message());
    }
  }
  return installed;
}

Status Agent::Record(const OfferedPatch& offered, const PatchOutcome& outcome, AgentStatus& status,
                     CycleReport& report) {
  if (outcome.kind == PatchOutcome::Kind::kDeferred) {
    ++report.deferred;
    log_("deferred " + outcome.cause + "; the next check-in tries again");
    return Ok();
  }
  const std::string result = ResultName(outcome.kind);
  Report entry;
  entry.report_id = NewReportId();
  entry.patch_id = offered.id;
  entry.result = result;
  entry.exit_code = outcome.exit_code;
  entry.started = outcome.started;
  entry.finished = outcome.finished;
  entry.log_excerpt = outcome.log_excerpt;
  // On disk before anything else: the result survives a crash and a relay that is away.
  FERRY_RETURN_IF_ERROR(outbox_.Add(entry));

  PatchRecord& record = status.patches[offered.id];
  const bool bad =
      outcome.kind == PatchOutcome::Kind::kFailed || outcome.kind == PatchOutcome::Kind::kRefused;
  record.failures = bad ? record.failures + 1 : 0;
  record.result = result;
  record.package = offered.package;
  record.version = offered.version;
  record.finished = outcome.finished;
  record.exit_code = outcome.exit_code;
  record.cause = outcome.cause;
  record.retry_after.reset();
  if (bad) {
    record.retry_after = outcome.finished + PatchRetryDelay(record.failures);
  }
  switch (outcome.kind) {
    case PatchOutcome::Kind::kInstalled:
      ++report.installed;
      log_("patch " + offered.id + ": installed");
      break;
    case PatchOutcome::Kind::kRebootRequired:
      ++report.installed;
      status.reboot_required = true;
      if (std::find(status.reboot_patches.begin(), status.reboot_patches.end(), offered.id) ==
          status.reboot_patches.end()) {
        status.reboot_patches.push_back(offered.id);
      }
      status.reboot_boot_id = CurrentBootId();
      log_("patch " + offered.id + ": installed; a reboot is required");
      break;
    case PatchOutcome::Kind::kFailed:
      ++report.failed;
      log_("failed " + outcome.cause + "; next attempt after " + FormatTime(*record.retry_after));
      break;
    case PatchOutcome::Kind::kRefused:
      ++report.refused;
      log_("refused " + outcome.cause);
      break;
    case PatchOutcome::Kind::kDeferred:
      break;
  }
  return state_.SaveStatus(status);
}

void Agent::NoteRelayLost(CycleReport& report, const Error& error) const {
  if (report.relay_reached && !report.relay_lost) {
    report.relay_lost = true;
    report.relay_error = error.message();
  }
}

void Agent::CleanCache(UnixTime now) {
  auto cleaned = cache_.Clean(now, 0, {});
  if (!cleaned.ok()) {
    log_("cache: " + cleaned.error().message());
  } else if (!cleaned->removed.empty()) {
    log_("cache: removed " + Plural(cleaned->removed.size(), "file") + " (" +
         std::to_string(cleaned->freed) + " bytes); " + std::to_string(cleaned->used) +
         " bytes in use");
  }
}

Result<CycleReport> Agent::RunCycle() {
  CycleReport report;
  auto loaded = state_.LoadStatus();
  AgentStatus status;
  if (loaded.ok()) {
    status = std::move(*loaded);
  } else {
    log_("state: " + loaded.error().message() + "; starting from an empty status");
  }
  ClearRebootAfterBoot(status);
  const auto finish = [&]() -> Result<CycleReport> {
    relay_.Close();
    report.reboot_required = status.reboot_required;
    FERRY_RETURN_IF_ERROR(state_.SaveStatus(status));
    return report;
  };

  SendReports(report);
  if (StopRequested()) {
    report.stopped = true;
    return finish();
  }
  FERRY_ASSIGN_OR_RETURN(const bundler::Inventory inventory, ReadInventory());
  status.last_attempt = Now();
  auto answer = CheckIn(inventory, status);
  if (!answer.ok()) {
    status.last_error = answer.error().message();
    log_(answer.error().message());
    if (answer.error().kind() != ErrorKind::kIo) {
      relay_.Close();
      (void)state_.SaveStatus(status);
      return std::move(answer).error();
    }
    report.relay_error = answer.error().message();
    return finish();
  }
  report.relay_reached = true;
  report.offered = answer->patches.size();
  ApplyCheckin(*answer, status);
  FERRY_RETURN_IF_ERROR(state_.SaveStatus(status));

  if (Status trust = UpdateTrust(answer->root_version); !trust.ok()) {
    log_("trust: " + trust.error().message() + "; manifests are checked against root v" +
         std::to_string(root_.version));
  }
  const UnixTime now = EffectiveNow(status);
  const std::vector<const OfferedPatch*> selected = SelectPatches(*answer, status, now, report);
  const auto manifests = FetchManifests(*answer, selected, status);
  for (const auto& [ref, manifest] : manifests) {
    if (!manifest.ok() && manifest.error().kind() == ErrorKind::kIo) {
      NoteRelayLost(report, manifest.error());
    }
  }
  // Everything offered is checked and fetched before anything is installed: the network part
  // is over before the system changes, and one bad patch cannot stop half a batch.
  std::vector<PreparedPatch> ready;
  std::set<crypto::Sha256Digest> keep;
  for (const OfferedPatch* patch : selected) {
    if (StopRequested()) {
      report.stopped = true;
      break;
    }
    PreparedPatch prepared = PreparePatch(*patch, manifests.at(patch->manifest), inventory, keep);
    if (prepared.relay_failed && prepared.outcome) {
      NoteRelayLost(report, IoError(prepared.outcome->cause));
    }
    if (prepared.outcome) {
      FERRY_RETURN_IF_ERROR(Record(*patch, *prepared.outcome, status, report));
    } else {
      ready.push_back(std::move(prepared));
    }
  }
  for (const PreparedPatch& prepared : ready) {
    if (StopRequested()) {
      report.stopped = true;
      break;
    }
    FERRY_RETURN_IF_ERROR(Record(*prepared.offered, InstallPrepared(prepared), status, report));
  }

  // The relay learns the new versions now rather than at the next poll.
  if (report.installed > 0 && !report.stopped) {
    auto after = ReadInventory();
    auto again = after.ok() ? CheckIn(*after, status) : Result<CheckinAnswer>(after.error());
    if (again.ok()) {
      ApplyCheckin(*again, status);
    } else {
      log_("check-in after installs: " + again.error().message());
      if (after.ok() && again.error().kind() == ErrorKind::kIo) {
        NoteRelayLost(report, again.error());
      }
    }
  }
  SendReports(report);
  CleanCache(Now());
  return finish();
}

void Agent::RunLoop(const std::function<bool(int64_t seconds)>& sleep) {
  int64_t unreachable = 0;
  while (!StopRequested()) {
    auto cycle = RunCycle();
    int64_t wait = 0;
    if (!cycle.ok()) {
      log_("cycle: " + cycle.error().message());
      unreachable = 0;
      wait = JitteredPoll(config_.poll_seconds, RandomUnit());
    } else if (!cycle->relay_reached || cycle->relay_lost) {
      ++unreachable;
      wait = ConnectionBackoff(unreachable, config_.poll_seconds);
    } else {
      unreachable = 0;
      wait = JitteredPoll(config_.poll_seconds, RandomUnit());
    }
    if (StopRequested() || (cycle.ok() && cycle->stopped)) {
      break;
    }
    log_("next check-in in " + std::to_string(wait) + " s");
    if (!sleep(wait)) {
      break;
    }
  }
  log_("stopping");
}

}  // namespace ferry::endpoint
