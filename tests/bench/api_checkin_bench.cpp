// Check-ins through RelayApi::Handle, without sockets or TLS: the API's own share of the check-in
// budget (docs/benchmarks.md; ferry-bench-checkin measures the same over TLS against the real
// server). Prints one "api_checkin.<figure> <value>" line per figure.
//
// Without --data it makes a scratch relay: a root and bundle key, --patches real .deb files
// (dpkg-deb), one signed bundle, init, import, every patch approved. With --data DIR it uses that
// relay as it is. Either way it registers endpoints until the relay has --endpoints (one
// transaction, with their audit events), gives them one inventory of --packages packages in which
// every catalog package is older than its patch, and lets every endpoint check in once (its first
// check-in records its needs: one durable write each, on --warm-threads threads so the writes
// share commits). Then it calls Handle() with hash-only check-ins, endpoint after endpoint, on
// --threads threads for --seconds.
//
// Usage: ferry-bench-api-checkin [--data DIR] [--endpoints N] [--patches N] [--packages N]
//                                [--seconds S] [--threads N] [--warm-threads N]
//                                [--flush-seconds S]

#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <string>
#include <thread>
#include <tuple>
#include <vector>

#include "bundler/build.hpp"
#include "bundler/inventory.hpp"
#include "common/encoding.hpp"
#include "common/json.hpp"
#include "crypto/envelope.hpp"
#include "crypto/hash.hpp"
#include "crypto/secure.hpp"
#include "relay/api.hpp"
#include "relay/catalog.hpp"
#include "relay/endpoint_registry.hpp"
#include "relay/importer.hpp"
#include "relay/init.hpp"
#include "relay/relay.hpp"
#include "tests/support/testing.hpp"

