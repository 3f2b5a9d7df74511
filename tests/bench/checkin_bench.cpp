// Check-ins per second against a real `ferry-relay serve` (docs/benchmarks.md, issue 4).
//
// Setup, all with the real executables and libraries: keys, a trust root and a bundle of .deb
// patches built with ferry-bundle, a relay made with `ferry-relay init`, `import` and
// `approve --all`; then 100,000 endpoints registered in one transaction (fake, distinct
// certificate fingerprints) plus C real ones, each with its own key and a client certificate
// signed by the relay's CA. Every real endpoint checks in once with its full inventory through
// the API in-process, as a first check-in does, so the relay stores the inventory.
//
// Measurement: `ferry-relay serve --quiet` runs as a child process; one client thread keeps C
// keep-alive TLS connections (one client certificate each) busy with POST /v1/checkin carrying
// only the inventory hash, as an unchanged endpoint sends on every poll. After a warm-up, every
// answer completed in the measured window counts; any answer that is not 200 with the expected
// body is an error. Client and server share this machine's cores, which the output says.
//
// Usage: ferry-bench-checkin [--work DIR] [--bin BUILD_DIR] [--endpoints N] [--connections C]
//          [--seconds S] [--warmup S] [--server-threads N] [--packages N] [--patches N]
//          [--dpkg-status FILE] [--server-log]
//
// Prints "checkin.<figure> <value>" lines and a goal line on stdout, progress on stderr. Exit 0
// when the run completed without errors, 1 when an answer was wrong or failed, 2 usage, 3 setup.

#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <boost/asio.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <chrono>
#include <cmath>
#include <compare>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <memory>
#include <optional>
#include <set>
#include <span>
#include <sstream>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "bundler/dpkg_status.hpp"
#include "bundler/inventory.hpp"
#include "common/cli.hpp"
#include "common/error.hpp"
#include "common/file.hpp"
#include "common/json.hpp"
#include "common/time.hpp"
#include "crypto/hash.hpp"
#include "endpoint/client_identity.hpp"
#include "relay/api.hpp"
#include "relay/endpoint_registry.hpp"
#include "relay/relay.hpp"
#include "relay/tls_identity.hpp"
#include "tests/support/testing.hpp"

