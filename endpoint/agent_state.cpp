#include "endpoint/agent_state.hpp"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <utility>

#include "bundler/manifest.hpp"
#include "common/file.hpp"
#include "endpoint/relay_api.hpp"

namespace ferry::endpoint {
namespace {

constexpr size_t kMaxConfigBytes = 64 * 1024;
// 100,000 pending patches and kMaxPatchRecords records fit well below this.
constexpr size_t kMaxStatusBytes = 64u << 20;

Status MakePrivateDirectory(const std::string& path) {
  if (::mkdir(path.c_str(), 0700) != 0 && errno != EEXIST) {
    return IoError(path + ": mkdir: " + std::strerror(errno));
  }
  struct stat st {};
  if (::lstat(path.c_str(), &st) != 0) {
    return IoError(path + ": stat: " + std::strerror(errno));
  }
  if (!S_ISDIR(st.st_mode)) {
    return IoError(path + ": not a directory");
  }
  // Keys, the outbox and the cache are for this agent's user alone.
  if ((st.st_mode & 07777) != 0700 && ::chmod(path.c_str(), 0700) != 0) {
    return IoError(path + ": chmod 0700: " + std::strerror(errno));
  }
  return Ok();
}

std::optional<std::string> OptionalTime(const std::optional<UnixTime>& time) {
  if (!time) {
    return std::nullopt;
  }
  return FormatTime(*time);
}

Result<std::optional<UnixTime>> ReadOptionalTime(json::ObjectReader& reader,
                                                 const std::string& key) {
  FERRY_ASSIGN_OR_RETURN(const std::optional<std::string> text, reader.OptionalString(key));
  if (!text) {
    return std::optional<UnixTime>();
  }
  auto time = ParseTime(*text);
  if (!time.ok()) {
    return std::move(time).error().Context(reader.PathOf(key));
  }
  return std::optional<UnixTime>(*time);
}

Result<UnixTime> ReadTime(json::ObjectReader& reader, const std::string& key) {
  FERRY_ASSIGN_OR_RETURN(const std::optional<UnixTime> time, ReadOptionalTime(reader, key));
  if (!time) {
    return InvalidError(reader.PathOf(key) + ": missing");
  }
  return *time;
}

void SetIfPresent(json::Object& object, const std::string& key,
                  const std::optional<std::string>& value) {
  if (value) {
    object[key] = *value;
  }
}

json::Value RecordToJson(const PatchRecord& record) {
  json::Object object{{"result", record.result},     {"package", record.package},
                      {"version", record.version},   {"finished", FormatTime(record.finished)},
                      {"failures", record.failures}, {"cause", record.cause}};
  if (record.exit_code) {
    object["exit_code"] = *record.exit_code;
  }
  SetIfPresent(object, "retry_after", OptionalTime(record.retry_after));
  return object;
}

Result<PatchRecord> RecordFromJson(const json::Value& value, const std::string& path) {
  FERRY_ASSIGN_OR_RETURN(json::ObjectReader reader, json::ObjectReader::Open(value, path));
  PatchRecord record;
  FERRY_ASSIGN_OR_RETURN(record.result, reader.String("result"));
  FERRY_ASSIGN_OR_RETURN(record.package, reader.String("package"));
  FERRY_ASSIGN_OR_RETURN(record.version, reader.String("version"));
  FERRY_ASSIGN_OR_RETURN(record.finished, ReadTime(reader, "finished"));
  FERRY_ASSIGN_OR_RETURN(record.exit_code, reader.OptionalInt("exit_code"));
  FERRY_ASSIGN_OR_RETURN(record.failures, reader.Int("failures"));
  FERRY_ASSIGN_OR_RETURN(record.retry_after, ReadOptionalTime(reader, "retry_after"));
  FERRY_ASSIGN_OR_RETURN(record.cause, reader.String("cause"));
  FERRY_RETURN_IF_ERROR(reader.Finish());
  return record;
}

json::Value PendingToJson(const PendingPatch& patch) {
  return json::Object{
      {"id", patch.id},           {"kind", patch.kind},         {"package", patch.package},
      {"version", patch.version}, {"severity", patch.severity}, {"reboot", patch.reboot}};
}

Result<PendingPatch> PendingFromJson(const json::Value& value, const std::string& path) {
  FERRY_ASSIGN_OR_RETURN(json::ObjectReader reader, json::ObjectReader::Open(value, path));
  PendingPatch patch;
  FERRY_ASSIGN_OR_RETURN(patch.id, reader.String("id"));
  FERRY_ASSIGN_OR_RETURN(patch.kind, reader.String("kind"));
  FERRY_ASSIGN_OR_RETURN(patch.package, reader.String("package"));
  FERRY_ASSIGN_OR_RETURN(patch.version, reader.String("version"));
  FERRY_ASSIGN_OR_RETURN(patch.severity, reader.String("severity"));
  FERRY_ASSIGN_OR_RETURN(patch.reboot, reader.Bool("reboot"));
  FERRY_RETURN_IF_ERROR(reader.Finish());
  return patch;
}

// Parses a state file strictly within its limits; errors name the file.
Result<json::Value> ParseStateFile(std::string_view text, const std::string& what, size_t max_bytes,
                                   int max_depth) {
  auto value = json::Parse(text, json::ParseLimits{.max_bytes = max_bytes, .max_depth = max_depth});
  if (!value.ok()) {
    return std::move(value).error().Context(what);
  }
  return std::move(*value);
}

Status WritePrivateJson(const std::string& path, const json::Value& value) {
  FERRY_ASSIGN_OR_RETURN(const std::string text, json::Canonical(value));
  return fs::WriteFileAtomic(path, text + "\n", 0600);
}

}  // namespace

std::string StatePaths::config() const { return fs::JoinPath(dir, "agent.json"); }
std::string StatePaths::ca() const { return fs::JoinPath(dir, "ca.pem"); }
std::string StatePaths::key() const { return fs::JoinPath(dir, "client.key"); }
std::string StatePaths::cert() const { return fs::JoinPath(dir, "client.pem"); }
std::string StatePaths::roots() const { return fs::JoinPath(dir, "roots"); }
std::string StatePaths::root(int64_t version) const {
  return fs::JoinPath(roots(), std::to_string(version) + ".json");
}
std::string StatePaths::cache() const { return fs::JoinPath(dir, "cache"); }
std::string StatePaths::outbox() const { return fs::JoinPath(dir, "outbox"); }
std::string StatePaths::status() const { return fs::JoinPath(dir, "status.json"); }
std::string StatePaths::lock() const { return fs::JoinPath(dir, "lock"); }

json::Value AgentConfigToJson(const AgentConfig& config) {
  return json::Object{{"relay", config.relay_url},
                      {"endpoint_id", config.endpoint_id},
                      {"hostname", config.hostname},
                      {"target_os", config.target_os},
                      {"root_version", config.root_version},
                      {"poll_seconds", config.poll_seconds},
                      {"enrolled", FormatTime(config.enrolled)}};
}

Result<AgentConfig> AgentConfigFromJson(std::string_view text, const std::string& what) {
  FERRY_ASSIGN_OR_RETURN(const json::Value value, ParseStateFile(text, what, kMaxConfigBytes, 4));
  FERRY_ASSIGN_OR_RETURN(json::ObjectReader reader, json::ObjectReader::Open(value, what));
  AgentConfig config;
  FERRY_ASSIGN_OR_RETURN(config.relay_url, reader.String("relay"));
  FERRY_ASSIGN_OR_RETURN(config.endpoint_id, reader.String("endpoint_id"));
  FERRY_ASSIGN_OR_RETURN(config.hostname, reader.String("hostname"));
  FERRY_ASSIGN_OR_RETURN(config.target_os, reader.String("target_os"));
  FERRY_ASSIGN_OR_RETURN(config.root_version, reader.Int("root_version"));
  FERRY_ASSIGN_OR_RETURN(config.poll_seconds, reader.Int("poll_seconds"));
  FERRY_ASSIGN_OR_RETURN(config.enrolled, ReadTime(reader, "enrolled"));
  FERRY_RETURN_IF_ERROR(reader.Finish());
  if (!ParseRelayUrl(config.relay_url).ok() || !IsEndpointId(config.endpoint_id) ||
      !bundler::IsSafeIdentifier(config.target_os) || config.root_version < 1) {
    return InvalidError(what + ": a field has a value the agent never writes");
  }
  config.poll_seconds = ClampPollSeconds(config.poll_seconds);
  return config;
}

json::Value AgentStatusToJson(const AgentStatus& status) {
  json::Object patches;
  for (const auto& [id, record] : status.patches) {
    patches[id] = RecordToJson(record);
  }
  json::Array pending;
  for (const PendingPatch& patch : status.pending) {
    pending.push_back(PendingToJson(patch));
  }
  json::Array reboot_patches(status.reboot_patches.begin(), status.reboot_patches.end());
  json::Object object{{"catalog_version", status.catalog_version},
                      {"inventory_sha256", status.inventory_sha256},
                      {"last_error", status.last_error},
                      {"pending", std::move(pending)},
                      {"patches", std::move(patches)},
                      {"reboot_required", status.reboot_required},
                      {"reboot_patches", std::move(reboot_patches)},
                      {"reboot_boot_id", status.reboot_boot_id},
                      {"time_floor", status.time_floor}};
  SetIfPresent(object, "last_checkin", OptionalTime(status.last_checkin));
  SetIfPresent(object, "last_attempt", OptionalTime(status.last_attempt));
  return object;
}

Result<AgentStatus> AgentStatusFromJson(std::string_view text, const std::string& what) {
  FERRY_ASSIGN_OR_RETURN(const json::Value value, ParseStateFile(text, what, kMaxStatusBytes, 8));
  FERRY_ASSIGN_OR_RETURN(json::ObjectReader reader, json::ObjectReader::Open(value, what));
  AgentStatus status;
  FERRY_ASSIGN_OR_RETURN(status.catalog_version, reader.Int("catalog_version"));
  FERRY_ASSIGN_OR_RETURN(status.inventory_sha256, reader.String("inventory_sha256"));
  FERRY_ASSIGN_OR_RETURN(status.last_error, reader.String("last_error"));
  FERRY_ASSIGN_OR_RETURN(status.last_checkin, ReadOptionalTime(reader, "last_checkin"));
  FERRY_ASSIGN_OR_RETURN(status.last_attempt, ReadOptionalTime(reader, "last_attempt"));
  FERRY_ASSIGN_OR_RETURN(const json::Array* pending, reader.ArrayField("pending"));
  for (size_t i = 0; i < pending->size(); ++i) {
    FERRY_ASSIGN_OR_RETURN(
        PendingPatch patch,
        PendingFromJson((*pending)[i], what + ".pending[" + std::to_string(i) + "]"));
    status.pending.push_back(std::move(patch));
  }
  FERRY_ASSIGN_OR_RETURN(const json::Value* patches, reader.Field("patches"));
  if (!patches->is_object()) {
    return InvalidError(what + ".patches: expected an object");
  }
  for (const auto& [id, record_value] : patches->as_object()) {
    FERRY_ASSIGN_OR_RETURN(PatchRecord record,
                           RecordFromJson(record_value, what + ".patches." + id));
    status.patches.emplace(id, std::move(record));
  }
  FERRY_ASSIGN_OR_RETURN(status.reboot_required, reader.Bool("reboot_required"));
  FERRY_ASSIGN_OR_RETURN(status.reboot_patches, reader.StringArray("reboot_patches"));
  FERRY_ASSIGN_OR_RETURN(status.reboot_boot_id, reader.String("reboot_boot_id"));
  FERRY_ASSIGN_OR_RETURN(status.time_floor, reader.Int("time_floor"));
  FERRY_RETURN_IF_ERROR(reader.Finish());
  return status;
}

Result<AgentConfig> ReadAgentConfig(const StatePaths& paths) {
  if (!fs::Exists(paths.config())) {
    return UsageError(paths.dir +
                      ": not an enrolled agent state directory (no agent.json; run "
                      "ferry-agent enroll first)");
  }
  FERRY_ASSIGN_OR_RETURN(const std::string text, fs::ReadFile(paths.config(), kMaxConfigBytes));
  return AgentConfigFromJson(text, paths.config());
}

Result<AgentStatus> ReadAgentStatus(const StatePaths& paths) {
  if (!fs::Exists(paths.status())) {
    return AgentStatus{};
  }
  FERRY_ASSIGN_OR_RETURN(const std::string text, fs::ReadFile(paths.status(), kMaxStatusBytes));
  return AgentStatusFromJson(text, paths.status());
}

Result<AgentState> AgentState::Lock(const std::string& dir) {
  StatePaths paths{dir};
  FERRY_RETURN_IF_ERROR(MakePrivateDirectory(dir));
  const int fd = ::open(paths.lock().c_str(), O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
  if (fd < 0) {
    return IoError(paths.lock() + ": open: " + std::strerror(errno));
  }
  while (::flock(fd, LOCK_EX | LOCK_NB) != 0) {
    if (errno == EINTR) {
      continue;
    }
    const int err = errno;
    ::close(fd);
    if (err == EWOULDBLOCK) {
      return IoError(dir + ": another ferry-agent is using this state directory");
    }
    return IoError(paths.lock() + ": flock: " + std::strerror(err));
  }
  AgentState state(std::move(paths), fd);
  for (const std::string& sub :
       {state.paths_.roots(), state.paths_.cache(), state.paths_.outbox()}) {
    FERRY_RETURN_IF_ERROR(MakePrivateDirectory(sub));
  }
  return state;
}

Result<AgentState> AgentState::OpenForEnrollment(const std::string& dir) {
  if (fs::Exists(StatePaths{dir}.config())) {
    return UsageError(dir +
                      ": already enrolled; refusing to replace its identity (use a new "
                      "state directory)");
  }
  FERRY_ASSIGN_OR_RETURN(AgentState state, Lock(dir));
  // Checked again under the lock: another enrolment may have finished in between.
  if (fs::Exists(state.paths_.config())) {
    return UsageError(dir + ": already enrolled; refusing to replace its identity");
  }
  return state;
}

Result<AgentState> AgentState::Open(const std::string& dir) {
  if (!fs::IsDirectory(dir)) {
    return UsageError(dir + ": no such state directory (run ferry-agent enroll first)");
  }
  FERRY_RETURN_IF_ERROR(ReadAgentConfig(StatePaths{dir}));
  return Lock(dir);
}

AgentState::AgentState(AgentState&& other) noexcept
    : paths_(std::move(other.paths_)), lock_fd_(std::exchange(other.lock_fd_, -1)) {}

AgentState& AgentState::operator=(AgentState&& other) noexcept {
  if (this != &other) {
    if (lock_fd_ >= 0) {
      ::close(lock_fd_);
    }
    paths_ = std::move(other.paths_);
    lock_fd_ = std::exchange(other.lock_fd_, -1);
  }
  return *this;
}

AgentState::~AgentState() {
  if (lock_fd_ >= 0) {
    ::close(lock_fd_);  // releases the flock
  }
}

Status AgentState::SaveConfig(const AgentConfig& config) const {
  return WritePrivateJson(paths_.config(), AgentConfigToJson(config));
}

Status AgentState::SaveStatus(AgentStatus& status) const {
  if (status.patches.size() > kMaxPatchRecords) {
    std::vector<std::pair<UnixTime, std::string>> by_age;
    for (const auto& [id, record] : status.patches) {
      by_age.emplace_back(record.finished, id);
    }
    std::sort(by_age.begin(), by_age.end());
    for (size_t i = 0; i < by_age.size() - kMaxPatchRecords; ++i) {
      status.patches.erase(by_age[i].second);
    }
  }
  return WritePrivateJson(paths_.status(), AgentStatusToJson(status));
}

Result<crypto::TrustRoot> AgentState::LoadRoot(int64_t version) const {
  auto root = crypto::LoadTrustRoot(paths_.root(version));
  if (!root.ok()) {
    return std::move(root).error();
  }
  if (root->version != version) {
    return InvalidError(paths_.root(version) + ": holds root version " +
                        std::to_string(root->version));
  }
  return std::move(*root);
}

Status AgentState::SaveRoot(const crypto::TrustRoot& root) const {
  if (root.text.empty()) {
    return UsageError("trust root v" + std::to_string(root.version) + " has no signed text");
  }
  return fs::WriteFileAtomic(paths_.root(root.version), root.text, 0644);
}

}  // namespace ferry::endpoint