namespace {

using namespace ferry;
using namespace ferry::relay;
using Clock = std::chrono::steady_clock;

struct Options {
  std::string data;
  size_t endpoints = 100000;
  size_t patches = 80;
  size_t packages = 2000;
  double seconds = 5;
  size_t threads = 1;
  size_t warm_threads = 32;
  double flush_seconds = 5;
};

[[noreturn]] void Fail(const std::string& what) {
  std::fprintf(stderr, "ferry-bench-api-checkin: %s\n", what.c_str());
  std::exit(1);
}

template <typename T>
T Must(Result<T> result, const std::string& what) {
  if (!result.ok()) {
    Fail(what + ": " + result.error().message());
  }
  return std::move(result).value();
}

void Must(const Status& status, const std::string& what) {
  if (!status.ok()) {
    Fail(what + ": " + status.error().message());
  }
}

double Seconds(Clock::duration d) { return std::chrono::duration<double>(d).count(); }

void RunThreads(size_t count, const std::function<void(size_t)>& body) {
  std::vector<std::thread> threads;
  for (size_t t = 0; t < count; ++t) {
    threads.emplace_back(body, t);
  }
  for (std::thread& thread : threads) {
    thread.join();
  }
}

// A relay with `patches` approved deb patches, under `dir`.
std::string MakeScratchRelay(const std::string& dir, size_t patches) {
  const crypto::SigningKey root_key = Must(crypto::SigningKey::Generate(), "root key");
  const crypto::SigningKey bundle_key = Must(crypto::SigningKey::Generate(), "bundle key");
  crypto::TrustRoot root;
  root.version = 1;
  root.expires = Now() + 365 * 86400;
  root.keys.emplace(root_key.id(), root_key.public_key());
  root.keys.emplace(bundle_key.id(), bundle_key.public_key());
  root.root_role = {{root_key.id()}, 1};
  root.bundle_role = {{bundle_key.id()}, 1};
  root.text = Must(crypto::SignTrustRoot(root, {&root_key}), "signing root.json");
  testing::WriteAll(dir + "/root.json", root.text);
  const std::string source = dir + "/source";
  testing::Run("mkdir -p '" + source + "'");
  for (size_t i = 0; i < patches; ++i) {
    testing::MakeDeb(source, "pkg" + std::to_string(1000 + i), "2.0-1",
                     i % 5 == 0 ? "all" : "amd64", 2000);
  }
  bundler::BuildOptions build;
  build.roots = {root};
  build.keys = {&bundle_key};
  build.channel = "bench";
  build.sequence = 1;
  build.source_dir = source;
  build.now = Now();
  build.out_path = dir + "/bench-1.ferry";
  Must(bundler::BuildBundle(build), "building the bundle");
  InitOptions init;
  init.data_dir = dir + "/relay";
  init.root_path = dir + "/root.json";
  Must(InitializeRelay(init), "init");
  Relay relay = Must(Relay::Open(init.data_dir, Relay::Access::kReadWrite), "opening the relay");
  Must(ImportBundle(relay, build.out_path, ImportOptions{"operator:bench", {}}), "import");
  PatchSelection all;
  all.all = true;
  Must(ApprovePatches(relay.db(), all, "operator:bench"), "approve");
  return init.data_dir;
}

// Registers endpoints until the relay has `count`; returns the unrevoked ones' ids and
// certificate fingerprints.
std::vector<std::pair<std::string, std::string>> EnsureEndpoints(const std::string& data,
                                                                 size_t count) {
  Relay relay = Must(Relay::Open(data, Relay::Access::kReadWrite), "opening the relay");
  const std::vector<EndpointRecord> existing = Must(ListEndpoints(relay.db()), "listing endpoints");
  std::vector<EndpointRecord> added;
  const UnixTime now = Now();
  for (size_t i = existing.size(); i < count; ++i) {
    EndpointRecord record;
    record.id = NewEndpointId();
    record.hostname = "bench-" + std::to_string(i);
    // These endpoints never present a certificate over TLS: a random fingerprint stands in.
    std::array<uint8_t, 32> random{};
    crypto::RandomBytes(random);
    record.certificate_sha256 = HexEncode(random);
    record.enrolled_at = now;
    record.target_os = "debian-12";
    added.push_back(std::move(record));
  }
  const auto started = Clock::now();
  Must(RegisterEndpoints(relay.db(), added, "bench"), "registering endpoints");
  if (!added.empty()) {
    std::printf("api_checkin.register_seconds %.3f\napi_checkin.registered %zu\n",
                Seconds(Clock::now() - started), added.size());
  }
  std::vector<std::pair<std::string, std::string>> out;
  for (const EndpointRecord& record : existing) {
    if (!record.revoked_at) {
      out.emplace_back(record.id, record.certificate_sha256);
    }
  }
  for (const EndpointRecord& record : added) {
    out.emplace_back(record.id, record.certificate_sha256);
  }
  return out;
}

// Every catalog package one version below its patch, then filler up to `packages`.
std::string MakeInventoryText(const std::string& data, size_t packages) {
  Relay relay = Must(Relay::Open(data, Relay::Access::kReadOnly), "opening the relay");
  std::vector<bundler::InstalledPackage> installed{{"dpkg", "amd64", "1.21.22"}};
  for (const CatalogPatch& entry : Must(ListPatches(relay.db()), "listing patches")) {
    if (entry.patch.kind == "deb") {
      installed.push_back({entry.patch.package, entry.patch.architecture, "0.1-1"});
    }
  }
  const auto key = [](const bundler::InstalledPackage& p) {
    return std::tie(p.name, p.architecture);
  };
  std::sort(installed.begin(), installed.end(),
            [&](const auto& a, const auto& b) { return key(a) < key(b); });
  installed.erase(std::unique(installed.begin(), installed.end(),
                              [&](const auto& a, const auto& b) { return key(a) == key(b); }),
                  installed.end());
  for (size_t i = 0; installed.size() < packages; ++i) {
    installed.push_back({"filler" + std::to_string(i), "amd64", "1.0-1"});
  }
  return bundler::InventoryCanonical(Must(bundler::MakeInventory(installed), "inventory"));
}

std::string CheckinBody(const std::string& id, const std::string& hash,
                        const std::string* inventory) {
  json::Object body{{"endpoint_id", id},
                    {"inventory_sha256", hash},
                    {"target_os", "debian-12"},
                    {"agent_version", "0.2.0"}};
  if (inventory != nullptr) {
    body["inventory"] = *inventory;
  }
  return Must(json::Canonical(body), "check-in body");
}

// The resident set now, from /proc/self/statm (pages).
long CurrentRssKib() {
  long pages = 0;
  long resident = 0;
  if (FILE* statm = std::fopen("/proc/self/statm", "r")) {
    if (std::fscanf(statm, "%ld %ld", &pages, &resident) != 2) {
      resident = 0;
    }
    std::fclose(statm);
  }
  return resident * (sysconf(_SC_PAGESIZE) / 1024);
}

long PeakRssKib() {
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  return usage.ru_maxrss;
}

Options ParseOptions(int argc, char** argv) {
  Options options;
  for (int i = 1; i < argc; ++i) {
    const std::string flag = argv[i];
    if (i + 1 >= argc) {
      Fail("missing value for " + flag);
    }
    const std::string value = argv[++i];
    if (flag == "--data") {
      options.data = value;
    } else if (flag == "--endpoints") {
      options.endpoints = std::stoul(value);
    } else if (flag == "--patches") {
      options.patches = std::stoul(value);
    } else if (flag == "--packages") {
      options.packages = std::stoul(value);
    } else if (flag == "--seconds") {
      options.seconds = std::stod(value);
    } else if (flag == "--threads") {
      options.threads = std::max<size_t>(1, std::stoul(value));
    } else if (flag == "--flush-seconds") {
      options.flush_seconds = std::stod(value);
    } else if (flag == "--warm-threads") {
      options.warm_threads = std::max<size_t>(1, std::stoul(value));
    } else {
      Fail("unknown option " + flag);
    }
  }
  return options;
}

}  // namespace

