// The agent's Beast/Asio/OpenSSL edge. Every socket operation is asynchronous with a deadline
// (beast::tcp_stream's expiry) and driven to completion by running the client's own io_context,
// so the caller sees a plain blocking call that always ends.

#include "endpoint/https_client.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <sys/stat.h>
#include <unistd.h>

#include <array>
#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <cerrno>
#include <charconv>
#include <cstring>
#include <exception>
#include <optional>
#include <vector>

#include "common/file.hpp"
#include "common/net.hpp"
#include "crypto/secure.hpp"

namespace ferry::endpoint {
namespace {

namespace beast = boost::beast;
namespace http = beast::http;
namespace asio = boost::asio;
namespace ssl = asio::ssl;
using tcp = asio::ip::tcp;
using Stream = beast::ssl_stream<beast::tcp_stream>;

constexpr std::string_view kScheme = "https://";
// The relay's headers are a few hundred bytes; anything near this is not a relay.
constexpr uint32_t kMaxResponseHeader = 16 * 1024;
constexpr size_t kMaxPemFile = 64 * 1024;
constexpr size_t kDownloadChunk = 256 * 1024;

Result<uint16_t> ParsePort(std::string_view text, std::string_view url) {
  uint32_t port = 0;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), port);
  if (text.empty() || text.size() > 5 || text.front() == '0' || ec != std::errc() ||
      end != text.data() + text.size() || port < 1 || port > 65535) {
    return UsageError("relay URL \"" + std::string(url) + "\": the port must be 1..65535");
  }
  return static_cast<uint16_t>(port);
}

// A request target the agent built: printable ASCII without spaces, starting with '/'.
Status CheckTarget(std::string_view target) {
  if (target.empty() || target.front() != '/' || target.size() > 2048) {
    return UsageError("request target \"" + std::string(target) + "\" is not an absolute path");
  }
  for (const char c : target) {
    if (c <= 0x20 || c >= 0x7f) {
      return UsageError("request target has a character that must not appear in it");
    }
  }
  return Ok();
}

// "bytes FIRST-LAST/SIZE" exactly as a 206 continuing `offset` of a `size`-byte file must say.
bool ContentRangeContinues(std::string_view value, uint64_t offset, uint64_t size) {
  return value == "bytes " + std::to_string(offset) + "-" + std::to_string(size - 1) + "/" +
                      std::to_string(size);
}

std::string_view View(beast::string_view text) { return {text.data(), text.size()}; }

bool IsHttpProtocolError(const beast::error_code& ec) {
  return ec.category() == http::make_error_code(http::error::bad_version).category() &&
         ec != http::error::end_of_stream && ec != http::error::partial_message;
}

}  // namespace

std::string RelayUrl::Authority() const {
  const std::string shown = kind == HostKind::kIpv6 ? "[" + host + "]" : host;
  return shown + ":" + std::to_string(port);
}

std::string RelayUrl::ToString() const { return std::string(kScheme) + Authority(); }

Result<RelayUrl> ParseRelayUrl(std::string_view text) {
  const auto bad = [&](const std::string& why) {
    return UsageError("relay URL \"" + std::string(text) + "\": " + why);
  };
  if (!text.starts_with(kScheme)) {
    return bad("must start with https://");
  }
  std::string_view rest = text.substr(kScheme.size());
  if (rest.ends_with('/')) {
    rest.remove_suffix(1);
  }
  RelayUrl url;
  std::string_view port;
  if (rest.starts_with('[')) {
    const size_t close = rest.find(']');
    if (close == std::string_view::npos || close + 1 >= rest.size() || rest[close + 1] != ':') {
      return bad("expected [IPv6]:PORT");
    }
    url.host = std::string(rest.substr(1, close - 1));
    url.kind = RelayUrl::HostKind::kIpv6;
    port = rest.substr(close + 2);
    std::array<uint8_t, 16> bytes{};
    if (url.host.find('%') != std::string::npos ||
        ::inet_pton(AF_INET6, url.host.c_str(), bytes.data()) != 1) {
      return bad("\"" + url.host + "\" is not an IPv6 address");
    }
  } else {
    const size_t colon = rest.rfind(':');
    if (colon == std::string_view::npos) {
      return bad("the port is missing (https://HOST:PORT)");
    }
    url.host = std::string(rest.substr(0, colon));
    port = rest.substr(colon + 1);
    if (url.host.find(':') != std::string::npos) {
      return bad("an IPv6 address must be written in brackets, as [::1]");
    }
    const bool numeric =
        !url.host.empty() && url.host.find_first_not_of("0123456789.") == std::string::npos;
    std::array<uint8_t, 4> bytes{};
    if (numeric) {
      if (::inet_pton(AF_INET, url.host.c_str(), bytes.data()) != 1) {
        return bad("\"" + url.host + "\" is not an IPv4 address");
      }
      url.kind = RelayUrl::HostKind::kIpv4;
    } else if (!ferry::net::IsDnsName(url.host)) {
      return bad("\"" + url.host + "\" is not a host name (no user, path, query or fragment)");
    }
  }
  FERRY_ASSIGN_OR_RETURN(url.port, ParsePort(port, text));
  return url;
}

