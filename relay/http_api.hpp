#pragma once

// The boundary between the HTTPS server (relay/http_server.cpp, the only Boost.Beast code of the
// relay) and the API that answers requests (relay/api.cpp). Plain value types only, so the API is
// tested without sockets and the rest of the relay never includes Beast. docs/relay-api.md.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace ferry::relay {

struct HttpRequest {
  std::string method;  // "GET", "HEAD", "POST", ...
  std::string target;  // the request target as sent, e.g. "/v1/payloads/<sha256>"
  // Header fields the API reads, names in lower case; repeated fields joined with ", ".
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;
  // SHA-256 (lowercase hex) of the DER of the client certificate the TLS handshake verified
  // against the relay's CA; nullopt when the client presented none.
  std::optional<std::string> client_certificate_sha256;
  std::string peer;  // "address:port", for logs

  // The value of a header field (name in lower case), if present.
  const std::string* Header(std::string_view name) const;
};

// A byte range of a file the server streams as the response body, so payloads never pass
// through memory whole.
struct FileSlice {
  std::string path;
  uint64_t offset = 0;
  uint64_t length = 0;
};

struct HttpResponse {
  int status = 200;
  std::vector<std::pair<std::string, std::string>> headers;  // besides Content-Length
  std::string body;                // used when `file` is empty
  std::optional<FileSlice> file;   // streamed instead of `body`
  bool head_only = false;          // HEAD: send the headers (with the full Content-Length) only
};

// What the server asks of the API before it reads a request's body.
struct RequestLimits {
  uint64_t max_body_bytes = 0;  // 0: the request must not have a body
};

class HttpHandler {
 public:
  virtual ~HttpHandler() = default;

  // Called with the request line and headers (body not yet read): how large a body this target
  // may send. The server answers 413 without reading a larger one.
  virtual RequestLimits LimitsFor(const HttpRequest& head) const = 0;

  // Answers one complete request. Called concurrently from the server's threads.
  virtual HttpResponse Handle(const HttpRequest& request) = 0;

  // Called once by the server after it stopped accepting requests and the last one was answered
  // (SIGTERM): the handler writes what it kept in memory. No Handle() call follows.
  virtual void Drain() {}
};

}  // namespace ferry::relay