int main(int argc, char** argv) {
  const Options options = ParseOptions(argc, argv);
  std::unique_ptr<testing::TempDir> scratch;
  std::string data = options.data;
  if (data.empty()) {
    scratch = std::make_unique<testing::TempDir>();
    const auto started = Clock::now();
    data = MakeScratchRelay(scratch->path(), options.patches);
    std::printf("api_checkin.scratch_relay_seconds %.3f\n", Seconds(Clock::now() - started));
  }
  const auto endpoints = EnsureEndpoints(data, options.endpoints);
  if (endpoints.empty()) {
    Fail("no unrevoked endpoint to check in as");
  }
  std::printf("api_checkin.endpoints %zu\n", endpoints.size());
  const std::string inventory = MakeInventoryText(data, options.packages);
  const std::string hash = crypto::DigestHex(crypto::Sha256Of(inventory));

  const long rss_before_open = CurrentRssKib();
  auto started = Clock::now();
  RelayApiOptions api_options;
  api_options.flush_interval =
      std::chrono::milliseconds(static_cast<int64_t>(options.flush_seconds * 1000));
  const std::unique_ptr<RelayApi> api = Must(RelayApi::Open(data, api_options), "opening the API");
  std::printf("api_checkin.api_open_seconds %.3f\n", Seconds(Clock::now() - started));
  // What the API holds for its endpoints and catalog before any request.
  std::printf("api_checkin.api_open_rss_kib %ld\n", CurrentRssKib() - rss_before_open);

  // The bodies are made before the clock starts: the agent's work is not the relay's.
  std::vector<HttpRequest> requests(endpoints.size());
  for (size_t i = 0; i < endpoints.size(); ++i) {
    requests[i].method = "POST";
    requests[i].target = "/v1/checkin";
    requests[i].body = CheckinBody(endpoints[i].first, hash, i == 0 ? &inventory : nullptr);
    requests[i].client_certificate_sha256 = endpoints[i].second;
    requests[i].peer = "127.0.0.1:1";
  }
  // The first check-in brings the inventory; all the others send its hash only.
  const HttpResponse first = api->Handle(requests[0]);
  if (first.status != 200 || first.body.find("\"patches\"") == std::string::npos) {
    Fail("first check-in answered " + std::to_string(first.status) + ": " + first.body);
  }
  requests[0].body = CheckinBody(endpoints[0].first, hash, nullptr);
  const json::Value answer = Must(json::Parse(first.body), "answer");
  std::printf("api_checkin.patches_per_answer %zu\napi_checkin.answer_bytes %zu\n",
              answer.as_object().at("patches").as_array().size(), first.body.size());

  std::atomic<bool> failed{false};
  const auto check = [&](const HttpResponse& response) {
    if (response.status != 200 || response.body != first.body) {
      std::fprintf(stderr, "check-in answered %d: %.200s\n", response.status,
                   response.body.c_str());
      failed = true;
    }
  };
  std::atomic<size_t> next{1};
  started = Clock::now();
  RunThreads(options.warm_threads, [&](size_t) {
    for (size_t i = next.fetch_add(1); i < requests.size() && !failed; i = next.fetch_add(1)) {
      check(api->Handle(requests[i]));
    }
  });
  if (failed) {
    return 1;
  }
  std::printf("api_checkin.first_checkins_per_second %.0f\n",
              static_cast<double>(requests.size()) / Seconds(Clock::now() - started));

  next = 0;
  std::vector<std::vector<uint32_t>> latencies(options.threads);  // units of 100 ns
  // When (seconds into the run) each request that took 1 ms or more started, and how long it took
  // (ms): shows whether stalls are the scheduler's (frequent, short) or the relay's.
  std::vector<std::vector<std::pair<double, double>>> slow_starts(options.threads);
  started = Clock::now();
  const auto deadline = started + std::chrono::duration_cast<Clock::duration>(
                                      std::chrono::duration<double>(options.seconds));
  RunThreads(options.threads, [&](size_t t) {
    std::vector<uint32_t>& mine = latencies[t];
    mine.reserve(size_t{1} << 20);
    while (!failed.load(std::memory_order_relaxed)) {
      const auto before = Clock::now();
      if (before >= deadline) {
        break;
      }
      check(api->Handle(requests[next.fetch_add(1) % requests.size()]));
      const auto took = static_cast<uint32_t>(
          std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now() - before).count() /
          100);
      if (took >= 10000) {
        slow_starts[t].push_back({Seconds(before - started), took / 10000.0});
      }
      mine.push_back(took);
    }
  });
  const double elapsed = Seconds(Clock::now() - started);
  if (failed) {
    return 1;
  }
  std::vector<uint32_t> all;
  for (const auto& part : latencies) {
    all.insert(all.end(), part.begin(), part.end());
  }
  std::sort(all.begin(), all.end());
  const auto percentile = [&](double p) {
    return all.empty() ? 0.0
                       : all[static_cast<size_t>(p * static_cast<double>(all.size() - 1))] / 10.0;
  };
  std::vector<std::pair<double, double>> slow;
  for (const auto& part : slow_starts) {
    slow.insert(slow.end(), part.begin(), part.end());
  }
  // The ten longest, by start time.
  std::sort(slow.begin(), slow.end(),
            [](const auto& a, const auto& b) { return a.second > b.second; });
  std::vector<std::pair<double, double>> longest(slow.begin(),
                                                 slow.begin() + std::min<size_t>(10, slow.size()));
  std::sort(longest.begin(), longest.end());
  std::string slow_text;
  for (const auto& [at, ms] : longest) {
    char item[64];
    std::snprintf(item, sizeof item, "%s%.3fs:%.1fms", slow_text.empty() ? "" : " ", at, ms);
    slow_text += item;
  }
  std::printf("api_checkin.threads %zu\n", options.threads);
  std::printf("api_checkin.over_1ms %zu\n", slow.size());
  if (!slow.empty()) {
    std::printf("api_checkin.longest_at %s\n", slow_text.c_str());
  }
  std::printf("api_checkin.requests %zu\n", all.size());
  std::printf("api_checkin.requests_per_second %.0f\n", static_cast<double>(all.size()) / elapsed);
  std::printf("api_checkin.p50_us %.1f\napi_checkin.p99_us %.1f\napi_checkin.max_us %.1f\n",
              percentile(0.5), percentile(0.99), all.empty() ? 0.0 : all.back() / 10.0);
  const auto drain_started = Clock::now();
  api->Drain();
  std::printf("api_checkin.drain_seconds %.3f\n", Seconds(Clock::now() - drain_started));
  std::printf("api_checkin.applicability_evaluations %zu\n",
              api->stats().applicability_evaluations);
  std::printf("api_checkin.peak_rss_kib %ld\n", PeakRssKib());
  return 0;
}
