#pragma once

// The agent's only network client: HTTPS/1.1 to one relay, trusting the relay's pinned CA and
// nothing else. Boost.Beast, Asio and OpenSSL stay inside https_client.cpp (pimpl), so the rest
// of the agent sees plain values. docs/ferry-agent.md ("What the agent verifies").

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "common/error.hpp"

namespace ferry::endpoint {

// https://HOST:PORT, parsed strictly: lower-case scheme, a DNS name, a dotted IPv4 address or a
// bracketed IPv6 address ([::1], no zone), an explicit decimal port 1..65535, and at most a "/"
// after it: no user, path, query or fragment.
struct RelayUrl {
  enum class HostKind { kDnsName, kIpv4, kIpv6 };
  std::string host;  // IPv6 without brackets
  HostKind kind = HostKind::kDnsName;
  uint16_t port = 0;

  // "https://HOST:PORT" with brackets around an IPv6 address.
  std::string ToString() const;
  // The Host header's value: "HOST:PORT", brackets around an IPv6 address.
  std::string Authority() const;
};

// Parses a relay URL; anything else is ErrorKind::kUsage naming the cause.
Result<RelayUrl> ParseRelayUrl(std::string_view text);

struct HttpsClientOptions {
  RelayUrl url;
  std::string ca_file;  // PEM: the only certificates trusted for the relay
  // Both or neither: the client certificate (PEM) and its unencrypted private key.
  std::string client_cert_file;
  std::string client_key_file;
  std::chrono::milliseconds connect_timeout{std::chrono::seconds(15)};
  // Any single read or write that makes no progress for this long fails the request.
  std::chrono::milliseconds io_timeout{std::chrono::seconds(60)};
  std::string user_agent = "ferry-agent";
};

struct HttpsResponse {
  int status = 0;
  std::string body;
  std::string content_type;
};

// What Download did.
struct DownloadReport {
  uint64_t resumed_from = 0;  // bytes already in the file that a 206 answer continued
  uint64_t received = 0;      // body bytes written in this call
  uint64_t size = 0;          // the file's size afterwards
};

// One relay connection, kept alive between requests and reopened when the relay closed it.
// Not thread-safe. Errors: ErrorKind::kIo when the relay cannot be reached, its certificate is
// refused (another CA, another name, expired: whoever answered is not the pinned relay), or the
// connection fails or times out; ErrorKind::kInvalid when its answer breaks HTTP or the size
// limits.
class HttpsClient {
 public:
  // Loads the CA (and client identity) files; nothing is sent until the first request.
  static Result<HttpsClient> Create(const HttpsClientOptions& options);

  HttpsClient(HttpsClient&&) noexcept;
  HttpsClient& operator=(HttpsClient&&) noexcept;
  HttpsClient(const HttpsClient&) = delete;
  HttpsClient& operator=(const HttpsClient&) = delete;
  ~HttpsClient();

  // GET `target` ("/v1/..."); a body larger than max_body is refused while it is read.
  Result<HttpsResponse> Get(std::string_view target, uint64_t max_body);

  // POST a JSON body to `target`.
  Result<HttpsResponse> PostJson(std::string_view target, std::string_view json_body,
                                 uint64_t max_body);

  // Fetches `target` (a payload of `expected_size` bytes) into `path`, continuing a partial file:
  // with N bytes present it asks "Range: bytes=N-" and appends only when the answer is 206 with
  // Content-Range "bytes N-(size-1)/size"; any other answer to the range restarts from byte 0.
  // The file is flushed to disk before success. It never grows beyond expected_size; a file
  // already that long is left alone (the caller hashes it). A non-2xx answer is an error naming
  // the status; a dropped connection leaves the bytes received so far for the next call.
  Result<DownloadReport> Download(std::string_view target, const std::string& path,
                                  uint64_t expected_size);

  // Closes the connection (the next request opens a new one).
  void Close();

 private:
  class Impl;
  explicit HttpsClient(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace ferry::endpoint
