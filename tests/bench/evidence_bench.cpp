// The evidence path at scale: append a million audit events to a real relay database, export
// them with the real `ferry-relay evidence export`, and verify the package with the real
// `ferry-verify`. Prints one "evidence.<figure> <value>" line per figure: throughputs and the
// peak resident memory of each child process.
//
// The events are what a site of a few thousand endpoints produces: approvals, enrolments, then
// rounds of check-ins (endpoint.needs) and install reports, some failing and retried, with the
// odd rejected import and exception.
//
// Usage: ferry-bench-evidence --root ROOT.json --dir DIR [--events N] [--endpoints N]
//                             [--patches N] [--bin BUILD_DIR]

#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <vector>

#include "common/cli.hpp"
#include "relay/event_log.hpp"
#include "relay/init.hpp"
#include "relay/relay.hpp"

namespace {

using ferry::Result;
using ferry::Status;
namespace json = ferry::json;
namespace relay = ferry::relay;

using Clock = std::chrono::steady_clock;

double SecondsSince(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

void Print(const char* figure, double value) { std::printf("evidence.%s %.6g\n", figure, value); }

struct Options {
  std::string root;
  std::string dir;
  std::string bin;
  int64_t events = 1000000;
  int64_t endpoints = 5000;
  int64_t patches = 300;
};

struct Child {
  int exit_code = -1;
  double seconds = 0;
  double cpu_seconds = 0;  // user + system: what a shared machine's load does not inflate
  long peak_rss_kib = 0;
};

// Runs a built executable with stdout to /dev/null; its own peak RSS comes from wait4.
Child RunChild(const std::vector<std::string>& args) {
  std::fflush(stdout);  // or the child would print our buffered lines again
  const Clock::time_point start = Clock::now();
  const pid_t pid = ::fork();
  if (pid == 0) {
    std::vector<char*> argv;
    for (const std::string& a : args) argv.push_back(const_cast<char*>(a.c_str()));
    argv.push_back(nullptr);
    if (std::freopen("/dev/null", "w", stdout) == nullptr) std::_Exit(126);
    ::execv(argv[0], argv.data());
    std::_Exit(127);
  }
  Child child;
  int status = 0;
  rusage usage{};
  if (pid > 0 && ::wait4(pid, &status, 0, &usage) == pid) {
    child.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128;
    child.peak_rss_kib = usage.ru_maxrss;
    const auto seconds = [](const timeval& t) {
      return static_cast<double>(t.tv_sec) + static_cast<double>(t.tv_usec) / 1e6;
    };
    child.cpu_seconds = seconds(usage.ru_utime) + seconds(usage.ru_stime);
  }
  child.seconds = SecondsSince(start);
  return child;
}

std::string Id(const char* prefix, int64_t n) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%s%016llx", prefix, static_cast<unsigned long long>(n));
  return buf;
}

std::string PatchId(int64_t p) { return "fix-" + std::to_string(p) + "_1.0_amd64"; }

// Appends the synthetic log in transactions of 10,000 events.
Status AppendLog(ferry::relay::Relay& site, const Options& o, int64_t& appended) {
  ferry::relay::sql::Database& db = site.db();
  FERRY_ASSIGN_OR_RETURN(appended, relay::EventCount(db));
  const char* severities[] = {"critical", "high", "medium", "low"};
  const ferry::UnixTime now = ferry::Now();
  int64_t in_batch = 0;
  FERRY_RETURN_IF_ERROR(db.Begin());
  const auto append = [&](const std::string& actor, const std::string& type,
                          const std::string& subject, json::Object details) -> Status {
    if (appended >= o.events) return ferry::Ok();
    FERRY_ASSIGN_OR_RETURN(const relay::Event event,
                           relay::AppendEvent(db, actor, type, subject, std::move(details)));
    (void)event;
    ++appended;
    if (++in_batch == 10000) {
      FERRY_RETURN_IF_ERROR(db.Commit());
      FERRY_RETURN_IF_ERROR(db.Begin());
      in_batch = 0;
    }
    return ferry::Ok();
  };
  for (int64_t p = 0; p < o.patches; ++p) {
    FERRY_RETURN_IF_ERROR(append("operator:bench", "patch.approved", PatchId(p),
                                 {{"package", "pkg" + std::to_string(p)},
                                  {"version", "1.0"},
                                  {"severity", severities[p % 4]},
                                  {"released", ferry::FormatTime(now - (p % 90) * 86400)}}));
  }
  for (int64_t e = 0; e < o.endpoints; ++e) {
    const std::string id = Id("ep-", e);
    FERRY_RETURN_IF_ERROR(append("endpoint:" + id, "endpoint.enrolled", id,
                                 {{"hostname", "host-" + std::to_string(e)},
                                  {"certificate_sha256", std::string(64, 'c')},
                                  {"token_id", "0123456789ab"},
                                  {"target_os", "debian-12"}}));
  }
  for (int64_t wave = 0; appended < o.events; ++wave) {
    for (int64_t e = 0; e < o.endpoints && appended < o.events; ++e) {
      const std::string id = Id("ep-", e);
      const std::string actor = "endpoint:" + id;
      json::Array needs;
      for (int64_t k = 0; k < 4; ++k) needs.push_back(PatchId((e * 13 + wave * 4 + k) % o.patches));
      FERRY_RETURN_IF_ERROR(append(actor, "endpoint.needs", id,
                                   {{"inventory_sha256", std::string(64, 'a')},
                                    {"catalog_version", wave + 1},
                                    {"patches", needs}}));
      for (int64_t k = 0; k < 4; ++k) {
        const int64_t p = (e * 13 + wave * 4 + k) % o.patches;
        const bool failed = (e + wave + k) % 9 == 0;
        json::Object details{{"endpoint", id},
                             {"report_id", "r-" + std::to_string(wave) + "-" + std::to_string(k)},
                             {"result", failed ? "failed" : "installed"},
                             {"started", ferry::FormatTime(now - 60)},
                             {"finished", ferry::FormatTime(now)},
                             {"package", "pkg" + std::to_string(p)},
                             {"version", "1.0"},
                             {"severity", severities[p % 4]},
                             {"released", ferry::FormatTime(now - (p % 90) * 86400)},
                             {"log_sha256", std::string(64, 'b')}};
        if (failed) details["exit_code"] = 100;
        FERRY_RETURN_IF_ERROR(append(actor, "install.reported", PatchId(p), std::move(details)));
      }
      if (appended % 50000 < 5) {
        FERRY_RETURN_IF_ERROR(append("operator:bench", "import.rejected", "bad.ferry",
                                     {{"file", "bad.ferry"}, {"reason", "signature threshold"}}));
        FERRY_RETURN_IF_ERROR(append("operator:bench", "exception.granted", PatchId(e % o.patches),
                                     {{"endpoint", id},
                                      {"until", ferry::FormatTime(now + 30 * 86400)},
                                      {"reason", "benchmark"}}));
      }
    }
  }
  return db.Commit();
}

Result<int> Run(int argc, char** argv) {
  namespace cli = ferry::cli;
  FERRY_ASSIGN_OR_RETURN(
      const cli::Args args,
      cli::Args::Parse(std::span<char* const>(argv + 1, static_cast<size_t>(argc - 1)),
                       {{"root", cli::Arity::kOne},
                        {"dir", cli::Arity::kOne},
                        {"bin", cli::Arity::kOne},
                        {"events", cli::Arity::kOne},
                        {"endpoints", cli::Arity::kOne},
                        {"patches", cli::Arity::kOne}}));
  Options o;
  FERRY_ASSIGN_OR_RETURN(o.root, args.Require("root"));
  FERRY_ASSIGN_OR_RETURN(o.dir, args.Require("dir"));
  // The build directory: this program lives in <build>/tests/bench/.
  o.bin = args.Get("bin").value_or(std::filesystem::canonical("/proc/self/exe")
                                       .parent_path()
                                       .parent_path()
                                       .parent_path()
                                       .string());
  FERRY_ASSIGN_OR_RETURN(const auto events, args.GetInt("events", 1, 100000000));
  FERRY_ASSIGN_OR_RETURN(const auto endpoints, args.GetInt("endpoints", 1, 1000000));
  FERRY_ASSIGN_OR_RETURN(const auto patches, args.GetInt("patches", 4, 100000));
  o.events = events.value_or(o.events);
  o.endpoints = endpoints.value_or(o.endpoints);
  o.patches = patches.value_or(o.patches);

  const std::string data = o.dir + "/relay";
  const std::string package = o.dir + "/evidence.tar";
  std::filesystem::remove_all(data);
  std::filesystem::remove(package);
  std::filesystem::create_directories(o.dir);
  relay::InitOptions init;
  init.data_dir = data;
  init.root_path = o.root;
  init.site_id = "bench";
  FERRY_ASSIGN_OR_RETURN(const relay::InitReport report, relay::InitializeRelay(init));
  (void)report;

  int64_t appended = 0;
  const Clock::time_point append_start = Clock::now();
  {
    FERRY_ASSIGN_OR_RETURN(relay::Relay site,
                           relay::Relay::Open(data, relay::Relay::Access::kReadWrite));
    FERRY_RETURN_IF_ERROR(AppendLog(site, o, appended));
  }
  const double append_s = SecondsSince(append_start);
  Print("events", static_cast<double>(appended));
  Print("append_seconds", append_s);
  Print("append_events_per_s", static_cast<double>(appended) / append_s);
  struct stat db_stat {};
  ::stat((data + "/ferry.db").c_str(), &db_stat);
  Print("database_mib", static_cast<double>(db_stat.st_size) / (1 << 20));

  const Child exported = RunChild({o.bin + "/relay/ferry-relay", "evidence", "export", "--data",
                                   data, "--out", package, "--label", "bench"});
  if (exported.exit_code != 0) return ferry::IoError("ferry-relay evidence export failed");
  struct stat package_stat {};
  ::stat(package.c_str(), &package_stat);
  const double package_mb = static_cast<double>(package_stat.st_size) / 1e6;
  Print("package_mb", package_mb);
  Print("export_seconds", exported.seconds);
  Print("export_cpu_seconds", exported.cpu_seconds);
  Print("export_events_per_s", static_cast<double>(appended) / exported.seconds);
  Print("export_mb_per_s", package_mb / exported.seconds);
  Print("export_peak_rss_mib", static_cast<double>(exported.peak_rss_kib) / 1024);

  const Child verified =
      RunChild({o.bin + "/evidence/ferry-verify", "--relay-key", data + "/identity.pub", package});
  if (verified.exit_code != 0) return ferry::IoError("ferry-verify did not accept the export");
  Print("verify_seconds", verified.seconds);
  Print("verify_cpu_seconds", verified.cpu_seconds);
  Print("verify_events_per_s", static_cast<double>(appended) / verified.seconds);
  Print("verify_mb_per_s", package_mb / verified.seconds);
  Print("verify_peak_rss_mib", static_cast<double>(verified.peak_rss_kib) / 1024);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  const Result<int> code = Run(argc, argv);
  if (!code.ok()) return ferry::cli::ReportError(code.error());
  return *code;
}