class HttpsClient::Impl {
 public:
  explicit Impl(HttpsClientOptions options)
      : options_(std::move(options)), tls_(ssl::context::tls_client) {}

  Status Configure();
  Result<HttpsResponse> Request(http::verb verb, std::string_view target, std::string_view body,
                                uint64_t max_body);
  Result<DownloadReport> Download(std::string_view target, const std::string& path,
                                  uint64_t expected_size);
  void Close();

 private:
  // Starts one asynchronous operation with a completion handler and runs the io_context until
  // it completes; the stream's expiry (set by the caller) bounds how long that takes.
  template <typename Start>
  beast::error_code Run(Start&& start) {
    beast::error_code result = asio::error::operation_aborted;
    start([&result](beast::error_code ec, auto&&...) { result = ec; });
    io_.restart();
    io_.run();
    return result;
  }

  void Expire(std::chrono::milliseconds after) {
    beast::get_lowest_layer(*stream_).expires_after(after);
  }

  Status Connect();
  // Writes `request` and reads the response header into `parser`, reopening a kept-alive
  // connection once when the relay had closed it before answering.
  template <typename Parser>
  Status Exchange(http::request<http::string_body>& request, std::optional<Parser>& parser,
                  uint64_t max_body, std::string_view target);
  Error Failure(const std::string& what, const beast::error_code& ec) const;
  http::request<http::string_body> MakeRequest(http::verb verb, std::string_view target,
                                               std::string_view body) const;

  HttpsClientOptions options_;
  asio::io_context io_;
  ssl::context tls_;
  std::unique_ptr<Stream> stream_;
  beast::flat_buffer buffer_;
};

Status HttpsClient::Impl::Configure() {
  SSL_CTX* context = tls_.native_handle();
  tls_.set_options(ssl::context::default_workarounds | ssl::context::no_sslv2 |
                   ssl::context::no_sslv3 | ssl::context::no_tlsv1 | ssl::context::no_tlsv1_1 |
                   ssl::context::no_compression);
  if (SSL_CTX_set_min_proto_version(context, TLS1_2_VERSION) != 1) {
    return IoError("TLS: cannot require TLS 1.2 or newer");
  }
  // Only the pinned CA: the system's trust store is never loaded.
  FERRY_ASSIGN_OR_RETURN(const std::string ca, fs::ReadFile(options_.ca_file, kMaxPemFile));
  if (ca.find("-----BEGIN CERTIFICATE-----") == std::string::npos) {
    return InvalidError(options_.ca_file + ": no PEM certificate in it");
  }
  beast::error_code ec;
  tls_.add_certificate_authority(asio::buffer(ca), ec);
  if (ec) {
    return InvalidError(options_.ca_file + ": not a usable CA certificate: " + ec.message());
  }
  tls_.set_verify_mode(ssl::verify_peer | ssl::verify_fail_if_no_peer_cert);

  if (options_.client_cert_file.empty() != options_.client_key_file.empty()) {
    return UsageError("a client certificate needs its key, and a key its certificate");
  }
  if (!options_.client_cert_file.empty()) {
    FERRY_ASSIGN_OR_RETURN(const std::string cert,
                           fs::ReadFile(options_.client_cert_file, kMaxPemFile));
    FERRY_ASSIGN_OR_RETURN(std::string key, fs::ReadFile(options_.client_key_file, kMaxPemFile));
    tls_.use_certificate_chain(asio::buffer(cert), ec);
    if (!ec) {
      tls_.use_private_key(asio::buffer(key), ssl::context::pem, ec);
    }
    crypto::SecureWipe(key.data(), key.size());
    if (ec) {
      return InvalidError(options_.client_cert_file + ", " + options_.client_key_file +
                          ": not a usable client certificate and key: " + ec.message());
    }
    if (SSL_CTX_check_private_key(context) != 1) {
      return InvalidError(options_.client_key_file + ": does not match " +
                          options_.client_cert_file);
    }
  }
  return Ok();
}

