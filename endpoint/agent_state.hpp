#pragma once

// The agent's state directory (docs/ferry-agent.md, "State directory"):
//   agent.json   relay URL, endpoint id, pinned root version, poll interval (0600)
//   ca.pem       the relay's CA, the only one trusted for TLS (0644)
//   client.key   the TLS client key (0600); client.pem its certificate (0644)
//   roots/N.json every trust root the agent accepted, exactly as verified (0644)
//   cache/       payload downloads (PayloadCache)
//   outbox/      reports waiting for the relay (Outbox)
//   status.json  last check-in, offered patches, last result per patch, reboot flag (0600)
//   lock         flock: one agent process per directory
// The directory is 0700. Every file is replaced atomically (write, fsync, rename, fsync), so a
// crash leaves the old or the new version and `status` can read without the lock.

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "common/error.hpp"
#include "common/json.hpp"
#include "common/time.hpp"
#include "crypto/trust_root.hpp"

namespace ferry::endpoint {

// File names inside a state directory.
struct StatePaths {
  std::string dir;

  std::string config() const;               // agent.json
  std::string ca() const;                   // ca.pem
  std::string key() const;                  // client.key
  std::string cert() const;                 // client.pem
  std::string roots() const;                // roots/
  std::string root(int64_t version) const;  // roots/<version>.json
  std::string cache() const;                // cache/
  std::string outbox() const;               // outbox/
  std::string status() const;               // status.json
  std::string lock() const;                 // lock
};

// agent.json.
struct AgentConfig {
  std::string relay_url;
  std::string endpoint_id;
  std::string hostname;
  std::string target_os;
  int64_t root_version = 0;  // the newest trust root accepted (roots/<root_version>.json)
  int64_t poll_seconds = 0;
  UnixTime enrolled = 0;
};

json::Value AgentConfigToJson(const AgentConfig& config);
Result<AgentConfig> AgentConfigFromJson(std::string_view text, const std::string& what);

// A patch the relay offered at the last check-in, as `status` lists it.
struct PendingPatch {
  std::string id;
  std::string kind;
  std::string package;
  std::string version;
  std::string severity;
  bool reboot = false;
};

// The last thing that happened to one patch, and when the agent may try it again.
struct PatchRecord {
  std::string result;  // installed, reboot_required, failed or refused
  std::string package;
  std::string version;
  UnixTime finished = 0;
  std::optional<int64_t> exit_code;
  int64_t failures = 0;  // consecutive failed or refused attempts
  std::optional<UnixTime> retry_after;
  std::string cause;  // one line for failed and refused
};

// status.json.
struct AgentStatus {
  std::optional<UnixTime> last_checkin;  // the last check-in the relay answered
  std::optional<UnixTime> last_attempt;
  std::string last_error;        // of the last attempt; empty when it succeeded
  std::string inventory_sha256;  // the inventory the relay last accepted
  int64_t catalog_version = 0;
  std::vector<PendingPatch> pending;
  std::map<std::string, PatchRecord> patches;
  bool reboot_required = false;
  std::vector<std::string> reboot_patches;
  std::string reboot_boot_id;  // the boot that needed the reboot; a new boot clears the flag
  // The newest signed `created` time of a manifest accepted: expiry is checked against the later
  // of this and the clock, so a clock set back does not revive expired manifests.
  UnixTime time_floor = 0;
};

// At most this many patch records are kept (the oldest results go first).
inline constexpr size_t kMaxPatchRecords = 2000;

json::Value AgentStatusToJson(const AgentStatus& status);
Result<AgentStatus> AgentStatusFromJson(std::string_view text, const std::string& what);

// Reading a state directory without the lock, for `status`: kUsage when it is not enrolled.
Result<AgentConfig> ReadAgentConfig(const StatePaths& paths);
// An enrolled directory without status.json yet reads as an empty status.
Result<AgentStatus> ReadAgentStatus(const StatePaths& paths);

// An open state directory, holding its lock for as long as it lives.
class AgentState {
 public:
  // Creates the directory (0700) if needed and locks it. A directory that is already enrolled
  // (agent.json exists) is a usage error: enrolment never replaces an identity.
  static Result<AgentState> OpenForEnrollment(const std::string& dir);
  // Locks an enrolled directory; kUsage when it is not enrolled, kIo when another agent holds it.
  static Result<AgentState> Open(const std::string& dir);

  AgentState(AgentState&& other) noexcept;
  AgentState& operator=(AgentState&& other) noexcept;
  AgentState(const AgentState&) = delete;
  AgentState& operator=(const AgentState&) = delete;
  ~AgentState();

  const StatePaths& paths() const { return paths_; }

  Result<AgentConfig> LoadConfig() const { return ReadAgentConfig(paths_); }
  Status SaveConfig(const AgentConfig& config) const;
  Result<AgentStatus> LoadStatus() const { return ReadAgentStatus(paths_); }
  // Writes status.json, first dropping the oldest patch records beyond kMaxPatchRecords.
  Status SaveStatus(AgentStatus& status) const;

  // Parses roots/<version>.json (which was verified when it was stored).
  Result<crypto::TrustRoot> LoadRoot(int64_t version) const;
  // Stores root.text as roots/<root.version>.json.
  Status SaveRoot(const crypto::TrustRoot& root) const;

 private:
  AgentState(StatePaths paths, int lock_fd) : paths_(std::move(paths)), lock_fd_(lock_fd) {}
  static Result<AgentState> Lock(const std::string& dir);

  StatePaths paths_;
  int lock_fd_ = -1;
};

}  // namespace ferry::endpoint
