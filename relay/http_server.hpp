#pragma once

// The relay's HTTPS listener: TLS (1.2 or newer, client certificates checked against the relay's
// CA), HTTP/1.1 with keep-alive, a timeout on every read and write, header and body limits, and a
// graceful stop. It answers every complete request through an HttpHandler (relay/http_api.hpp)
// and streams FileSlice bodies from disk. Boost.Beast stays inside http_server.cpp; behaviour is
// written up in docs/relay-api.md ("Transport").

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

#include "common/error.hpp"
#include "relay/http_api.hpp"
#include "relay/tls_identity.hpp"

namespace ferry::relay {

struct HttpServerOptions {
  // "ADDR:PORT": "127.0.0.1:8443", "[::1]:8443", "0.0.0.0:8443", "relay.example:8443" (a name is
  // resolved once; the first address is bound). Port 0 picks a free port.
  std::string listen;
  // server_cert (the chain: server certificate, then CA), server_key, and ca_cert, which verifies
  // the certificates clients present. ca_key is not read.
  TlsFiles tls;
  int threads = 0;  // 0: one per hardware thread

  std::chrono::milliseconds handshake_timeout{10'000};
  std::chrono::milliseconds header_timeout{10'000};  // from the first byte to the blank line
  std::chrono::milliseconds idle_timeout{60'000};    // between requests on a kept-alive connection
  std::chrono::milliseconds body_timeout{30'000};    // the least time any request body gets
  uint64_t min_body_bytes_per_second = 64 * 1024;    // larger bodies get size / this rate
  std::chrono::milliseconds write_timeout{60'000};   // a client that reads nothing this long
  std::chrono::milliseconds drain_timeout{10'000};   // in-flight requests after Stop()

  size_t max_header_bytes = 16 * 1024;  // request line and header fields together
  size_t max_connections = 10'000;      // lowered to fit RLIMIT_NOFILE when that is smaller
  // FileSlice bodies are read, encrypted and written this much at a time.
  size_t file_chunk_bytes = 512 * 1024;

  // One line per request and per failed handshake on stderr. Faults of the server or the handler
  // (a 500, an unreadable file, the drain time running out) are logged either way.
  bool log_requests = true;
  bool stop_on_signals = false;  // SIGTERM and SIGINT call Stop()
};

class HttpServer {
 public:
  // Loads the TLS files and binds the listening socket; nothing is served before Serve(). A bad
  // address is ErrorKind::kUsage; an address in use or unreadable TLS files are ErrorKind::kIo.
  // `handler` must outlive the server.
  static Result<HttpServer> Create(HttpHandler& handler, HttpServerOptions options);

  HttpServer(HttpServer&&) noexcept;
  HttpServer& operator=(HttpServer&&) noexcept;
  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;
  ~HttpServer();

  // The bound address with the real port: "127.0.0.1:8443" or "[::1]:8443".
  std::string local_address() const;
  uint16_t port() const;
  // The connection limit in force (options.max_connections, or less when file descriptors are
  // scarce).
  size_t max_connections() const;

  // Serves on options.threads threads until Stop() (or a signal, with stop_on_signals); then stops
  // accepting, lets requests already received finish (at most drain_timeout, after which the
  // remaining connections are cut), calls handler.Drain() and returns. Call it once.
  Status Serve();

  // Asks Serve() to stop as described there. Safe from any thread (not from a signal handler),
  // any number of times, before or during Serve().
  void Stop();

 private:
  struct Impl;
  explicit HttpServer(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace ferry::relay