Error HttpsClient::Impl::Failure(const std::string& what, const beast::error_code& ec) const {
  const std::string where = options_.url.ToString() + ": " + what;
  if (ec == beast::error::timeout) {
    return IoError(where + ": timed out");
  }
  if (ec == http::error::body_limit || ec == http::error::header_limit ||
      ec == http::error::buffer_overflow) {
    return InvalidError(where + ": the answer is larger than allowed");
  }
  if (IsHttpProtocolError(ec)) {
    return InvalidError(where + ": malformed HTTP answer: " + ec.message());
  }
  return IoError(where + ": " + ec.message());
}

Status HttpsClient::Impl::Connect() {
  Close();
  const RelayUrl& url = options_.url;
  beast::error_code ec;
  tcp::resolver resolver(io_);
  auto flags = tcp::resolver::numeric_service;
  if (url.kind != RelayUrl::HostKind::kDnsName) {
    flags |= tcp::resolver::numeric_host;
  }
  const auto endpoints = resolver.resolve(url.host, std::to_string(url.port), flags, ec);
  if (ec) {
    return IoError(url.ToString() + ": cannot resolve " + url.host + ": " + ec.message());
  }
  stream_ = std::make_unique<Stream>(io_, tls_);
  SSL* connection = stream_->native_handle();
  // The name or address the agent was given must be among the certificate's subjectAltNames;
  // the subject's CN is never consulted and wildcards are not accepted.
  SSL_set_hostflags(connection, X509_CHECK_FLAG_NEVER_CHECK_SUBJECT | X509_CHECK_FLAG_NO_WILDCARDS);
  if (url.kind == RelayUrl::HostKind::kDnsName) {
    // SSL_set_tlsext_host_name without its C-style cast: the SNI name to send.
    if (SSL_ctrl(connection, SSL_CTRL_SET_TLSEXT_HOSTNAME, TLSEXT_NAMETYPE_host_name,
                 const_cast<char*>(url.host.c_str())) != 1 ||
        SSL_set1_host(connection, url.host.c_str()) != 1) {
      return IoError("TLS: cannot set the expected host name " + url.host);
    }
  } else if (X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(connection), url.host.c_str()) != 1) {
    return IoError("TLS: cannot set the expected address " + url.host);
  }

  Expire(options_.connect_timeout);
  ec = Run([&](auto handler) {
    beast::get_lowest_layer(*stream_).async_connect(endpoints, std::move(handler));
  });
  if (ec) {
    Error error = Failure("cannot connect", ec);
    Close();
    return error;
  }
  Expire(options_.io_timeout);
  ec = Run([&](auto handler) {
    stream_->async_handshake(ssl::stream_base::client, std::move(handler));
  });
  if (ec) {
    const long verify = SSL_get_verify_result(connection);
    Close();
    if (verify != X509_V_OK) {
      // The machine that answered is not the pinned relay: to the agent, its relay is away.
      return IoError(url.ToString() + ": TLS: the relay's certificate is refused: " +
                     X509_verify_cert_error_string(verify));
    }
    return Failure("TLS handshake", ec);
  }
  return Ok();
}

void HttpsClient::Impl::Close() {
  if (stream_) {
    beast::error_code ignored;
    beast::get_lowest_layer(*stream_).socket().close(ignored);
    stream_.reset();
  }
  buffer_.clear();
}

