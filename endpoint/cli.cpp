#include "endpoint/cli.hpp"

#include <charconv>
#include <cstdio>
#include <iostream>
#include <span>
#include <string>

#include "common/cli.hpp"
#include "endpoint/agent.hpp"
#include "endpoint/stop_signal.hpp"

namespace ferry::endpoint {
namespace {

using cli::Args;
using cli::Arity;

constexpr const char* kUsage = R"(usage: ferry-agent COMMAND [OPTIONS]

  enroll --relay https://HOST:PORT --ca CA.pem --root root.json --token TOKEN --state DIR
         [--hostname NAME]
  run --state DIR [--once] [--dpkg-root DIR] [--cache-max SIZE]
  status --state DIR [--json]

SIZE is bytes or a number with K, M or G (default 2G).
Exit codes: 0 success, 1 verification refused something (with --once: or an install failed),
2 usage, 3 I/O or relay unreachable.
)";

Result<Args> ParseOptionsOnly(std::span<char* const> argv,
                              const std::vector<cli::OptionSpec>& specs) {
  FERRY_ASSIGN_OR_RETURN(Args args, Args::Parse(argv, specs));
  if (!args.positional().empty()) {
    return UsageError("unexpected argument \"" + args.positional().front() + "\"");
  }
  return args;
}

// "2G", "512M", "64K" or plain bytes; at least 1 MiB, at most 1 TiB.
Result<uint64_t> ParseSize(const std::string& text) {
  uint64_t number = 0;
  const char* end = text.data() + text.size();
  const auto [rest, ec] = std::from_chars(text.data(), end, number);
  const std::string_view suffix(rest, static_cast<size_t>(end - rest));
  uint64_t unit = 1;
  if (suffix == "K") {
    unit = uint64_t{1} << 10;
  } else if (suffix == "M") {
    unit = uint64_t{1} << 20;
  } else if (suffix == "G") {
    unit = uint64_t{1} << 30;
  } else if (!suffix.empty()) {
    unit = 0;
  }
  constexpr uint64_t kMin = uint64_t{1} << 20;
  constexpr uint64_t kMax = uint64_t{1} << 40;
  if (ec != std::errc() || rest == text.data() || unit == 0 || number > kMax / unit ||
      number * unit < kMin) {
    return UsageError("--cache-max \"" + text + "\": expected a size from 1M to 1024G");
  }
  return number * unit;
}

Status EnrollCommand(std::span<char* const> argv) {
  FERRY_ASSIGN_OR_RETURN(const Args args, ParseOptionsOnly(argv, {{"relay", Arity::kOne},
                                                                  {"ca", Arity::kOne},
                                                                  {"root", Arity::kOne},
                                                                  {"token", Arity::kOne},
                                                                  {"state", Arity::kOne},
                                                                  {"hostname", Arity::kOne}}));
  EnrollOptions options;
  FERRY_ASSIGN_OR_RETURN(options.relay_url, args.Require("relay"));
  FERRY_ASSIGN_OR_RETURN(options.ca_file, args.Require("ca"));
  FERRY_ASSIGN_OR_RETURN(options.root_file, args.Require("root"));
  FERRY_ASSIGN_OR_RETURN(options.token, args.Require("token"));
  FERRY_ASSIGN_OR_RETURN(options.state_dir, args.Require("state"));
  options.hostname = args.Get("hostname");
  FERRY_ASSIGN_OR_RETURN(const EnrollResult result, Enroll(options, StderrLogger()));
  std::printf("enrolled as %s (trust root version %lld, check-in every %lld s)\n",
              result.endpoint_id.c_str(), static_cast<long long>(result.root_version),
              static_cast<long long>(result.poll_seconds));
  return Ok();
}

// run --once: 1 when something was refused or failed; else 3 when the relay could not be
// reached, or went away before the cycle was done (reports then wait in the outbox); else 0.
int RunCommand(std::span<char* const> argv) {
  auto parsed = ParseOptionsOnly(argv, {{"state", Arity::kOne},
                                        {"once", Arity::kFlag},
                                        {"dpkg-root", Arity::kOne},
                                        {"cache-max", Arity::kOne}});
  if (!parsed.ok()) {
    return cli::ReportError(parsed.error());
  }
  const Args& args = *parsed;
  RunOptions options;
  auto state = args.Require("state");
  if (!state.ok()) {
    return cli::ReportError(state.error());
  }
  options.state_dir = *state;
  options.dpkg_root = args.Get("dpkg-root").value_or("");
  if (const auto size = args.Get("cache-max")) {
    auto bytes = ParseSize(*size);
    if (!bytes.ok()) {
      return cli::ReportError(bytes.error());
    }
    options.cache_max = *bytes;
  }
  StopSignal::Install();
  options.stop_requested = StopSignal::Requested;
  const Logger log = StderrLogger();
  auto agent = Agent::Open(options, log);
  if (!agent.ok()) {
    return cli::ReportError(agent.error());
  }
  if (!args.Has("once")) {
    log("running as " + agent->config().endpoint_id + " against " + agent->config().relay_url);
    agent->RunLoop(StopSignal::Sleep);
    return 0;
  }
  auto cycle = agent->RunCycle();
  if (!cycle.ok()) {
    return cli::ReportError(cycle.error());
  }
  const CycleReport& report = *cycle;
  log("summary: " + std::to_string(report.offered) + " offered, " +
      std::to_string(report.installed) + " installed, " + std::to_string(report.failed) +
      " failed, " + std::to_string(report.refused) + " refused, " +
      std::to_string(report.deferred) + " deferred; " + std::to_string(report.reports_waiting) +
      " report(s) waiting" + (report.reboot_required ? "; reboot required" : ""));
  if (report.refused > 0 || report.failed > 0) {
    return 1;
  }
  if (!report.relay_reached) {
    return cli::ReportError(IoError("relay unreachable: " + report.relay_error));
  }
  if (report.relay_lost) {
    return cli::ReportError(IoError("relay lost during the run: " + report.relay_error));
  }
  return 0;
}

std::string TimeOrNever(const std::optional<UnixTime>& time) {
  return time ? FormatTime(*time) : "never";
}

json::Value StatusJson(const AgentConfig& config, const AgentStatus& status, size_t waiting,
                       size_t rejected) {
  json::Value value = AgentStatusToJson(status);
  json::Object& object = value.as_object();
  object["endpoint_id"] = config.endpoint_id;
  object["hostname"] = config.hostname;
  object["relay"] = config.relay_url;
  object["target_os"] = config.target_os;
  object["enrolled"] = FormatTime(config.enrolled);
  object["root_version"] = config.root_version;
  object["poll_seconds"] = config.poll_seconds;
  object["outbox"] = json::Object{{"waiting", waiting}, {"rejected", rejected}};
  object.erase("reboot_boot_id");
  object.erase("time_floor");
  return value;
}

void PrintStatus(const AgentConfig& config, const AgentStatus& status, size_t waiting,
                 size_t rejected) {
  std::printf("endpoint       %s (%s, %s)\n", config.endpoint_id.c_str(), config.hostname.c_str(),
              config.target_os.c_str());
  std::printf("relay          %s (enrolled %s, check-in every %lld s)\n", config.relay_url.c_str(),
              FormatTime(config.enrolled).c_str(), static_cast<long long>(config.poll_seconds));
  std::printf("trust root     version %lld\n", static_cast<long long>(config.root_version));
  std::printf("last check-in  %s (catalog %lld)\n", TimeOrNever(status.last_checkin).c_str(),
              static_cast<long long>(status.catalog_version));
  if (!status.last_error.empty()) {
    std::printf("last error     %s (at %s)\n", status.last_error.c_str(),
                TimeOrNever(status.last_attempt).c_str());
  }
  std::printf("pending        %zu patch(es)\n", status.pending.size());
  for (const PendingPatch& patch : status.pending) {
    std::printf("  %-40s %s %s (%s, %s%s)\n", patch.id.c_str(), patch.package.c_str(),
                patch.version.c_str(), patch.kind.c_str(), patch.severity.c_str(),
                patch.reboot ? ", needs reboot" : "");
  }
  std::printf("results        %zu patch(es)\n", status.patches.size());
  for (const auto& [id, record] : status.patches) {
    std::string line = "  " + id + "  " + record.result + " " + FormatTime(record.finished);
    if (record.exit_code) {
      line += " exit " + std::to_string(*record.exit_code);
    }
    if (record.retry_after) {
      line += ", retry after " + FormatTime(*record.retry_after);
    }
    if (!record.cause.empty()) {
      line += ": " + record.cause;
    }
    std::printf("%s\n", line.c_str());
  }
  if (status.reboot_required) {
    std::string by;
    for (const std::string& id : status.reboot_patches) {
      by += (by.empty() ? "" : ", ") + id;
    }
    std::printf("reboot         required (by %s)\n", by.c_str());
  } else {
    std::printf("reboot         not required\n");
  }
  std::printf("outbox         %zu report(s) waiting, %zu rejected\n", waiting, rejected);
}

Status StatusCommand(std::span<char* const> argv) {
  FERRY_ASSIGN_OR_RETURN(const Args args,
                         ParseOptionsOnly(argv, {{"state", Arity::kOne}, {"json", Arity::kFlag}}));
  FERRY_ASSIGN_OR_RETURN(const std::string dir, args.Require("state"));
  const StatePaths paths{dir};
  // No lock: a running agent holds it, and every file is replaced atomically.
  FERRY_ASSIGN_OR_RETURN(const AgentConfig config, ReadAgentConfig(paths));
  FERRY_ASSIGN_OR_RETURN(const AgentStatus status, ReadAgentStatus(paths));
  const Outbox outbox(paths.outbox());
  FERRY_ASSIGN_OR_RETURN(const size_t waiting, outbox.Count());
  FERRY_ASSIGN_OR_RETURN(const size_t rejected, outbox.RejectedCount());
  if (args.Has("json")) {
    std::cout << json::Pretty(StatusJson(config, status, waiting, rejected));
  } else {
    PrintStatus(config, status, waiting, rejected);
  }
  return Ok();
}

}  // namespace

int RunAgentCli(int argc, char** argv) {
  if (argc < 2) {
    return cli::ReportError(UsageError("no command given (try --help)"));
  }
  const std::string command = argv[1];
  if (command == "--help" || command == "-h" || command == "help") {
    std::fputs(kUsage, stdout);
    return 0;
  }
  const std::span<char* const> rest(argv + 2, static_cast<size_t>(argc - 2));
  if (command == "run") {
    return RunCommand(rest);
  }
  Status status = Ok();
  if (command == "enroll") {
    status = EnrollCommand(rest);
  } else if (command == "status") {
    status = StatusCommand(rest);
  } else {
    status = UsageError("unknown command \"" + command + "\" (try --help)");
  }
  return status.ok() ? 0 : cli::ReportError(status.error());
}

}  // namespace ferry::endpoint