namespace {

namespace net = boost::asio;
namespace ssl = boost::asio::ssl;
namespace beast = boost::beast;
namespace http = beast::http;
namespace fsys = std::filesystem;
using tcp = net::ip::tcp;
using Clock = std::chrono::steady_clock;
using ferry::Error;
using ferry::IoError;
using ferry::Ok;
using ferry::Result;
using ferry::Status;
using ferry::UsageError;
namespace json = ferry::json;

constexpr const char* kTargetOs = "debian-12";
constexpr const char* kAgentVersion = "0.2.0";
constexpr const char* kMarker = ".ferry-bench-checkin";
constexpr size_t kMaxResponseBody = size_t{4} << 20;
constexpr auto kIoTimeout = std::chrono::seconds(10);
constexpr auto kToolTimeout = std::chrono::minutes(10);

struct Options {
  std::string work;
  std::string bin;  // the build directory holding relay/ferry-relay and bundler/ferry-bundle
  size_t endpoints = 100000;
  size_t connections = 64;
  double seconds = 10;
  double warmup = 3;
  int server_threads = 0;   // 0: ferry-relay serve's default, one per hardware thread
  bool server_log = false;  // without --quiet: a log line per request, into <work>/serve.err
  size_t packages = 2000;
  size_t patches = 40;
  std::string dpkg_status = "/var/lib/dpkg/status";
};

void Progress(const std::string& line) { std::fprintf(stderr, "checkin: %s\n", line.c_str()); }

double SecondsSince(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

// "12.3": one decimal is all a progress line needs.
std::string Fixed(double value) {
  char text[32];
  std::snprintf(text, sizeof text, "%.1f", value);
  return text;
}

// ---- setup ------------------------------------------------------------------------------------

// Runs a Ferry executable to completion; its output goes to `log`, quoted in the error.
Status RunTool(const std::vector<std::string>& args, const std::string& log) {
  const pid_t pid = ferry::testing::Spawn(args, log, log + ".err");
  if (pid < 0) {
    return IoError("cannot start " + args.front());
  }
  const std::optional<int> status = ferry::testing::WaitForExit(pid, kToolTimeout);
  if (!status) {
    ::kill(pid, SIGKILL);
    ferry::testing::WaitForExit(pid, std::chrono::seconds(5));
    return IoError(args.front() + " " + args[1] + ": did not finish within 10 minutes");
  }
  if (!WIFEXITED(*status) || WEXITSTATUS(*status) != 0) {
    std::string err = ferry::testing::ReadAll(log + ".err");
    while (!err.empty() && err.back() == '\n') {
      err.pop_back();
    }
    return IoError(args.front() + " " + args[1] + " failed: " + err);
  }
  return Ok();
}

// A realistic endpoint inventory: this machine's installed packages, topped up with synthetic
// library packages to `target` entries (a minimal Debian install has fewer than a workstation).
Result<ferry::bundler::Inventory> LoadInventory(const Options& options, size_t& real_count) {
  std::vector<ferry::bundler::InstalledPackage> packages;
  if (ferry::fs::Exists(options.dpkg_status)) {
    FERRY_ASSIGN_OR_RETURN(
        const std::string text,
        ferry::fs::ReadFile(options.dpkg_status, ferry::bundler::kMaxDpkgStatusBytes));
    FERRY_ASSIGN_OR_RETURN(packages, ferry::bundler::ParseDpkgStatus(text, options.dpkg_status));
  }
  real_count = packages.size();
  for (size_t i = 0; packages.size() < options.packages; ++i) {
    packages.push_back({"libferrybench" + std::to_string(i), i % 5 == 0 ? "all" : "amd64",
                        std::to_string(1 + i % 9) + "." + std::to_string(i % 31) + "-" +
                            std::to_string(1 + i % 4)});
  }
  return ferry::bundler::MakeInventory(std::move(packages));
}

struct ExpectedPatch {
  std::string package;
  std::string version;
  auto operator<=>(const ExpectedPatch&) const = default;
  bool operator==(const ExpectedPatch&) const = default;
};

// Writes the bundle's .deb files into `dir`: `count` newer versions of installed packages (the
// check-in must list exactly these), and as many that must not be listed: older versions of other
// installed packages and packages the endpoints do not have.
std::set<ExpectedPatch> MakeDebs(const ferry::bundler::Inventory& inventory, size_t count,
                                 const std::string& dir) {
  std::vector<const ferry::bundler::InstalledPackage*> candidates;
  for (const auto& package : inventory.packages) {
    // Versions with an epoch would put ':' in file names; plenty of packages have none.
    if (package.version.find(':') == std::string::npos &&
        (package.architecture == "amd64" || package.architecture == "all")) {
      candidates.push_back(&package);
    }
  }
  std::set<ExpectedPatch> expected;
  const size_t step = std::max<size_t>(1, candidates.size() / (count + count / 2 + 1));
  size_t older = 0;
  for (size_t i = 0; i < candidates.size() && (expected.size() < count || older < count / 2);
       i += step) {
    const auto& package = *candidates[i];
    if (expected.size() < count) {
      const std::string version = package.version + "+bench1";
      ferry::testing::MakeDeb(dir, package.name, version, package.architecture, 256);
      expected.insert({package.name, version});
    } else {
      ferry::testing::MakeDeb(dir, package.name, "0~bench1", package.architecture, 256);
      ++older;
    }
  }
  for (size_t i = 0; i < count / 2; ++i) {
    ferry::testing::MakeDeb(dir, "ferry-bench-absent" + std::to_string(i), "1.0-1", "amd64", 256);
  }
  return expected;
}

struct RealEndpoint {
  std::string id;
  std::string key_pem;
  std::string cert_pem;
  std::string fingerprint;
};

std::string CheckinBody(const std::string& endpoint_id, const std::string& inventory_sha256,
                        const std::string* inventory_text) {
  json::Object body{{"endpoint_id", endpoint_id},
                    {"inventory_sha256", inventory_sha256},
                    {"target_os", kTargetOs},
                    {"agent_version", kAgentVersion}};
  if (inventory_text != nullptr) {
    body.emplace("inventory", *inventory_text);
  }
  Result<std::string> text = json::Canonical(json::Value(std::move(body)));
  return text.ok() ? *text : std::string();
}

// Checks a check-in answer: 200, JSON, exactly the expected patches, a manifest for them.
Status CheckAnswer(int status, const std::string& body, const std::set<ExpectedPatch>& expected) {
  if (status != 200) {
    return ferry::InvalidError("HTTP " + std::to_string(status) + ": " + body.substr(0, 200));
  }
  FERRY_ASSIGN_OR_RETURN(const json::Value value, json::Parse(body));
  if (!value.is_object()) {
    return ferry::InvalidError("the answer is not a JSON object");
  }
  const json::Object& object = value.as_object();
  if (object.count("need_inventory") != 0) {
    return ferry::InvalidError("the relay asked for the inventory again");
  }
  const auto patches = object.find("patches");
  const auto manifests = object.find("manifests");
  if (patches == object.end() || !patches->second.is_array() || manifests == object.end() ||
      !manifests->second.is_array() || manifests->second.as_array().empty()) {
    return ferry::InvalidError("the answer lacks patches or manifests");
  }
  std::set<ExpectedPatch> listed;
  for (const json::Value& patch : patches->second.as_array()) {
    if (!patch.is_object()) {
      return ferry::InvalidError("a patch is not an object");
    }
    const auto package = patch.as_object().find("package");
    const auto version = patch.as_object().find("version");
    if (package == patch.as_object().end() || version == patch.as_object().end() ||
        !package->second.is_string() || !version->second.is_string()) {
      return ferry::InvalidError("a patch lacks package or version");
    }
    listed.insert({package->second.as_string(), version->second.as_string()});
  }
  if (listed != expected) {
    return ferry::InvalidError("the answer lists " + std::to_string(listed.size()) +
                               " patches, not the " + std::to_string(expected.size()) +
                               " expected ones");
  }
  return Ok();
}

struct Prepared {
  std::vector<RealEndpoint> real;
  std::string inventory_sha256;
  std::set<ExpectedPatch> expected;
  std::string expected_body;  // the hash-only answer, the same for every endpoint here
  size_t inventory_packages = 0;
  size_t real_packages = 0;
  size_t approved_patches = 0;
};

Result<Prepared> Prepare(const Options& options) {
  Prepared prepared;
  const std::string keys = ferry::fs::JoinPath(options.work, "keys");
  const std::string debs = ferry::fs::JoinPath(options.work, "debs");
  const std::string relay_dir = ferry::fs::JoinPath(options.work, "relay");
  const std::string bundle = ferry::fs::JoinPath(options.work, "bench.ferry");
  const std::string log = ferry::fs::JoinPath(options.work, "setup.log");
  const std::string ferry_bundle = ferry::fs::JoinPath(options.bin, "bundler/ferry-bundle");
  const std::string ferry_relay = ferry::fs::JoinPath(options.bin, "relay/ferry-relay");
  fsys::create_directories(keys);
  fsys::create_directories(debs);

  FERRY_ASSIGN_OR_RETURN(const ferry::bundler::Inventory inventory,
                         LoadInventory(options, prepared.real_packages));
  prepared.inventory_packages = inventory.packages.size();
  const std::string inventory_text = ferry::bundler::InventoryCanonical(inventory);
  prepared.inventory_sha256 = ferry::bundler::InventoryHash(inventory);
  Progress("inventory: " + std::to_string(inventory.packages.size()) + " packages (" +
           std::to_string(prepared.real_packages) + " from " + options.dpkg_status + "), " +
           std::to_string(inventory_text.size()) + " bytes canonical");

  Clock::time_point start = Clock::now();
  try {
    prepared.expected = MakeDebs(inventory, options.patches, debs);
  } catch (const std::exception& e) {
    return IoError(std::string("making .deb files: ") + e.what());
  }
  FERRY_ASSIGN_OR_RETURN(const std::vector<std::string> deb_files, ferry::fs::ListDirectory(debs));
  prepared.approved_patches = deb_files.size();
  const std::string root_key = ferry::fs::JoinPath(keys, "root");
  const std::string bundle_key = ferry::fs::JoinPath(keys, "bundle");
  const std::string root_json = ferry::fs::JoinPath(keys, "root.json");
  FERRY_RETURN_IF_ERROR(RunTool({ferry_bundle, "keygen", "--unencrypted", "--out", root_key}, log));
  FERRY_RETURN_IF_ERROR(
      RunTool({ferry_bundle, "keygen", "--unencrypted", "--out", bundle_key}, log));
  FERRY_RETURN_IF_ERROR(
      RunTool({ferry_bundle, "root", "init", "--root-key", root_key + ".key", "--threshold", "1",
               "--bundle-key", bundle_key + ".pub", "--bundle-threshold", "1", "--expires", "3650d",
               "--out", root_json},
              log));
  FERRY_RETURN_IF_ERROR(RunTool(
      {ferry_bundle, "build", "--root", root_json, "--key", bundle_key + ".key", "--channel",
       "bench", "--sequence", "1", "--expires", "3650d", "--source", debs, "--out", bundle},
      log));
  FERRY_RETURN_IF_ERROR(
      RunTool({ferry_relay, "init", "--data", relay_dir, "--root", root_json}, log));
  FERRY_RETURN_IF_ERROR(RunTool({ferry_relay, "import", "--data", relay_dir, bundle}, log));
  FERRY_RETURN_IF_ERROR(RunTool({ferry_relay, "approve", "--data", relay_dir, "--all"}, log));
  Progress("relay with " + std::to_string(prepared.approved_patches) + " approved .deb patches (" +
           std::to_string(prepared.expected.size()) + " newer than installed) in " +
           Fixed(SecondsSince(start)) + " s");

  // The endpoints: fakes only fill the tables the relay searches; real ones hold certificates.
  start = Clock::now();
  const ferry::relay::TlsFiles tls = ferry::relay::TlsFilesIn(relay_dir);
  const ferry::UnixTime now = ferry::Now();
  std::vector<ferry::relay::EndpointRecord> records;
  records.reserve(options.endpoints + options.connections);
  for (size_t i = 0; i < options.endpoints; ++i) {
    ferry::relay::EndpointRecord record;
    record.id = ferry::relay::NewEndpointId();
    record.hostname = "bench-" + std::to_string(i);
    record.certificate_sha256 = ferry::crypto::DigestHex(
        ferry::crypto::Sha256Of("ferry-bench-checkin fake certificate " + record.id));
    record.enrolled_at = now;
    record.target_os = kTargetOs;
    records.push_back(std::move(record));
  }
  for (size_t i = 0; i < options.connections; ++i) {
    RealEndpoint endpoint;
    endpoint.id = ferry::relay::NewEndpointId();
    FERRY_ASSIGN_OR_RETURN(const ferry::endpoint::KeyAndCsr key,
                           ferry::endpoint::MakeClientKeyAndCsr(endpoint.id));
    endpoint.key_pem = key.key_pem;
    FERRY_ASSIGN_OR_RETURN(endpoint.cert_pem, ferry::relay::SignClientCertificate(
                                                  tls, key.csr_pem, endpoint.id, now,
                                                  ferry::relay::kDefaultClientLifetime));
    FERRY_ASSIGN_OR_RETURN(endpoint.fingerprint,
                           ferry::relay::CertificatePemFingerprint(endpoint.cert_pem));
    ferry::relay::EndpointRecord record;
    record.id = endpoint.id;
    record.hostname = "real-" + std::to_string(i);
    record.certificate_sha256 = endpoint.fingerprint;
    record.enrolled_at = now;
    record.target_os = kTargetOs;
    records.push_back(std::move(record));
    prepared.real.push_back(std::move(endpoint));
  }
  {
    FERRY_ASSIGN_OR_RETURN(
        ferry::relay::Relay relay,
        ferry::relay::Relay::Open(relay_dir, ferry::relay::Relay::Access::kReadWrite));
    FERRY_RETURN_IF_ERROR(
        ferry::relay::RegisterEndpoints(relay.db(), records, "ferry-bench-checkin"));
  }
  Progress(std::to_string(records.size()) + " endpoints registered (" +
           std::to_string(options.connections) + " with certificates) in " +
           Fixed(SecondsSince(start)) + " s");

  // First check-ins through the API: each real endpoint sends its full inventory once.
  start = Clock::now();
  ferry::relay::RelayApiOptions api_options;
  api_options.background_thread = false;
  FERRY_ASSIGN_OR_RETURN(std::unique_ptr<ferry::relay::RelayApi> api,
                         ferry::relay::RelayApi::Open(relay_dir, api_options));
  for (const RealEndpoint& endpoint : prepared.real) {
    for (const bool full : {true, false}) {
      ferry::relay::HttpRequest request;
      request.method = "POST";
      request.target = "/v1/checkin";
      request.headers = {{"content-type", "application/json"}};
      request.body =
          CheckinBody(endpoint.id, prepared.inventory_sha256, full ? &inventory_text : nullptr);
      request.client_certificate_sha256 = endpoint.fingerprint;
      request.peer = "ferry-bench-checkin";
      const ferry::relay::HttpResponse response = api->Handle(request);
      if (const Status checked = CheckAnswer(response.status, response.body, prepared.expected);
          !checked.ok()) {
        api->Drain();
        return checked.error().Context(std::string("in-process check-in ") +
                                       (full ? "with" : "without") + " the inventory of " +
                                       endpoint.id);
      }
      if (!full) {
        if (prepared.expected_body.empty()) {
          prepared.expected_body = response.body;
        } else if (prepared.expected_body != response.body) {
          api->Drain();
          return ferry::InvalidError("endpoints with the same inventory got different answers");
        }
      }
    }
  }
  api->Drain();
  Progress(std::to_string(prepared.real.size()) +
           " first check-ins with the full inventory through the API in " +
           Fixed(SecondsSince(start)) + " s; the answer lists " +
           std::to_string(prepared.expected.size()) + " patches, " +
           std::to_string(prepared.expected_body.size()) + " bytes");
  return prepared;
}

// ---- the server --------------------------------------------------------------------------------

struct Server {
  pid_t pid = -1;
  uint16_t port = 0;
};

Result<Server> StartServer(const Options& options) {
  const std::string relay_dir = ferry::fs::JoinPath(options.work, "relay");
  const std::string out = ferry::fs::JoinPath(options.work, "serve.out");
  const std::string err = ferry::fs::JoinPath(options.work, "serve.err");
  std::vector<std::string> args = {ferry::fs::JoinPath(options.bin, "relay/ferry-relay"),
                                   "serve",
                                   "--data",
                                   relay_dir,
                                   "--listen",
                                   "127.0.0.1:0"};
  if (!options.server_log) {
    args.push_back("--quiet");
  }
  if (options.server_threads > 0) {
    args.push_back("--threads");
    args.push_back(std::to_string(options.server_threads));
  }
  Server server;
  server.pid = ferry::testing::Spawn(args, out, err);
  if (server.pid < 0) {
    return IoError("cannot start ferry-relay serve");
  }
  const Clock::time_point deadline = Clock::now() + std::chrono::seconds(60);
  const std::string prefix = "listening on 127.0.0.1:";
  while (Clock::now() < deadline) {
    const std::string text = ferry::testing::ReadAll(out);
    if (const size_t at = text.find(prefix); at != std::string::npos) {
      const size_t end = text.find('\n', at);
      if (end != std::string::npos) {
        server.port = static_cast<uint16_t>(
            std::stoi(text.substr(at + prefix.size(), end - at - prefix.size())));
        return server;
      }
    }
    int status = 0;
    if (::waitpid(server.pid, &status, WNOHANG) == server.pid) {
      return IoError("ferry-relay serve exited: " + ferry::testing::ReadAll(err));
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  ::kill(server.pid, SIGKILL);
  ferry::testing::WaitForExit(server.pid, std::chrono::seconds(5));
  return IoError("ferry-relay serve printed no address within 60 s");
}

// User plus system CPU seconds of a process, from /proc (clock ticks).
double ProcessCpuSeconds(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  const size_t close = text.rfind(')');  // the command name may hold spaces
  if (close == std::string::npos) {
    return 0;
  }
  std::istringstream fields(text.substr(close + 2));
  std::string field;
  double ticks = 0;
  // After the name: state is field 3; utime and stime are fields 14 and 15.
  for (int index = 3; index <= 15 && fields >> field; ++index) {
    if (index >= 14) {
      ticks += std::stod(field);
    }
  }
  return ticks / static_cast<double>(::sysconf(_SC_CLK_TCK));
}

double OwnCpuSeconds() {
  rusage usage{};
  ::getrusage(RUSAGE_SELF, &usage);
  return static_cast<double>(usage.ru_utime.tv_sec + usage.ru_stime.tv_sec) +
         static_cast<double>(usage.ru_utime.tv_usec + usage.ru_stime.tv_usec) / 1e6;
}

// ---- the client --------------------------------------------------------------------------------

// What the client counted; one thread touches it.
struct Tally {
  Clock::time_point measure_start;
  Clock::time_point measure_end;
  std::string expected_body;
  const std::set<ExpectedPatch>* expected = nullptr;
  uint64_t measured = 0;      // good answers completed inside the window
  uint64_t errors = 0;        // failures and wrong answers inside the window
  uint64_t errors_total = 0;  // the same over the whole run, warm-up included
  uint64_t completed_total = 0;
  uint64_t parsed_ok = 0;  // answers parsed and checked patch by patch
  uint64_t reconnects = 0;
  std::vector<double> latencies_ms;
  std::string first_error;
  std::string protocol;

  void RecordError(const std::string& what, Clock::time_point at) {
    ++errors_total;
    if (at >= measure_start && at < measure_end) {
      ++errors;
    }
    if (first_error.empty()) {
      first_error = what;
    }
  }
};

class Connection {
 public:
  Connection(net::io_context& io, tcp::endpoint server, ssl::context& tls, std::string request,
             Tally& run)
      : io_(io), server_(server), tls_(tls), request_(std::move(request)), run_(run) {}

  void Start() {
    stream_.emplace(io_, tls_);
    // The relay's certificate names 127.0.0.1 as an IP address SAN.
    if (X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(stream_->native_handle()),
                                      server_.address().to_string().c_str()) != 1) {
      run_.RecordError("cannot set the expected server address", Clock::now());
      return;
    }
    beast::get_lowest_layer(*stream_).expires_after(kIoTimeout);
    beast::get_lowest_layer(*stream_).async_connect(
        server_, [this](beast::error_code ec) { OnConnect(ec); });
  }

 private:
  void OnConnect(beast::error_code ec) {
    if (ec) {
      return Fail("connect", ec);
    }
    beast::get_lowest_layer(*stream_).socket().set_option(tcp::no_delay(true), ec);
    stream_->async_handshake(ssl::stream_base::client,
                             [this](beast::error_code ec2) { OnHandshake(ec2); });
  }

  void OnHandshake(beast::error_code ec) {
    if (ec) {
      return Fail("TLS handshake", ec);
    }
    if (run_.protocol.empty()) {
      run_.protocol = std::string(SSL_get_version(stream_->native_handle())) + " " +
                      SSL_get_cipher_name(stream_->native_handle());
    }
    Send();
  }

  void Send() {
    if (Clock::now() >= run_.measure_end) {
      return Finish();
    }
    sent_at_ = Clock::now();
    beast::get_lowest_layer(*stream_).expires_after(kIoTimeout);
    net::async_write(*stream_, net::buffer(request_),
                     [this](beast::error_code ec, size_t) { OnWrite(ec); });
  }

  void OnWrite(beast::error_code ec) {
    if (ec) {
      return Fail("write", ec);
    }
    parser_.emplace();
    parser_->body_limit(kMaxResponseBody);
    http::async_read(*stream_, buffer_, *parser_,
                     [this](beast::error_code ec2, size_t) { OnRead(ec2); });
  }

  void OnRead(beast::error_code ec) {
    const Clock::time_point done = Clock::now();
    if (ec) {
      return Fail("read", ec);
    }
    ++run_.completed_total;
    const http::response<http::string_body>& response = parser_->get();
    const int status = static_cast<int>(response.result_int());
    bool good = status == 200 && response.body() == run_.expected_body;
    if (status == 200 && !checked_) {
      // The first answer of each connection is also read patch by patch.
      checked_ = true;
      const Status verdict = CheckAnswer(status, response.body(), *run_.expected);
      if (verdict.ok()) {
        ++run_.parsed_ok;
      } else {
        good = false;
      }
    }
    if (!good) {
      run_.RecordError("HTTP " + std::to_string(status) + ": " + response.body().substr(0, 200),
                       done);
    } else if (done >= run_.measure_start && done < run_.measure_end) {
      ++run_.measured;
      run_.latencies_ms.push_back(
          std::chrono::duration<double, std::milli>(done - sent_at_).count());
    }
    if (!response.keep_alive()) {
      run_.RecordError("the relay closed a keep-alive connection", done);
      return Reconnect();
    }
    Send();
  }

  void Fail(const char* what, beast::error_code ec) {
    run_.RecordError(std::string(what) + ": " + ec.message(), Clock::now());
    Reconnect();
  }

  void Reconnect() {
    beast::error_code ignored;
    beast::get_lowest_layer(*stream_).socket().close(ignored);
    if (Clock::now() >= run_.measure_end) {
      return;
    }
    ++run_.reconnects;
    buffer_.clear();
    checked_ = true;  // one parsed answer per connection slot is enough
    // A short pause, so a relay that refuses everything is not hammered.
    retry_.emplace(io_, std::chrono::milliseconds(100));
    retry_->async_wait([this](beast::error_code) { Start(); });
  }

  void Finish() {
    beast::get_lowest_layer(*stream_).expires_after(std::chrono::seconds(2));
    stream_->async_shutdown([this](beast::error_code) {
      beast::error_code ignored;
      beast::get_lowest_layer(*stream_).socket().close(ignored);
    });
  }

  net::io_context& io_;
  tcp::endpoint server_;
  ssl::context& tls_;
  std::string request_;
  Tally& run_;
  std::optional<beast::ssl_stream<beast::tcp_stream>> stream_;
  std::optional<net::steady_timer> retry_;
  beast::flat_buffer buffer_;
  std::optional<http::response_parser<http::string_body>> parser_;
  Clock::time_point sent_at_;
  bool checked_ = false;
};

Result<std::unique_ptr<ssl::context>> ClientTls(const RealEndpoint& endpoint,
                                                const std::string& ca_file) {
  auto tls = std::make_unique<ssl::context>(ssl::context::tls_client);
  beast::error_code ec;
  tls->set_options(ssl::context::default_workarounds | ssl::context::no_sslv2 |
                       ssl::context::no_sslv3 | ssl::context::no_tlsv1 | ssl::context::no_tlsv1_1 |
                       ssl::context::no_compression,
                   ec);
  if (!ec) tls->set_verify_mode(ssl::verify_peer, ec);
  if (!ec) tls->load_verify_file(ca_file, ec);
  if (!ec) tls->use_certificate_chain(net::buffer(endpoint.cert_pem), ec);
  if (!ec) tls->use_private_key(net::buffer(endpoint.key_pem), ssl::context::pem, ec);
  if (ec) {
    return IoError("client TLS context for " + endpoint.id + ": " + ec.message());
  }
  return tls;
}

double Percentile(const std::vector<double>& sorted, double fraction) {
  if (sorted.empty()) {
    return 0;
  }
  // Nearest rank: the smallest value with at least `fraction` of the samples at or below it.
  const size_t rank = static_cast<size_t>(std::ceil(fraction * static_cast<double>(sorted.size())));
  return sorted[std::min(sorted.size() - 1, rank == 0 ? 0 : rank - 1)];
}

// ---- main --------------------------------------------------------------------------------------

Result<Options> ParseOptions(int argc, char** argv) {
  using ferry::cli::Arity;
  FERRY_ASSIGN_OR_RETURN(
      const ferry::cli::Args args,
      ferry::cli::Args::Parse(std::span<char* const>(argv + 1, static_cast<size_t>(argc - 1)),
                              {{"work", Arity::kOne},
                               {"bin", Arity::kOne},
                               {"endpoints", Arity::kOne},
                               {"connections", Arity::kOne},
                               {"seconds", Arity::kOne},
                               {"warmup", Arity::kOne},
                               {"server-threads", Arity::kOne},
                               {"packages", Arity::kOne},
                               {"patches", Arity::kOne},
                               {"dpkg-status", Arity::kOne},
                               {"server-log", Arity::kFlag}}));
  if (!args.positional().empty()) {
    return UsageError("unexpected argument \"" + args.positional().front() + "\"");
  }
  Options options;
  std::error_code ec;
  const fsys::path self = fsys::read_symlink("/proc/self/exe", ec);
  // This executable is <build>/tests/bench/ferry-bench-checkin.
  options.bin = args.Get("bin").value_or(self.parent_path().parent_path().parent_path().string());
  options.work = args.Get("work").value_or(
      (fsys::temp_directory_path(ec) / ("ferry-bench-checkin-" + std::to_string(::getpid())))
          .string());
  FERRY_ASSIGN_OR_RETURN(const auto endpoints, args.GetInt("endpoints", 0, 1'000'000));
  FERRY_ASSIGN_OR_RETURN(const auto connections, args.GetInt("connections", 1, 1000));
  FERRY_ASSIGN_OR_RETURN(const auto seconds, args.GetInt("seconds", 1, 3600));
  FERRY_ASSIGN_OR_RETURN(const auto warmup, args.GetInt("warmup", 0, 600));
  FERRY_ASSIGN_OR_RETURN(const auto threads, args.GetInt("server-threads", 1, 256));
  FERRY_ASSIGN_OR_RETURN(const auto packages, args.GetInt("packages", 1, 100'000));
  FERRY_ASSIGN_OR_RETURN(const auto patches, args.GetInt("patches", 1, 1000));
  options.endpoints = static_cast<size_t>(endpoints.value_or(100000));
  options.connections = static_cast<size_t>(connections.value_or(64));
  options.seconds = static_cast<double>(seconds.value_or(10));
  options.warmup = static_cast<double>(warmup.value_or(3));
  options.server_threads = static_cast<int>(threads.value_or(0));
  options.server_log = args.Has("server-log");
  options.packages = static_cast<size_t>(packages.value_or(2000));
  options.patches = static_cast<size_t>(patches.value_or(40));
  options.dpkg_status = args.Get("dpkg-status").value_or(options.dpkg_status);
  for (const char* tool : {"relay/ferry-relay", "bundler/ferry-bundle"}) {
    if (::access(ferry::fs::JoinPath(options.bin, tool).c_str(), X_OK) != 0) {
      return UsageError(ferry::fs::JoinPath(options.bin, tool) +
                        ": missing (build it, or point --bin at the build directory)");
    }
  }
  return options;
}

// Empties the work directory when it is one this benchmark made, refuses any other non-empty one.
Status ResetWorkDirectory(const std::string& work) {
  std::error_code ec;
  if (fsys::exists(work, ec) && !fsys::is_empty(work, ec) &&
      !fsys::exists(fsys::path(work) / kMarker, ec)) {
    return UsageError(work +
                      ": not empty and not made by ferry-bench-checkin; refusing to clear it");
  }
  fsys::remove_all(work, ec);
  fsys::create_directories(work, ec);
  if (ec) {
    return IoError(work + ": " + ec.message());
  }
  std::ofstream(fsys::path(work) / kMarker) << "scratch directory of ferry-bench-checkin\n";
  return Ok();
}

int Main(int argc, char** argv) {
  ::signal(SIGPIPE, SIG_IGN);
  Result<Options> parsed = ParseOptions(argc, argv);
  if (!parsed.ok()) {
    return ferry::cli::ReportError(parsed.error());
  }
  const Options& options = *parsed;
  if (const Status reset = ResetWorkDirectory(options.work); !reset.ok()) {
    return ferry::cli::ReportError(reset.error());
  }
  Result<Prepared> prepared = Prepare(options);
  if (!prepared.ok()) {
    return ferry::cli::ReportError(prepared.error());
  }
  Result<Server> server = StartServer(options);
  if (!server.ok()) {
    return ferry::cli::ReportError(server.error());
  }

  const std::string ca_file =
      ferry::relay::TlsFilesIn(ferry::fs::JoinPath(options.work, "relay")).ca_cert;
  const tcp::endpoint address(net::ip::make_address("127.0.0.1"), server->port);
  net::io_context io(1);
  Tally run;
  run.expected = &prepared->expected;
  run.expected_body = prepared->expected_body;
  std::vector<std::unique_ptr<ssl::context>> contexts;
  std::vector<std::unique_ptr<Connection>> connections;
  for (const RealEndpoint& endpoint : prepared->real) {
    Result<std::unique_ptr<ssl::context>> tls = ClientTls(endpoint, ca_file);
    if (!tls.ok()) {
      ::kill(server->pid, SIGKILL);
      return ferry::cli::ReportError(tls.error());
    }
    const std::string body = CheckinBody(endpoint.id, prepared->inventory_sha256, nullptr);
    std::string request =
        "POST /v1/checkin HTTP/1.1\r\nHost: 127.0.0.1:" + std::to_string(server->port) +
        "\r\nContent-Type: application/json\r\nContent-Length: " + std::to_string(body.size()) +
        "\r\n\r\n" + body;
    contexts.push_back(std::move(*tls));
    connections.push_back(
        std::make_unique<Connection>(io, address, *contexts.back(), std::move(request), run));
  }

  const auto warmup =
      std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(options.warmup));
  const auto measured =
      std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(options.seconds));
  const Clock::time_point start = Clock::now();
  run.measure_start = start + warmup;
  run.measure_end = run.measure_start + measured;
  run.latencies_ms.reserve(static_cast<size_t>(options.seconds * 20000));
  Progress("driving " + std::to_string(connections.size()) + " connections: " +
           Fixed(options.warmup) + " s warm-up, " + Fixed(options.seconds) + " s measured");

  double server_cpu_start = 0, client_cpu_start = 0, server_cpu = 0, client_cpu = 0;
  net::steady_timer window_start(io, run.measure_start);
  window_start.async_wait([&](beast::error_code) {
    server_cpu_start = ProcessCpuSeconds(server->pid);
    client_cpu_start = OwnCpuSeconds();
  });
  net::steady_timer window_end(io, run.measure_end);
  window_end.async_wait([&](beast::error_code) {
    server_cpu = ProcessCpuSeconds(server->pid) - server_cpu_start;
    client_cpu = OwnCpuSeconds() - client_cpu_start;
  });
  // However the relay behaves, the client stops: no request goes out after measure_end and
  // every operation has a timeout, and this is the backstop.
  net::steady_timer backstop(io, run.measure_end + std::chrono::seconds(20));
  backstop.async_wait([&](beast::error_code) { io.stop(); });
  for (auto& connection : connections) {
    connection->Start();
  }
  io.run();
  const double window = std::chrono::duration<double>(run.measure_end - run.measure_start).count();

  ::kill(server->pid, SIGTERM);
  std::optional<int> exit_status =
      ferry::testing::WaitForExit(server->pid, std::chrono::seconds(30));
  if (!exit_status) {
    ::kill(server->pid, SIGKILL);
    exit_status = ferry::testing::WaitForExit(server->pid, std::chrono::seconds(5));
  }
  const bool server_clean =
      exit_status && WIFEXITED(*exit_status) && WEXITSTATUS(*exit_status) == 0;

  std::vector<double> sorted = run.latencies_ms;
  std::sort(sorted.begin(), sorted.end());
  const double rate = static_cast<double>(run.measured) / window;
  const double p50 = Percentile(sorted, 0.50);
  const double p90 = Percentile(sorted, 0.90);
  const double p99 = Percentile(sorted, 0.99);
  const double max = sorted.empty() ? 0 : sorted.back();
  const unsigned cores = std::thread::hardware_concurrency();

  std::printf(
      "checkin: %zu endpoints enrolled, %zu of them with a certificate and a stored "
      "%zu-package inventory (%zu from %s, the rest synthetic)\n",
      options.endpoints + prepared->real.size(), prepared->real.size(),
      prepared->inventory_packages, prepared->real_packages, options.dpkg_status.c_str());
  std::printf("checkin: %zu approved .deb patches, %zu applicable; the answer is %zu bytes\n",
              prepared->approved_patches, prepared->expected.size(),
              prepared->expected_body.size());
  std::printf(
      "checkin: client: 1 thread (Boost.Beast), %zu keep-alive %s connections, one "
      "client certificate each, POST /v1/checkin with the inventory hash only\n",
      connections.size(), run.protocol.c_str());
  std::printf(
      "checkin: server: ferry-relay serve %s%s; client and server share this "
      "machine's %u cores\n",
      options.server_log ? "logging every request to a file" : "--quiet",
      options.server_threads > 0 ? (" --threads " + std::to_string(options.server_threads)).c_str()
                                 : " (one thread per core)",
      cores);
  std::printf("checkin: %.0f s warm-up, %.0f s measured\n", options.warmup, options.seconds);
  std::printf("checkin.requests %llu\n", static_cast<unsigned long long>(run.measured));
  std::printf("checkin.errors %llu\n", static_cast<unsigned long long>(run.errors));
  std::printf("checkin.requests_per_second %.0f\n", rate);
  std::printf("checkin.latency_ms.p50 %.2f\n", p50);
  std::printf("checkin.latency_ms.p90 %.2f\n", p90);
  std::printf("checkin.latency_ms.p99 %.2f\n", p99);
  std::printf("checkin.latency_ms.max %.2f\n", max);
  std::printf("checkin.server_cpu_cores %.2f\n", server_cpu / window);
  std::printf("checkin.client_cpu_cores %.2f\n", client_cpu / window);
  // CPU per answer tells what the relay would do with the cores to itself.
  const double answers = static_cast<double>(std::max<uint64_t>(run.measured, 1));
  std::printf("checkin.server_cpu_us_per_request %.1f\n", server_cpu * 1e6 / answers);
  std::printf("checkin.client_cpu_us_per_request %.1f\n", client_cpu * 1e6 / answers);
  std::printf("checkin.answers_checked_patch_by_patch %llu\n",
              static_cast<unsigned long long>(run.parsed_ok));
  std::printf("checkin.errors_whole_run %llu (reconnects %llu)\n",
              static_cast<unsigned long long>(run.errors_total),
              static_cast<unsigned long long>(run.reconnects));
  if (!run.first_error.empty()) {
    std::printf("checkin: first error: %s\n", run.first_error.c_str());
  }
  std::printf("checkin: server exit %s\n", server_clean ? "clean (0)" : "NOT clean");
  const bool goal = rate >= 5000 && p99 < 50 && run.errors == 0;
  std::printf("checkin goal: %.0f/s (>= 5000) with p99 %.2f ms (< 50) and no errors: %s\n", rate,
              p99, goal ? "ok" : "MISSED");
  std::fflush(stdout);
  return run.errors_total == 0 && run.parsed_ok > 0 && server_clean ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) { return Main(argc, argv); }