http::request<http::string_body> HttpsClient::Impl::MakeRequest(http::verb verb,
                                                                std::string_view target,
                                                                std::string_view body) const {
  http::request<http::string_body> request{verb, std::string(target), 11};
  request.set(http::field::host, options_.url.Authority());
  request.set(http::field::user_agent, options_.user_agent);
  if (verb == http::verb::post) {
    request.set(http::field::content_type, "application/json");
    request.body() = std::string(body);
  }
  request.keep_alive(true);
  request.prepare_payload();
  return request;
}

template <typename Parser>
Status HttpsClient::Impl::Exchange(http::request<http::string_body>& request,
                                   std::optional<Parser>& parser, uint64_t max_body,
                                   std::string_view target) {
  const std::string what = std::string(View(request.method_string())) + " " + std::string(target);
  for (int attempt = 0;; ++attempt) {
    parser.emplace();
    parser->header_limit(kMaxResponseHeader);
    parser->body_limit(max_body);
    const bool reused = stream_ != nullptr;
    if (!reused) {
      FERRY_RETURN_IF_ERROR(Connect());
    }
    Expire(options_.io_timeout);
    beast::error_code ec =
        Run([&](auto handler) { http::async_write(*stream_, request, std::move(handler)); });
    if (!ec) {
      Expire(options_.io_timeout);
      ec = Run([&](auto handler) {
        http::async_read_header(*stream_, buffer_, *parser, std::move(handler));
      });
    }
    if (!ec) {
      return Ok();
    }
    // A kept-alive connection the relay closed before this request arrived gets one fresh try.
    const bool closed_while_idle =
        reused && attempt == 0 && !parser->got_some() && ec != beast::error::timeout;
    Close();
    if (!closed_while_idle) {
      return Failure(what, ec);
    }
  }
}

Result<HttpsResponse> HttpsClient::Impl::Request(http::verb verb, std::string_view target,
                                                 std::string_view body, uint64_t max_body) {
  FERRY_RETURN_IF_ERROR(CheckTarget(target));
  http::request<http::string_body> request = MakeRequest(verb, target, body);
  std::optional<http::response_parser<http::string_body>> read;
  FERRY_RETURN_IF_ERROR(Exchange(request, read, max_body, target));
  auto& parser = *read;
  const std::string what = std::string(View(request.method_string())) + " " + std::string(target);
  while (!parser.is_done()) {
    Expire(options_.io_timeout);
    const beast::error_code ec = Run([&](auto handler) {
      http::async_read_some(*stream_, buffer_, parser, std::move(handler));
    });
    if (ec) {
      Close();
      return Failure(what, ec);
    }
  }
  auto& message = parser.get();
  HttpsResponse response;
  response.status = static_cast<int>(message.result_int());
  response.content_type = std::string(View(message[http::field::content_type]));
  response.body = std::move(message.body());
  if (!message.keep_alive()) {
    Close();
  }
  return response;
}

