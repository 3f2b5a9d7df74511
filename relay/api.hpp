#pragma once

// The relay's API v1 (docs/relay-api.md): routing, authentication by client certificate, the
// JSON of every route, Range and ETag handling, and the database behind them. The HTTPS server
// (relay/http_server.hpp) hands it plain requests; nothing here knows about sockets or TLS.

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

#include "common/error.hpp"
#include "relay/enrollment.hpp"
#include "relay/http_api.hpp"

namespace ferry::relay {

inline constexpr int64_t kDefaultPollSeconds = 900;

// Body limits per route.
inline constexpr uint64_t kEnrollBodyLimit = kMaxEnrollBody;
inline constexpr uint64_t kCheckinBodyLimit = uint64_t{72} << 20;
inline constexpr uint64_t kReportsBodyLimit = uint64_t{1} << 20;
// What a request to an authenticated route may send before its certificate is known to belong
// to an enrolled, unrevoked endpoint, and what a request to no route may send: enough for the
// answer to be 401, 404 or 405 rather than 413.
inline constexpr uint64_t kUnauthenticatedBodyLimit = 64 * 1024;
// Targets longer than this match no route.
inline constexpr size_t kMaxTargetLength = 256;

struct RelayApiOptions {
  int64_t poll_seconds = kDefaultPollSeconds;
  size_t connections = 4;  // SQLite connections shared by the request threads
  // How often the background thread looks for a new catalog version and new revocations, and
  // how often it writes the batched last_seen times.
  std::chrono::milliseconds refresh_interval{500};
  std::chrono::milliseconds flush_interval{5000};
  bool background_thread = true;  // false: the caller drives Refresh() and FlushLastSeen()
};

class RelayApi : public HttpHandler {
 public:
  // Opens the relay data directory (migrating its schema), loads the enrolled endpoints and the
  // approved catalog, and starts the background thread.
  static Result<std::unique_ptr<RelayApi>> Open(const std::string& data_dir,
                                                RelayApiOptions options = {});
  ~RelayApi() override;
  RelayApi(const RelayApi&) = delete;
  RelayApi& operator=(const RelayApi&) = delete;

  RequestLimits LimitsFor(const HttpRequest& head) const override;
  // Thread-safe; never throws.
  HttpResponse Handle(const HttpRequest& request) override;
  // Stops the background thread and writes the batched last_seen times. Idempotent.
  void Drain() override;

  // Loads the approved catalog again if meta catalog_version moved, and applies revocations
  // recorded since the last look (what the background thread does every refresh_interval).
  Status Refresh();
  // Writes the last_seen times kept in memory since the last flush, in one transaction.
  Status FlushLastSeen();

  // Figures for tests and logs.
  struct Stats {
    size_t endpoints = 0;
    int64_t catalog_version = 0;
    size_t applicability_evaluations = 0;
  };
  Stats stats() const;

 private:
  class Impl;
  explicit RelayApi(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace ferry::relay
