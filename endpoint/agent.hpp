#pragma once

// The endpoint agent's logic: enrolment, and the check-in cycle (send waiting reports, check in,
// follow the trust root, verify manifests and payloads, install, report), each step its own
// function. The relay decides when and where; what is installed is decided by signatures the
// agent checks itself. docs/ferry-agent.md.

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "bundler/inventory.hpp"
#include "bundler/manifest.hpp"
#include "common/error.hpp"
#include "crypto/trust_root.hpp"
#include "endpoint/agent_state.hpp"
#include "endpoint/outbox.hpp"
#include "endpoint/payload_cache.hpp"
#include "endpoint/relay_api.hpp"

namespace ferry::endpoint {

// Receives one line per step (without a trailing newline).
using Logger = std::function<void(const std::string& line)>;

// Writes "ferry-agent: <line>" to stderr.
Logger StderrLogger();

// The OS release patches must be signed for, from /etc/os-release ("debian-12"); errors name
// the file.
Result<std::string> DetectTargetOs(const std::string& os_release_path = "/etc/os-release");

struct EnrollOptions {
  std::string relay_url;
  std::string ca_file;
  std::string root_file;
  std::string token;
  std::string state_dir;
  std::optional<std::string> hostname;   // default: this machine's host name
  std::optional<std::string> target_os;  // default: DetectTargetOs()
  std::chrono::milliseconds connect_timeout{std::chrono::seconds(15)};
  std::chrono::milliseconds io_timeout{std::chrono::seconds(60)};
};

struct EnrollResult {
  std::string endpoint_id;
  int64_t root_version = 0;
  int64_t poll_seconds = 0;
};

// Verifies root.json (self-signed, not expired) before contacting anyone, then sends a fresh
// key's CSR with the token and stores the identity: client.key, client.pem (checked against the
// key and the CA), ca.pem, roots/<v>.json, status.json and, last, agent.json. A directory that
// is already enrolled is a usage error.
Result<EnrollResult> Enroll(const EnrollOptions& options, const Logger& log);

struct RunOptions {
  std::string state_dir;
  std::string dpkg_root;  // "" = the host's dpkg database
  uint64_t cache_max = kDefaultCacheMax;
  std::chrono::milliseconds connect_timeout{std::chrono::seconds(15)};
  std::chrono::milliseconds io_timeout{std::chrono::seconds(60)};
  // Asked between steps (never during an install); true stops the cycle where it is.
  std::function<bool()> stop_requested;
};

// What one cycle did.
struct CycleReport {
  bool relay_reached = false;  // the check-in was answered
  bool relay_lost = false;     // ...but the relay went away later in the cycle
  std::string relay_error;     // why it was not reached, or how it was lost
  size_t offered = 0;          // patches the relay offered
  size_t installed = 0;        // installed (including those needing a reboot)
  size_t failed = 0;
  size_t refused = 0;
  size_t deferred = 0;  // left for a later cycle: waiting for a retry, or a download cut short
  size_t reports_waiting = 0;  // in the outbox after the cycle
  bool reboot_required = false;
  bool stopped = false;  // a stop was requested part-way
};

// The outcome of one patch in a cycle.
struct PatchOutcome {
  enum class Kind { kInstalled, kRebootRequired, kFailed, kRefused, kDeferred };
  Kind kind = Kind::kDeferred;
  std::optional<int64_t> exit_code;
  std::string log_excerpt;  // for the report: installer output or the cause of a refusal
  std::string cause;        // one line for the log and status.json
  UnixTime started = 0;
  UnixTime finished = 0;
};

// A patch checked and fetched, ready to install; or, when `outcome` is set, stopped early.
struct PreparedPatch {
  const OfferedPatch* offered = nullptr;
  bundler::Patch patch;      // the signed manifest's entry
  std::string payload_path;  // the verified payload in the cache
  std::optional<PatchOutcome> outcome;
  bool relay_failed = false;  // stopped because the relay could not be reached
};

class Agent {
 public:
  // Locks the state directory and loads its identity; nothing is sent yet.
  static Result<Agent> Open(const RunOptions& options, Logger log);

  // One cycle. Relay unreachable is not an error (see CycleReport::relay_reached); errors are
  // local failures (state directory, dpkg database) and the relay refusing the agent itself.
  Result<CycleReport> RunCycle();

  // Cycles until a stop is requested: every poll interval (±20 % jitter) while the relay
  // answers, backing off from 30 s (doubling, up to the poll interval) while it does not or
  // went away part-way through a cycle.
  // `sleep` waits the given seconds and returns false when a stop was requested meanwhile.
  void RunLoop(const std::function<bool(int64_t seconds)>& sleep);

  const AgentConfig& config() const { return config_; }

 private:
  Agent(AgentState state, AgentConfig config, crypto::TrustRoot root, RelayClient relay,
        RunOptions options, Logger log);

  bool StopRequested() const;
  UnixTime EffectiveNow(const AgentStatus& status) const;
  void ClearRebootAfterBoot(AgentStatus& status) const;
  void SendReports(CycleReport& report);
  Result<bundler::Inventory> ReadInventory() const;
  Result<CheckinAnswer> CheckIn(const bundler::Inventory& inventory, AgentStatus& status);
  void ApplyCheckin(const CheckinAnswer& answer, AgentStatus& status);
  Status UpdateTrust(int64_t announced_version);
  std::vector<const OfferedPatch*> SelectPatches(const CheckinAnswer& answer,
                                                 const AgentStatus& status, UnixTime now,
                                                 CycleReport& report) const;
  std::map<std::string, Result<bundler::Manifest>> FetchManifests(
      const CheckinAnswer& answer, const std::vector<const OfferedPatch*>& patches,
      AgentStatus& status);
  PreparedPatch PreparePatch(const OfferedPatch& offered, const Result<bundler::Manifest>& manifest,
                             const bundler::Inventory& inventory,
                             std::set<crypto::Sha256Digest>& keep);
  // Downloads (or finds in the cache) and verifies a payload, keeping the payloads in `keep`
  // (those already prepared) out of eviction.
  Result<std::string> FetchPayload(const bundler::Patch& patch,
                                   std::set<crypto::Sha256Digest>& keep, bool& relay_failed);
  PatchOutcome InstallPrepared(const PreparedPatch& prepared);
  PatchOutcome Install(const bundler::Patch& patch, const std::string& payload_path);
  Status Record(const OfferedPatch& offered, const PatchOutcome& outcome, AgentStatus& status,
                CycleReport& report);
  void NoteRelayLost(CycleReport& report, const Error& error) const;
  void CleanCache(UnixTime now);

  AgentState state_;
  AgentConfig config_;
  crypto::TrustRoot root_;  // the newest trusted root
  RelayClient relay_;
  RunOptions options_;
  Logger log_;
  Outbox outbox_;
  PayloadCache cache_;
  // Manifest bytes by SHA-256, kept across cycles so an unchanged manifest is fetched once.
  std::map<crypto::Sha256Digest, std::string> manifest_texts_;
};

}  // namespace ferry::endpoint