Result<DownloadReport> HttpsClient::Impl::Download(std::string_view target, const std::string& path,
                                                   uint64_t expected_size) {
  FERRY_RETURN_IF_ERROR(CheckTarget(target));
  const std::string what = "GET " + std::string(target);
  DownloadReport report;
  struct stat st {};
  uint64_t have = 0;
  if (::stat(path.c_str(), &st) == 0) {
    have = static_cast<uint64_t>(st.st_size);
  } else if (errno != ENOENT) {
    return IoError(path + ": stat: " + std::strerror(errno));
  }
  if (have == expected_size) {
    report.size = have;
    return report;
  }
  bool ranged = have > 0 && have < expected_size;
  // At most two exchanges: a refused range is followed by one request for the whole file.
  for (int attempt = 0; attempt < 2; ++attempt) {
    http::request<http::string_body> request = MakeRequest(http::verb::get, target, {});
    if (ranged) {
      request.set(http::field::range, "bytes=" + std::to_string(have) + "-");
    }
    std::optional<http::response_parser<http::buffer_body>> read;
    FERRY_RETURN_IF_ERROR(Exchange(request, read, expected_size, target));
    auto& parser = *read;
    const auto& header = parser.get();
    const int status = static_cast<int>(header.result_int());
    bool append = false;
    if (ranged && status == 206 &&
        ContentRangeContinues(View(header[http::field::content_range]), have, expected_size)) {
      append = true;
    } else if (status == 206 || status == 416) {
      // A range answer for some other range, or a relay that cannot satisfy ours: start over.
      Close();
      ranged = false;
      continue;
    } else if (status != 200) {
      Close();
      const std::string message =
          options_.url.ToString() + ": " + what + ": HTTP " + std::to_string(status);
      return status >= 500 ? IoError(message) : InvalidError(message);
    }
    const uint64_t start = append ? have : 0;
    const uint64_t remaining = expected_size - start;
    if (const auto length = parser.content_length(); length && *length != remaining) {
      Close();
      return InvalidError(options_.url.ToString() + ": " + what + ": the answer has " +
                          std::to_string(*length) + " bytes, expected " +
                          std::to_string(remaining));
    }
    parser.body_limit(remaining);
    const int fd =
        ::open(path.c_str(), O_WRONLY | O_CREAT | O_CLOEXEC | (append ? O_APPEND : O_TRUNC), 0600);
    if (fd < 0) {
      Close();
      return IoError(path + ": open: " + std::strerror(errno));
    }
    fs::File file(fd, path);
    report.resumed_from = start;
    std::vector<uint8_t> chunk(kDownloadChunk);
    while (!parser.is_done()) {
      parser.get().body().data = chunk.data();
      parser.get().body().size = chunk.size();
      Expire(options_.io_timeout);
      beast::error_code ec = Run(
          [&](auto handler) { http::async_read(*stream_, buffer_, parser, std::move(handler)); });
      if (ec == http::error::need_buffer) {
        ec = {};
      }
      const size_t got = chunk.size() - parser.get().body().size;
      if (got > 0) {
        FERRY_RETURN_IF_ERROR(file.WriteAll(std::span<const uint8_t>(chunk.data(), got)));
        report.received += got;
      }
      if (ec) {
        Close();
        (void)file.Sync();
        return Failure(what + " (after " + std::to_string(start + report.received) + " of " +
                           std::to_string(expected_size) + " bytes)",
                       ec);
      }
    }
    FERRY_RETURN_IF_ERROR(file.Sync());
    FERRY_RETURN_IF_ERROR(file.Close());
    if (!parser.get().keep_alive()) {
      Close();
    }
    report.size = start + report.received;
    if (report.size != expected_size) {
      return InvalidError(options_.url.ToString() + ": " + what + ": ended after " +
                          std::to_string(report.size) + " of " + std::to_string(expected_size) +
                          " bytes");
    }
    return report;
  }
  return InvalidError(options_.url.ToString() + ": " + what +
                      ": the relay answered the whole-file request with a range");
}

HttpsClient::HttpsClient(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
HttpsClient::HttpsClient(HttpsClient&&) noexcept = default;
HttpsClient& HttpsClient::operator=(HttpsClient&&) noexcept = default;
HttpsClient::~HttpsClient() = default;

Result<HttpsClient> HttpsClient::Create(const HttpsClientOptions& options) {
  try {
    auto impl = std::make_unique<Impl>(options);
    FERRY_RETURN_IF_ERROR(impl->Configure());
    return HttpsClient(std::move(impl));
  } catch (const std::exception& e) {
    return IoError(std::string("TLS client setup: ") + e.what());
  }
}

Result<HttpsResponse> HttpsClient::Get(std::string_view target, uint64_t max_body) {
  try {
    return impl_->Request(boost::beast::http::verb::get, target, {}, max_body);
  } catch (const std::exception& e) {
    impl_->Close();
    return IoError("GET " + std::string(target) + ": " + e.what());
  }
}

Result<HttpsResponse> HttpsClient::PostJson(std::string_view target, std::string_view json_body,
                                            uint64_t max_body) {
  try {
    return impl_->Request(boost::beast::http::verb::post, target, json_body, max_body);
  } catch (const std::exception& e) {
    impl_->Close();
    return IoError("POST " + std::string(target) + ": " + e.what());
  }
}

Result<DownloadReport> HttpsClient::Download(std::string_view target, const std::string& path,
                                             uint64_t expected_size) {
  try {
    return impl_->Download(target, path, expected_size);
  } catch (const std::exception& e) {
    impl_->Close();
    return IoError("GET " + std::string(target) + ": " + e.what());
  }
}

void HttpsClient::Close() { impl_->Close(); }

}  // namespace ferry::endpoint
