#include "relay/http_server.hpp"

// The only Boost.Beast/Asio code of the relay. TLS runs through OpenSSL with our own buffering
// instead of asio::ssl::stream: asio's engine moves at most one 16 KiB record per socket write
// through a fixed BIO pair, while here OpenSSL appends whole runs of records to a growable buffer
// that goes out in one write, so a 512 KiB file chunk costs one system call, not 32.

#include <fcntl.h>
#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509_vfy.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <boost/asio/compose.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/ssl/error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/bind_handler.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/string.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/error.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/status.hpp>
#include <boost/beast/http/string_body.hpp>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <exception>
#include <limits>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <unordered_map>
#include <utility>
#include <vector>

#include "common/file.hpp"
#include "common/json.hpp"
#include "crypto/hash.hpp"

namespace ferry::relay {
namespace {

namespace net = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = net::ip::tcp;
using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

// Ciphertext read from the socket per read; a TLS record is at most 16 KiB plus overhead.
constexpr size_t kTlsReadBytes = 32 * 1024;
// How much a kept-alive connection reads when the next request starts to arrive.
constexpr size_t kIdleReadBytes = 16 * 1024;
// String bodies up to this size share a TLS record with the header block.
constexpr size_t kCoalesceBodyBytes = 16 * 1024;
// After answering a request whose body was not read, the server reads and discards what the
// client still sends for this long before closing, so the client sees the answer and not a reset.
constexpr milliseconds kLingerTime{2000};
constexpr milliseconds kCloseNotifyTimeout{5000};
constexpr milliseconds kAcceptRetryDelay{100};
// File descriptors kept free besides client connections (listener, payload files, database).
constexpr rlim_t kSpareDescriptors = 256;
constexpr size_t kMaxLoggedTarget = 200;

// TLS 1.2 suites: ECDHE and AEAD only. The relay's own certificates are ECDSA; the RSA twins are
// there for an operator who installs an RSA certificate.
constexpr const char* kTls12Ciphers =
    "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:"
    "ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:"
    "ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305";
constexpr const char* kTls13Suites =
    "TLS_AES_128_GCM_SHA256:TLS_AES_256_GCM_SHA384:TLS_CHACHA20_POLY1305_SHA256";
constexpr const char* kGroups = "X25519:P-256:P-384";

struct SslCtxDeleter {
  void operator()(SSL_CTX* ctx) const { SSL_CTX_free(ctx); }
};
struct SslDeleter {
  void operator()(SSL* ssl) const { SSL_free(ssl); }
};
using SslCtxPtr = std::unique_ptr<SSL_CTX, SslCtxDeleter>;
using SslPtr = std::unique_ptr<SSL, SslDeleter>;

// The oldest queued OpenSSL error as text, clearing the queue.
std::string OpenSslError() {
  const unsigned long code = ERR_get_error();
  ERR_clear_error();
  if (code == 0) return "unknown OpenSSL error";
  char text[256];
  ERR_error_string_n(code, text, sizeof text);
  return text;
}

// ---- TLS over a Beast tcp_stream ----

// Ciphertext on its way between OpenSSL and the socket. The session reads socket bytes into `in`
// and writes `out` to the socket; OpenSSL sees them through the BIO below.
struct CipherBuffers {
  std::vector<uint8_t> in = std::vector<uint8_t>(kTlsReadBytes);
  size_t in_begin = 0;
  size_t in_end = 0;
  std::string out;
};

int BioWrite(BIO* bio, const char* data, size_t length, size_t* written) {
  auto* buffers = static_cast<CipherBuffers*>(BIO_get_data(bio));
  buffers->out.append(data, length);
  *written = length;
  return 1;
}

int BioRead(BIO* bio, char* data, size_t length, size_t* read_bytes) {
  auto* buffers = static_cast<CipherBuffers*>(BIO_get_data(bio));
  BIO_clear_retry_flags(bio);
  const size_t available = buffers->in_end - buffers->in_begin;
  if (available == 0) {
    BIO_set_retry_read(bio);
    *read_bytes = 0;
    return 0;
  }
  const size_t n = std::min(length, available);
  std::memcpy(data, buffers->in.data() + buffers->in_begin, n);
  buffers->in_begin += n;
  *read_bytes = n;
  return 1;
}

long BioCtrl(BIO*, int command, long, void*) { return command == BIO_CTRL_FLUSH ? 1 : 0; }

int BioCreate(BIO* bio) {
  BIO_set_init(bio, 1);
  return 1;
}

int BioDestroy(BIO*) { return 1; }

BIO_METHOD* CipherBioMethod() {
  static BIO_METHOD* const method = [] {
    const int index = BIO_get_new_index();
    BIO_METHOD* m =
        index < 0 ? nullptr : BIO_meth_new(index | BIO_TYPE_SOURCE_SINK, "ferry cipher buffers");
    if (m == nullptr) return m;
    if (BIO_meth_set_write_ex(m, BioWrite) != 1 || BIO_meth_set_read_ex(m, BioRead) != 1 ||
        BIO_meth_set_ctrl(m, BioCtrl) != 1 || BIO_meth_set_create(m, BioCreate) != 1 ||
        BIO_meth_set_destroy(m, BioDestroy) != 1) {
      BIO_meth_free(m);
      return static_cast<BIO_METHOD*>(nullptr);
    }
    return m;
  }();
  return method;
}

// Asio's async_write hands write_some at most 64 KiB at a time; one call with everything lets a
// whole file chunk become one run of records and one socket write.
struct TransferAll {
  std::size_t operator()(const beast::error_code& ec, std::size_t) const {
    return ec ? 0 : std::numeric_limits<std::size_t>::max();
  }
};

// What one call into OpenSSL came to.
struct Step {
  enum class Kind { kDone, kWantRead, kFailed };
  Kind kind = Kind::kDone;
  beast::error_code ec;
  size_t bytes = 0;
};

Step Failure(SSL* ssl, int ret) {
  const int code = SSL_get_error(ssl, ret);
  if (code == SSL_ERROR_WANT_READ) return {Step::Kind::kWantRead, {}, 0};
  if (code == SSL_ERROR_ZERO_RETURN) return {Step::Kind::kFailed, net::error::eof, 0};
  const unsigned long error = ERR_get_error();
  ERR_clear_error();
  if (error != 0) {
    return {Step::Kind::kFailed,
            beast::error_code(static_cast<int>(error), net::error::get_ssl_category()), 0};
  }
  return {Step::Kind::kFailed, net::error::connection_aborted, 0};
}

struct HandshakeAction {
  Step operator()(SSL* ssl) {
    ERR_clear_error();
    const int ret = SSL_do_handshake(ssl);
    return ret == 1 ? Step{} : Failure(ssl, ret);
  }
};

// Sends close_notify and does not wait for the peer's.
struct ShutdownAction {
  Step operator()(SSL* ssl) {
    ERR_clear_error();
    const int ret = SSL_shutdown(ssl);
    ERR_clear_error();
    return ret >= 0 ? Step{} : Step{Step::Kind::kFailed, net::error::connection_aborted, 0};
  }
};

// Fills as much of the buffers as the records already received allow; waits for the socket only
// when not one byte is ready.
template <class Buffers>
struct ReadAction {
  Buffers buffers;
  Step operator()(SSL* ssl) {
    size_t total = 0;
    for (auto it = net::buffer_sequence_begin(buffers); it != net::buffer_sequence_end(buffers);
         ++it) {
      net::mutable_buffer buffer = *it;
      while (buffer.size() > 0) {
        size_t got = 0;
        ERR_clear_error();
        const int ret = SSL_read_ex(ssl, buffer.data(), buffer.size(), &got);
        if (ret != 1) {
          const Step step = Failure(ssl, ret);
          if (total > 0) return Step{Step::Kind::kDone, {}, total};
          return step;
        }
        total += got;
        buffer += got;
      }
    }
    return Step{Step::Kind::kDone, {}, total};
  }
};

// Encrypts every buffer; the BIO never pushes back, so everything is taken at once.
template <class Buffers>
struct WriteAction {
  Buffers buffers;
  Step operator()(SSL* ssl) {
    size_t total = 0;
    for (auto it = net::buffer_sequence_begin(buffers); it != net::buffer_sequence_end(buffers);
         ++it) {
      const net::const_buffer buffer = *it;
      if (buffer.size() == 0) continue;
      size_t written = 0;
      ERR_clear_error();
      const int ret = SSL_write_ex(ssl, buffer.data(), buffer.size(), &written);
      if (ret != 1) {
        Step step = Failure(ssl, ret);
        if (step.kind == Step::Kind::kWantRead) {
          step = {Step::Kind::kFailed, net::error::connection_aborted, 0};
        }
        return step;
      }
      total += written;
    }
    return Step{Step::Kind::kDone, {}, total};
  }
};

// A TLS server stream over a Beast tcp_stream, whose deadlines (expires_after) bound every
// operation. Models Beast's AsyncReadStream and AsyncWriteStream. One operation at a time: the
// session never reads and writes at once.
class TlsStream {
 public:
  using executor_type = beast::tcp_stream::executor_type;

  TlsStream(tcp::socket socket, SslPtr ssl) : tcp_(std::move(socket)), ssl_(std::move(ssl)) {}
  TlsStream(const TlsStream&) = delete;
  TlsStream& operator=(const TlsStream&) = delete;

  // Connects OpenSSL to the buffers; false when OpenSSL cannot allocate.
  bool Attach() {
    BIO_METHOD* method = CipherBioMethod();
    BIO* bio = method == nullptr ? nullptr : BIO_new(method);
    if (bio == nullptr) return false;
    BIO_set_data(bio, &buffers_);
    SSL_set_bio(ssl_.get(), bio, bio);  // one reference, now owned by the SSL object
    SSL_set_accept_state(ssl_.get());
    return true;
  }

  executor_type get_executor() { return tcp_.get_executor(); }
  beast::tcp_stream& transport() { return tcp_; }
  SSL* ssl() { return ssl_.get(); }
  CipherBuffers& buffers() { return buffers_; }

  template <class Token>
  auto async_handshake(Token&& token) {
    return Run(HandshakeAction{}, std::forward<Token>(token));
  }
  template <class Token>
  auto async_shutdown(Token&& token) {
    return Run(ShutdownAction{}, std::forward<Token>(token));
  }
  template <class MutableBuffers, class Token>
  auto async_read_some(const MutableBuffers& buffers, Token&& token) {
    return Run(ReadAction<MutableBuffers>{buffers}, std::forward<Token>(token));
  }
  template <class ConstBuffers, class Token>
  auto async_write_some(const ConstBuffers& buffers, Token&& token) {
    return Run(WriteAction<ConstBuffers>{buffers}, std::forward<Token>(token));
  }

 private:
  // Calls `action` into OpenSSL; sends what it produced; reads from the socket while it wants
  // more; completes with its result. Never completes inline.
  template <class Action>
  struct Op {
    TlsStream& stream;
    Action action;
    enum class State { kStart, kFlushed, kFilled, kPosted } state = State::kStart;
    Step result;
    bool did_io = false;

    template <class Self>
    void operator()(Self& self, beast::error_code ec = {}, std::size_t n = 0) {
      CipherBuffers& b = stream.buffers_;
      switch (state) {
        case State::kStart:
          break;
        case State::kPosted:
          return self.complete(result.ec, result.bytes);
        case State::kFlushed:
          b.out.clear();
          if (ec) return self.complete(ec, 0);
          if (result.kind != Step::Kind::kWantRead) return self.complete(result.ec, result.bytes);
          return Fill(self);
        case State::kFilled:
          if (ec) return self.complete(ec, 0);
          b.in_end += n;
          break;
      }
      result = action(stream.ssl_.get());
      if (!b.out.empty()) {
        state = State::kFlushed;
        did_io = true;
        return net::async_write(stream.tcp_, net::buffer(b.out), TransferAll{}, std::move(self));
      }
      if (result.kind == Step::Kind::kWantRead) return Fill(self);
      if (!did_io) {
        state = State::kPosted;
        return net::post(
            stream.tcp_.get_executor(),
            beast::bind_front_handler(std::move(self), beast::error_code{}, std::size_t{0}));
      }
      self.complete(result.ec, result.bytes);
    }

    template <class Self>
    void Fill(Self& self) {
      CipherBuffers& b = stream.buffers_;
      if (b.in_begin == b.in_end) {
        b.in_begin = b.in_end = 0;
      } else if (b.in_begin > 0) {
        std::memmove(b.in.data(), b.in.data() + b.in_begin, b.in_end - b.in_begin);
        b.in_end -= b.in_begin;
        b.in_begin = 0;
      }
      if (b.in_end == b.in.size()) return self.complete(net::error::no_buffer_space, 0);
      state = State::kFilled;
      did_io = true;
      stream.tcp_.async_read_some(net::buffer(b.in.data() + b.in_end, b.in.size() - b.in_end),
                                  std::move(self));
    }
  };

  template <class Action, class Token>
  auto Run(Action action, Token&& token) {
    return net::async_compose<Token, void(beast::error_code, std::size_t)>(
        Op<Action>{*this, std::move(action)}, token, tcp_);
  }

  beast::tcp_stream tcp_;
  SslPtr ssl_;
  CipherBuffers buffers_;
};

// ---- small helpers ----

std::string FormatEndpoint(const tcp::endpoint& endpoint) {
  net::ip::address address = endpoint.address();
  if (address.is_v6() && address.to_v6().is_v4_mapped()) {
    address = net::ip::make_address_v4(net::ip::v4_mapped, address.to_v6());
  }
  const std::string port = std::to_string(endpoint.port());
  return address.is_v6() ? "[" + address.to_string() + "]:" + port
                         : address.to_string() + ":" + port;
}

// The IMF-fixdate of now, formatted once per second per thread.
std::string HttpDate() {
  thread_local std::time_t cached = -1;
  thread_local char text[40] = {};
  const std::time_t now = std::time(nullptr);
  if (now != cached) {
    std::tm parts{};
    gmtime_r(&now, &parts);
    std::strftime(text, sizeof text, "%a, %d %b %Y %H:%M:%S GMT", &parts);
    cached = now;
  }
  return text;
}

std::string ReasonPhrase(int status) {
  const http::status known = http::int_to_status(static_cast<unsigned>(status));
  if (known == http::status::unknown) return "Unknown";
  return std::string(http::obsolete_reason(known));
}

std::string Lower(std::string_view text) {
  std::string out(text);
  for (char& c : out) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  }
  return out;
}

// Header fields the server writes itself; the handler's copies are dropped.
bool IsServerField(std::string_view name) {
  return beast::iequals(name, "content-length") || beast::iequals(name, "transfer-encoding") ||
         beast::iequals(name, "connection") || beast::iequals(name, "server") ||
         beast::iequals(name, "date") || beast::iequals(name, "keep-alive");
}

bool IsSafeFieldText(std::string_view text) {
  return std::none_of(text.begin(), text.end(),
                      [](char c) { return c == '\r' || c == '\n' || c == '\0'; });
}

// A request target as it goes into a log line: printable ASCII only, and bounded.
std::string LoggedTarget(std::string_view target) {
  std::string out;
  for (const char c : target.substr(0, kMaxLoggedTarget)) {
    const auto byte = static_cast<unsigned char>(c);
    if (byte > 0x20 && byte < 0x7f && c != '"' && c != '\\') {
      out += c;
    } else {
      char escaped[8];
      std::snprintf(escaped, sizeof escaped, "%%%02X", byte);
      out += escaped;
    }
  }
  if (target.size() > kMaxLoggedTarget) out += "...";
  return out.empty() ? "-" : out;
}

HttpResponse ErrorResponse(int status, const std::string& message) {
  HttpResponse response;
  response.status = status;
  response.headers = {{"Content-Type", "application/json"}};
  auto body = json::Canonical(json::Object{{"error", message}});
  response.body = body.ok() ? *body : std::string(R"({"error":"error"})");
  return response;
}

bool IsServedMethod(http::verb verb) {
  switch (verb) {
    case http::verb::get:
    case http::verb::head:
    case http::verb::post:
    case http::verb::put:
    case http::verb::delete_:
    case http::verb::options:
    case http::verb::patch:
      return true;
    default:
      return false;
  }
}

// Errors after which the client is gone or too slow: the connection closes without an answer.
bool IsDisconnect(const beast::error_code& ec) {
  return ec == net::error::eof || ec == http::error::end_of_stream ||
         ec == http::error::partial_message || ec == beast::error::timeout ||
         ec == net::error::operation_aborted || ec == net::error::connection_reset ||
         ec == net::error::connection_aborted || ec == net::error::broken_pipe ||
         ec == net::error::bad_descriptor || ec == net::error::no_buffer_space ||
         ec.category() == net::error::get_ssl_category();
}

// Reads up to `length` bytes at `offset`, retrying short reads; the count read, or -1.
ssize_t ReadFully(int fd, uint8_t* data, size_t length, uint64_t offset) {
  size_t done = 0;
  while (done < length) {
    const ssize_t got = ::pread(fd, data + done, length - done, static_cast<off_t>(offset + done));
    if (got < 0 && errno == EINTR) continue;
    if (got < 0) return -1;
    if (got == 0) break;
    done += static_cast<size_t>(got);
  }
  return static_cast<ssize_t>(done);
}

class Session;

// Everything the sessions share: options, handler, TLS context, the listener and the registry of
// live connections that Stop() walks.
class ServerCore {
 public:
  ServerCore(HttpHandler& handler, HttpServerOptions options);
  ~ServerCore();

  Status Init();
  Status Serve();
  void Stop();

  HttpHandler& handler() { return handler_; }
  const HttpServerOptions& options() const { return options_; }
  bool stopping() const { return stopping_; }
  const std::string& local_address() const { return local_address_; }
  uint16_t port() const { return port_; }
  size_t max_connections() const { return max_connections_; }

  // Writes one line about a request or a client to stderr, when request logging is on.
  void Log(const std::string& line) const;
  // Writes one line about a fault of the server or its handler to stderr, always.
  void Warn(const std::string& line) const;
  // Called by a session's destructor.
  void Unregister(Session* session);

 private:
  Status LoadTls();
  Status Bind();
  void FitConnectionLimit();
  void Accept();
  void OnAccept(beast::error_code ec, tcp::socket socket);
  void BeginDrain();
  void CutAll();
  void RunLoop();

  HttpHandler& handler_;
  HttpServerOptions options_;
  int threads_ = 1;
  size_t max_connections_ = 0;
  std::string local_address_;
  uint16_t port_ = 0;
  SslCtxPtr ssl_ctx_;
  std::atomic<bool> stopping_{false};
  std::atomic<bool> destroying_{false};
  bool served_ = false;
  // Declared before the io_context so they outlive handlers it may still destroy.
  std::mutex mutex_;
  std::unordered_map<Session*, std::weak_ptr<Session>> sessions_;

  net::io_context ioc_;
  net::strand<net::io_context::executor_type> control_;  // listener, signals, drain timer
  tcp::acceptor acceptor_;
  net::signal_set signals_;
  net::steady_timer retry_timer_;
  net::steady_timer drain_timer_;

  friend class Session;
};

// One client connection: handshake, then requests one after another (so pipelined requests are
// answered in order and never more than one is in memory), then close.
class Session : public std::enable_shared_from_this<Session> {
 public:
  Session(ServerCore& core, tcp::socket socket, SslPtr ssl, std::string peer)
      : core_(core), tls_(std::move(socket), std::move(ssl)), peer_(std::move(peer)) {}
  ~Session() { core_.Unregister(this); }
  Session(const Session&) = delete;
  Session& operator=(const Session&) = delete;

  bool Attach() { return tls_.Attach(); }

  void Start() {
    net::post(tls_.get_executor(), [self = shared_from_this()] { self->Handshake(); });
  }
  // The server is stopping: finish the request in hand, if any, then close.
  void RequestStop() {
    net::post(tls_.get_executor(), [self = shared_from_this()] { self->OnStopRequested(); });
  }
  // The drain time is over: close now.
  void Cut() {
    net::post(tls_.get_executor(), [self = shared_from_this()] { self->Close(); });
  }

 private:
  enum class Phase { kHandshake, kWaiting, kBusy, kClosing };

  template <class Method>
  auto Bind(Method method) {
    return beast::bind_front_handler(method, shared_from_this());
  }

  const HttpServerOptions& options() const { return core_.options(); }

  void Handshake() {
    phase_ = Phase::kHandshake;
    if (stop_requested_) return Close();
    tls_.transport().expires_after(options().handshake_timeout);
    tls_.async_handshake(Bind(&Session::OnHandshake));
  }

  void OnHandshake(beast::error_code ec, std::size_t) {
    if (ec) {
      if (ec.category() == net::error::get_ssl_category()) {
        const char* text = ERR_reason_error_string(static_cast<unsigned long>(ec.value()));
        std::string reason = text != nullptr ? text : ec.message();
        const long verify = SSL_get_verify_result(tls_.ssl());
        if (verify != X509_V_OK) {
          reason +=
              std::string(" (client certificate: ") + X509_verify_cert_error_string(verify) + ")";
        }
        core_.Log("tls handshake failed peer=" + peer_ + ": " + reason);
      }
      return Close();
    }
    X509* cert = SSL_get0_peer_certificate(tls_.ssl());
    if (cert != nullptr && SSL_get_verify_result(tls_.ssl()) == X509_V_OK) {
      const int length = i2d_X509(cert, nullptr);
      if (length > 0) {
        std::string der(static_cast<size_t>(length), '\0');
        auto* out = reinterpret_cast<unsigned char*>(der.data());
        if (i2d_X509(cert, &out) == length) {
          client_sha256_ = crypto::DigestHex(crypto::Sha256Of(der));
        }
      }
    }
    ReadRequest();
  }

  void ReadRequest() {
    if (stop_requested_) return CloseGracefully(false);
    phase_ = Phase::kWaiting;
    if (buffer_.size() == 0 && requests_ > 0) {
      tls_.transport().expires_after(options().idle_timeout);
      return tls_.async_read_some(buffer_.prepare(kIdleReadBytes), Bind(&Session::OnIdleData));
    }
    ReadHeader();
  }

  void OnIdleData(beast::error_code ec, std::size_t n) {
    if (ec) return Close();
    buffer_.commit(n);
    ReadHeader();
  }

  void ReadHeader() {
    if (stop_requested_) return CloseGracefully(false);
    tls_.transport().expires_after(options().header_timeout);
    parser_.emplace();
    parser_->header_limit(static_cast<std::uint32_t>(options().max_header_bytes));
    parser_->body_limit(boost::none);  // decided from the handler's limits once the header is in
    http::async_read_header(tls_, buffer_, *parser_, Bind(&Session::OnHeader));
  }

  void OnHeader(beast::error_code ec, std::size_t) {
    started_ = Clock::now();
    request_ = HttpRequest{};
    request_.peer = peer_;
    request_.client_certificate_sha256 = client_sha256_;
    if (ec == http::error::header_limit) {
      phase_ = Phase::kBusy;
      return Refuse(431, "request header block is larger than " +
                             std::to_string(options().max_header_bytes) + " bytes");
    }
    if (ec && IsDisconnect(ec)) return Close();
    phase_ = Phase::kBusy;
    if (ec == http::error::bad_version) {
      return Refuse(505, "only HTTP/1.0 and HTTP/1.1 are served");
    }
    if (ec) return Refuse(400, "malformed request: " + ec.message());
    ++requests_;
    const auto& req = parser_->get();
    request_.method = std::string(req.method_string());
    request_.target = std::string(req.target());
    for (const auto& field : req) {
      std::string name = Lower(field.name_string());
      const auto existing = std::find_if(request_.headers.begin(), request_.headers.end(),
                                         [&](const auto& pair) { return pair.first == name; });
      if (existing != request_.headers.end()) {
        existing->second += ", ";
        existing->second += field.value();
      } else {
        request_.headers.emplace_back(std::move(name), std::string(field.value()));
      }
    }
    if (!IsServedMethod(req.method())) {
      return Refuse(501,
                    "method " + LoggedTarget(request_.method) + " is not served by this relay");
    }
    if (request_.target.empty() || request_.target.front() != '/') {
      return Refuse(400, "the request target must be an absolute path");
    }
    if (req.version() == 11 && req.find(http::field::host) == req.end()) {
      return Refuse(400, "HTTP/1.1 request without a Host header");
    }
    // Beast de-chunks "chunked" and takes a request with any other transfer coding for one
    // without a body, which would leave that body to be read as the next request.
    if (const auto coding = req.find(http::field::transfer_encoding); coding != req.end()) {
      if (!parser_->chunked()) {
        return Refuse(400, "Transfer-Encoding without chunked last cannot be framed");
      }
      if (!beast::iequals(coding->value(), "chunked")) {
        return Refuse(501, "only the chunked transfer coding is understood");
      }
    }
    bool send_continue = false;
    if (const auto expect = req.find(http::field::expect); expect != req.end()) {
      if (!beast::iequals(expect->value(), "100-continue")) {
        return Refuse(417, "only \"Expect: 100-continue\" is understood");
      }
      send_continue = req.version() == 11;
    }
    RequestLimits limits;
    try {
      limits = core_.handler().LimitsFor(request_);
    } catch (const std::exception& e) {
      core_.Warn("handler failed (limits) for " + LoggedTarget(request_.target) + ": " + e.what());
      return Refuse(500, "internal error");
    }
    if (parser_->is_done()) return Dispatch();
    const boost::optional<std::uint64_t> length = parser_->content_length();
    if (length && *length > limits.max_body_bytes) {
      return Refuse(413, "request body of " + std::to_string(*length) +
                             " bytes is larger than the " + std::to_string(limits.max_body_bytes) +
                             " bytes allowed here");
    }
    if (!length && limits.max_body_bytes == 0) {
      return Refuse(413, "this request takes no body");
    }
    body_limit_ = limits.max_body_bytes;
    parser_->body_limit(limits.max_body_bytes);
    tls_.transport().expires_after(BodyTimeout(length ? *length : limits.max_body_bytes));
    if (send_continue) {
      static constexpr std::string_view kContinue = "HTTP/1.1 100 Continue\r\n\r\n";
      return tls_.async_write_some(net::buffer(kContinue.data(), kContinue.size()),
                                   Bind(&Session::OnContinueSent));
    }
    ReadBody();
  }

  milliseconds BodyTimeout(uint64_t bytes) const {
    const uint64_t rate = options().min_body_bytes_per_second;
    if (rate == 0) return options().body_timeout;
    const uint64_t scaled_ms = bytes / rate * 1000 + (bytes % rate) * 1000 / rate;
    return std::max(options().body_timeout, milliseconds(static_cast<int64_t>(scaled_ms)));
  }

  void OnContinueSent(beast::error_code ec, std::size_t) {
    if (ec) return Close();
    ReadBody();
  }

  void ReadBody() { http::async_read(tls_, buffer_, *parser_, Bind(&Session::OnBody)); }

  void OnBody(beast::error_code ec, std::size_t) {
    if (ec == http::error::body_limit) {
      return Refuse(413, "request body is larger than the " + std::to_string(body_limit_) +
                             " bytes allowed here");
    }
    if (ec && IsDisconnect(ec)) {
      core_.Log(request_.method + " " + LoggedTarget(request_.target) + " body not received (" +
                ec.message() + ") peer=" + peer_);
      return Close();
    }
    if (ec) return Refuse(400, "malformed request body: " + ec.message());
    request_.body = std::move(parser_->get().body());
    Dispatch();
  }

  void Dispatch() {
    HttpResponse response;
    try {
      response = core_.handler().Handle(request_);
    } catch (const std::exception& e) {
      core_.Warn("handler failed for " + LoggedTarget(request_.target) + ": " + e.what());
      response = ErrorResponse(500, "internal error");
    }
    request_.body.clear();
    request_.body.shrink_to_fit();
    Respond(std::move(response), true);
  }

  // Answers and closes: the request was not read to its end, so the connection is not reused.
  void Refuse(int status, const std::string& message) {
    Respond(ErrorResponse(status, message), false);
  }

  void Respond(HttpResponse response, bool reusable) {
    keep_alive_ = reusable && parser_->keep_alive() && !stop_requested_ && !core_.stopping();
    unread_input_ = !reusable;
    if (response.status < 100 || response.status > 599) {
      core_.Warn("handler returned status " + std::to_string(response.status) + " for " +
                 LoggedTarget(request_.target));
      response = ErrorResponse(500, "internal error");
    }
    // 1xx, 204 and 304 never carry a body (RFC 9110), nor Content-Length here.
    const bool bodiless = response.status < 200 || response.status == 204 || response.status == 304;
    const bool head_only = request_.method == "HEAD" || response.head_only;
    if (response.file && !bodiless && !head_only) {
      if (std::optional<HttpResponse> failed = OpenFile(*response.file)) response = *failed;
    }
    status_ = response.status;
    const uint64_t length = response.file ? response.file->length : response.body.size();
    head_ = Head(response, bodiless ? std::nullopt : std::optional<uint64_t>(length));
    body_sent_ = 0;
    tls_.transport().expires_after(options().write_timeout);
    if (bodiless || head_only) {
      return net::async_write(tls_, net::buffer(head_), TransferAll{}, Bind(&Session::OnWritten));
    }
    if (response.file) return StreamFile(*response.file);
    body_sent_ = response.body.size();
    if (response.body.size() <= kCoalesceBodyBytes) {
      head_ += response.body;
      return net::async_write(tls_, net::buffer(head_), TransferAll{}, Bind(&Session::OnWritten));
    }
    body_ = std::move(response.body);
    const std::array<net::const_buffer, 2> buffers{net::buffer(head_), net::buffer(body_)};
    net::async_write(tls_, buffers, TransferAll{}, Bind(&Session::OnWritten));
  }

  std::string Head(const HttpResponse& response, std::optional<uint64_t> content_length) {
    std::string head;
    head.reserve(256);
    head += "HTTP/1.1 ";
    head += std::to_string(response.status);
    head += ' ';
    head += ReasonPhrase(response.status);
    head += "\r\nServer: ferry-relay\r\nDate: ";
    head += HttpDate();
    head += "\r\n";
    for (const auto& [name, value] : response.headers) {
      if (name.empty() || IsServerField(name) || !IsSafeFieldText(name) ||
          !IsSafeFieldText(value)) {
        continue;
      }
      head += name;
      head += ": ";
      head += value;
      head += "\r\n";
    }
    if (content_length) {
      head += "Content-Length: ";
      head += std::to_string(*content_length);
      head += "\r\n";
    }
    if (!keep_alive_) {
      head += "Connection: close\r\n";
    } else if (parser_->get().version() == 10) {
      head += "Connection: keep-alive\r\n";
    }
    head += "\r\n";
    return head;
  }

  // Opens the slice's file; an error response when it cannot be served.
  std::optional<HttpResponse> OpenFile(const FileSlice& slice) {
    auto file = fs::File::OpenRead(slice.path);
    struct stat st {};
    std::string problem;
    if (!file.ok()) {
      problem = file.error().message();
    } else if (::fstat(file->fd(), &st) != 0) {
      problem = slice.path + ": " + std::strerror(errno);
    } else if (!S_ISREG(st.st_mode)) {
      problem = slice.path + ": not a regular file";
    } else if (slice.offset > static_cast<uint64_t>(st.st_size) ||
               slice.length > static_cast<uint64_t>(st.st_size) - slice.offset) {
      problem = slice.path + ": shorter than the slice asked for";
    }
    if (!problem.empty()) {
      core_.Warn("cannot serve " + LoggedTarget(request_.target) + ": " + problem);
      return ErrorResponse(500, "stored file unreadable");
    }
    ::posix_fadvise(file->fd(), static_cast<off_t>(slice.offset), static_cast<off_t>(slice.length),
                    POSIX_FADV_SEQUENTIAL);
    file_ = std::move(*file);
    return std::nullopt;
  }

  void StreamFile(const FileSlice& slice) {
    file_offset_ = slice.offset;
    file_remaining_ = slice.length;
    chunk_capacity_ = static_cast<size_t>(
        std::min<uint64_t>(options().file_chunk_bytes, std::max<uint64_t>(slice.length, 1)));
    chunk_.reset(new uint8_t[chunk_capacity_]);  // not zero-filled: read over at once
    first_chunk_ = true;
    NextChunk();
  }

  void NextChunk() {
    const size_t want = static_cast<size_t>(std::min<uint64_t>(chunk_capacity_, file_remaining_));
    const ssize_t got = ReadFully(file_.fd(), chunk_.get(), want, file_offset_);
    if (got != static_cast<ssize_t>(want)) {
      core_.Warn("file read failed at offset " + std::to_string(file_offset_) + " for " +
                 LoggedTarget(request_.target) + ": " +
                 (got < 0 ? std::strerror(errno) : "file shrank"));
      // Once the header has gone out only a cut connection tells the client the body is short.
      return Close();
    }
    chunk_size_ = want;
    tls_.transport().expires_after(options().write_timeout);
    const net::const_buffer chunk(chunk_.get(), want);
    if (first_chunk_) {
      first_chunk_ = false;
      const std::array<net::const_buffer, 2> buffers{net::buffer(head_), chunk};
      return net::async_write(tls_, buffers, TransferAll{}, Bind(&Session::OnChunkWritten));
    }
    net::async_write(tls_, chunk, TransferAll{}, Bind(&Session::OnChunkWritten));
  }

  void OnChunkWritten(beast::error_code ec, std::size_t) {
    if (ec) return WriteFailed(ec);
    body_sent_ += chunk_size_;
    file_offset_ += chunk_size_;
    file_remaining_ -= chunk_size_;
    if (file_remaining_ > 0) return NextChunk();
    chunk_.reset();
    file_ = fs::File();
    // A long download grew the ciphertext buffer; idle connections should not keep it.
    if (tls_.buffers().out.capacity() > 64 * 1024) std::string().swap(tls_.buffers().out);
    Finish();
  }

  void OnWritten(beast::error_code ec, std::size_t) {
    if (ec) return WriteFailed(ec);
    body_.clear();
    Finish();
  }

  void WriteFailed(const beast::error_code& ec) {
    core_.Log(request_.method + " " + LoggedTarget(request_.target) + " " +
              std::to_string(status_) + " aborted after " + std::to_string(body_sent_) +
              " body bytes (" + ec.message() + ") peer=" + peer_);
    Close();
  }

  void Finish() {
    if (core_.options().log_requests) {
      const double ms = std::chrono::duration<double, std::milli>(Clock::now() - started_).count();
      char timing[32];
      std::snprintf(timing, sizeof timing, "%.1fms", ms);
      core_.Log((request_.method.empty() ? std::string("-") : LoggedTarget(request_.method)) + " " +
                LoggedTarget(request_.target) + " " + std::to_string(status_) + " " +
                std::to_string(body_sent_) + "B " + timing + " peer=" + peer_ +
                " cert=" + (client_sha256_ ? client_sha256_->substr(0, 12) : "-"));
    }
    head_.clear();
    parser_.reset();
    request_ = HttpRequest{};
    if (keep_alive_) return ReadRequest();
    CloseGracefully(unread_input_);
  }

  void OnStopRequested() {
    stop_requested_ = true;
    // Connections without a request in hand close now; the others after their answer.
    if (phase_ == Phase::kHandshake || phase_ == Phase::kWaiting) {
      tls_.transport().cancel();
    }
  }

  // Sends close_notify; with `linger`, then reads and drops what the client still sends for a
  // moment, so that unread request bytes do not turn the close into a reset that destroys the
  // answer before the client has read it.
  void CloseGracefully(bool linger) {
    phase_ = Phase::kClosing;
    tls_.transport().expires_after(std::min(options().write_timeout, kCloseNotifyTimeout));
    tls_.async_shutdown(Bind(linger ? &Session::OnShutdownThenLinger : &Session::OnShutdown));
  }

  void OnShutdown(beast::error_code, std::size_t) { Close(); }

  void OnShutdownThenLinger(beast::error_code ec, std::size_t) {
    if (ec) return Close();
    beast::error_code ignored;
    tls_.transport().socket().shutdown(tcp::socket::shutdown_send, ignored);
    tls_.transport().expires_after(kLingerTime);
    Discard({}, 0);
  }

  void Discard(beast::error_code ec, std::size_t) {
    if (ec) return Close();
    CipherBuffers& b = tls_.buffers();
    tls_.transport().async_read_some(net::buffer(b.in), Bind(&Session::Discard));
  }

  void Close() {
    if (closed_) return;
    closed_ = true;
    phase_ = Phase::kClosing;
    beast::error_code ignored;
    tls_.transport().socket().shutdown(tcp::socket::shutdown_both, ignored);
    tls_.transport().close();
  }

  ServerCore& core_;
  TlsStream tls_;
  const std::string peer_;
  std::optional<std::string> client_sha256_;
  Phase phase_ = Phase::kHandshake;
  bool stop_requested_ = false;
  bool closed_ = false;
  uint64_t requests_ = 0;

  beast::flat_buffer buffer_;
  std::optional<http::request_parser<http::string_body>> parser_;
  HttpRequest request_;
  Clock::time_point started_;
  uint64_t body_limit_ = 0;

  bool keep_alive_ = false;
  bool unread_input_ = false;
  int status_ = 0;
  std::string head_;
  std::string body_;
  uint64_t body_sent_ = 0;

  fs::File file_;
  std::unique_ptr<uint8_t[]> chunk_;
  size_t chunk_capacity_ = 0;
  size_t chunk_size_ = 0;
  uint64_t file_offset_ = 0;
  uint64_t file_remaining_ = 0;
  bool first_chunk_ = false;
};

// ---- ServerCore ----

int ThreadCount(int requested) {
  if (requested > 0) return requested;
  return static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
}

ServerCore::ServerCore(HttpHandler& handler, HttpServerOptions options)
    : handler_(handler),
      options_(std::move(options)),
      threads_(ThreadCount(options_.threads)),
      max_connections_(options_.max_connections),
      ioc_(threads_),
      control_(net::make_strand(ioc_)),
      acceptor_(control_),
      signals_(control_),
      retry_timer_(control_),
      drain_timer_(control_) {}

ServerCore::~ServerCore() {
  destroying_ = true;
  beast::error_code ignored;
  acceptor_.close(ignored);
}

void ServerCore::Log(const std::string& line) const {
  if (options_.log_requests) Warn(line);
}

void ServerCore::Warn(const std::string& line) const {
  std::string text = line;
  text += '\n';
  // One write per line, so lines from several threads never interleave.
  size_t done = 0;
  while (done < text.size()) {
    const ssize_t n = ::write(STDERR_FILENO, text.data() + done, text.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return;
    done += static_cast<size_t>(n);
  }
}

Status ServerCore::Init() {
  if (options_.threads < 0 || options_.threads > 256) {
    return UsageError("threads must be between 1 and 256");
  }
  if (options_.max_header_bytes < 1024 || options_.max_header_bytes > (1u << 20)) {
    return UsageError("the header limit must be between 1 KiB and 1 MiB");
  }
  if (options_.file_chunk_bytes < 16 * 1024 || options_.file_chunk_bytes > (16u << 20)) {
    return UsageError("the file chunk size must be between 16 KiB and 16 MiB");
  }
  if (options_.max_connections == 0) return UsageError("the connection limit must be positive");
  FERRY_RETURN_IF_ERROR(LoadTls());
  FERRY_RETURN_IF_ERROR(Bind());
  FitConnectionLimit();
  if (options_.stop_on_signals) {
    // From here on, not only once Serve() runs: a signal that arrives in between is queued.
    beast::error_code ec;
    signals_.add(SIGINT, ec);
    if (!ec) signals_.add(SIGTERM, ec);
    if (ec) return IoError("signal handlers: " + ec.message());
  }
  return Ok();
}

int SelectHttp11(SSL*, const unsigned char** out, unsigned char* out_length,
                 const unsigned char* in, unsigned int in_length, void*) {
  for (unsigned int i = 0; i < in_length;) {
    const unsigned int length = in[i];
    if (i + 1 + length > in_length) break;
    if (length == 8 && std::memcmp(in + i + 1, "http/1.1", 8) == 0) {
      *out = in + i + 1;
      *out_length = 8;
      return SSL_TLSEXT_ERR_OK;
    }
    i += 1 + length;
  }
  return SSL_TLSEXT_ERR_NOACK;  // no ALPN: the client speaks HTTP/1.1 anyway
}

Status ServerCore::LoadTls() {
  const TlsFiles& files = options_.tls;
  for (const std::string* path : {&files.server_cert, &files.server_key, &files.ca_cert}) {
    if (path->empty() || !fs::Exists(*path)) {
      return IoError((path->empty() ? std::string("TLS file") : *path) +
                     ": missing (ferry-relay init creates it)");
    }
  }
  ERR_clear_error();
  SslCtxPtr ctx(SSL_CTX_new(TLS_server_method()));
  if (!ctx) return IoError("TLS context: " + OpenSslError());
  const auto fail = [](const std::string& what) { return IoError(what + ": " + OpenSslError()); };
  if (SSL_CTX_set_min_proto_version(ctx.get(), TLS1_2_VERSION) != 1) {
    return fail("TLS minimum version");
  }
  // No renegotiation (TLS 1.2), no compression (CRIME), the server's order of suites, and no
  // resumption at all: every connection verifies the client certificate afresh.
  SSL_CTX_set_options(ctx.get(), SSL_OP_NO_RENEGOTIATION | SSL_OP_NO_COMPRESSION |
                                     SSL_OP_CIPHER_SERVER_PREFERENCE | SSL_OP_PRIORITIZE_CHACHA |
                                     SSL_OP_NO_TICKET);
  SSL_CTX_set_session_cache_mode(ctx.get(), SSL_SESS_CACHE_OFF);
  if (SSL_CTX_set_num_tickets(ctx.get(), 0) != 1) return fail("TLS session tickets");
  static constexpr unsigned char kSessionContext[] = "ferry-relay";
  if (SSL_CTX_set_session_id_context(ctx.get(), kSessionContext, sizeof kSessionContext - 1) != 1) {
    return fail("TLS session context");
  }
  if (SSL_CTX_set_cipher_list(ctx.get(), kTls12Ciphers) != 1) return fail("TLS 1.2 ciphers");
  if (SSL_CTX_set_ciphersuites(ctx.get(), kTls13Suites) != 1) return fail("TLS 1.3 suites");
  if (SSL_CTX_set1_groups_list(ctx.get(), kGroups) != 1) return fail("TLS groups");
  if (SSL_CTX_use_certificate_chain_file(ctx.get(), files.server_cert.c_str()) != 1) {
    return fail(files.server_cert);
  }
  if (SSL_CTX_use_PrivateKey_file(ctx.get(), files.server_key.c_str(), SSL_FILETYPE_PEM) != 1) {
    return fail(files.server_key);
  }
  if (SSL_CTX_check_private_key(ctx.get()) != 1) {
    return fail(files.server_key + " does not match " + files.server_cert);
  }
  if (SSL_CTX_load_verify_locations(ctx.get(), files.ca_cert.c_str(), nullptr) != 1) {
    return fail(files.ca_cert);
  }
  STACK_OF(X509_NAME)* names = SSL_load_client_CA_file(files.ca_cert.c_str());
  if (names == nullptr) return fail(files.ca_cert);
  SSL_CTX_set_client_CA_list(ctx.get(), names);  // takes ownership
  // Ask for a certificate without requiring one: enrolment comes before the endpoint has one.
  // One that is presented must chain to the CA and allow TLS client authentication.
  SSL_CTX_set_verify(ctx.get(), SSL_VERIFY_PEER, nullptr);
  SSL_CTX_set_verify_depth(ctx.get(), 2);
  if (SSL_CTX_set_purpose(ctx.get(), X509_PURPOSE_SSL_CLIENT) != 1) return fail("TLS purpose");
  SSL_CTX_set_alpn_select_cb(ctx.get(), SelectHttp11, nullptr);
  ssl_ctx_ = std::move(ctx);
  return Ok();
}

// Parses "HOST:PORT" ("[v6]:PORT" for IPv6 literals) and resolves HOST.
Result<tcp::endpoint> ResolveListen(net::io_context& ioc, const std::string& listen) {
  std::string host;
  std::string port;
  if (!listen.empty() && listen.front() == '[') {
    const size_t close = listen.find(']');
    if (close == std::string::npos || close + 1 >= listen.size() || listen[close + 1] != ':') {
      return UsageError("listen address \"" + listen + "\": expected [IPv6]:PORT");
    }
    host = listen.substr(1, close - 1);
    port = listen.substr(close + 2);
  } else {
    const size_t colon = listen.rfind(':');
    if (colon == std::string::npos) {
      return UsageError("listen address \"" + listen + "\": expected ADDRESS:PORT");
    }
    host = listen.substr(0, colon);
    port = listen.substr(colon + 1);
    if (host.find(':') != std::string::npos) {
      return UsageError("listen address \"" + listen + "\": write IPv6 addresses in brackets");
    }
  }
  if (host.empty()) return UsageError("listen address \"" + listen + "\": no address");
  if (port.empty() || port.size() > 5 ||
      !std::all_of(port.begin(), port.end(), [](char c) { return c >= '0' && c <= '9'; }) ||
      std::stoul(port) > 65535) {
    return UsageError("listen address \"" + listen + "\": port must be 0 to 65535");
  }
  const auto port_number = static_cast<uint16_t>(std::stoul(port));
  beast::error_code ec;
  const net::ip::address address = net::ip::make_address(host, ec);
  if (!ec) return tcp::endpoint(address, port_number);
  tcp::resolver resolver(ioc);
  const auto results = resolver.resolve(host, port, tcp::resolver::passive, ec);
  if (ec || results.empty()) {
    return UsageError("listen address \"" + listen + "\": cannot resolve " + host + ": " +
                      (ec ? ec.message() : std::string("no address")));
  }
  return results.begin()->endpoint();
}

Status ServerCore::Bind() {
  FERRY_ASSIGN_OR_RETURN(const tcp::endpoint endpoint, ResolveListen(ioc_, options_.listen));
  const std::string where = "listen " + options_.listen;
  beast::error_code ec;
  acceptor_.open(endpoint.protocol(), ec);
  if (ec) return IoError(where + ": " + ec.message());
  acceptor_.set_option(net::socket_base::reuse_address(true), ec);
  if (ec) return IoError(where + ": " + ec.message());
  acceptor_.bind(endpoint, ec);
  if (ec) return IoError(where + ": " + ec.message());
  acceptor_.listen(net::socket_base::max_listen_connections, ec);
  if (ec) return IoError(where + ": " + ec.message());
  const tcp::endpoint bound = acceptor_.local_endpoint(ec);
  if (ec) return IoError(where + ": " + ec.message());
  local_address_ = FormatEndpoint(bound);
  port_ = bound.port();
  return Ok();
}

// Each connection holds a descriptor: raise the soft limit towards the connection limit, and
// lower the connection limit when the hard limit forbids it, so a flood meets refusals instead
// of failures to open payload files or the database.
void ServerCore::FitConnectionLimit() {
  struct rlimit limit {};
  if (::getrlimit(RLIMIT_NOFILE, &limit) != 0) return;
  const rlim_t wanted = static_cast<rlim_t>(options_.max_connections) + kSpareDescriptors;
  if (limit.rlim_cur != RLIM_INFINITY && limit.rlim_cur < wanted) {
    struct rlimit raised = limit;
    raised.rlim_cur = limit.rlim_max == RLIM_INFINITY ? wanted : std::min(wanted, limit.rlim_max);
    if (::setrlimit(RLIMIT_NOFILE, &raised) == 0) limit = raised;
  }
  if (limit.rlim_cur != RLIM_INFINITY && limit.rlim_cur < wanted) {
    const rlim_t usable = limit.rlim_cur > 2 * kSpareDescriptors
                              ? limit.rlim_cur - kSpareDescriptors
                              : limit.rlim_cur / 2;
    max_connections_ = std::max<size_t>(1, static_cast<size_t>(usable));
  }
}

void ServerCore::Accept() {
  acceptor_.async_accept(net::make_strand(ioc_),
                         beast::bind_front_handler(&ServerCore::OnAccept, this));
}

void ServerCore::OnAccept(beast::error_code ec, tcp::socket socket) {
  if (ec == net::error::operation_aborted || !acceptor_.is_open()) return;
  if (ec) {
    // Out of descriptors or memory: pause instead of spinning on the same error.
    Warn("accept failed: " + ec.message());
    retry_timer_.expires_after(kAcceptRetryDelay);
    retry_timer_.async_wait([this](beast::error_code wait_ec) {
      if (!wait_ec && !stopping_) Accept();
    });
    return;
  }
  Accept();
  beast::error_code ignored;
  if (stopping_) {
    socket.close(ignored);
    return;
  }
  bool full = false;
  {
    std::lock_guard lock(mutex_);
    full = sessions_.size() >= max_connections_;
  }
  SslPtr ssl(full ? nullptr : SSL_new(ssl_ctx_.get()));
  if (!ssl) {
    socket.close(ignored);
    return;
  }
  socket.set_option(tcp::no_delay(true), ignored);
  const tcp::endpoint remote = socket.remote_endpoint(ignored);
  const std::string peer = ignored ? std::string("?") : FormatEndpoint(remote);
  // Only this strand adds sessions, so the count checked above still holds.
  auto session = std::make_shared<Session>(*this, std::move(socket), std::move(ssl), peer);
  if (!session->Attach()) return;
  {
    std::lock_guard lock(mutex_);
    sessions_.emplace(session.get(), session);
  }
  session->Start();
}

void ServerCore::Unregister(Session* session) {
  bool last = false;
  {
    std::lock_guard lock(mutex_);
    sessions_.erase(session);
    last = stopping_ && sessions_.empty();
  }
  if (last && !destroying_) {
    net::post(control_, [this] { drain_timer_.cancel(); });
  }
}

void ServerCore::Stop() {
  if (stopping_.exchange(true)) return;
  net::post(control_, [this] { BeginDrain(); });
}

void ServerCore::BeginDrain() {
  beast::error_code ignored;
  acceptor_.close(ignored);
  retry_timer_.cancel();
  signals_.cancel(ignored);
  // A second signal now ends the process at once.
  signals_.clear(ignored);
  std::vector<std::shared_ptr<Session>> live;
  {
    std::lock_guard lock(mutex_);
    for (const auto& [key, weak] : sessions_) {
      if (auto session = weak.lock()) live.push_back(std::move(session));
    }
    if (!sessions_.empty()) {
      drain_timer_.expires_after(options_.drain_timeout);
      drain_timer_.async_wait([this](beast::error_code ec) {
        if (!ec) CutAll();
      });
    }
  }
  for (const auto& session : live) session->RequestStop();
}

void ServerCore::CutAll() {
  std::vector<std::shared_ptr<Session>> live;
  {
    std::lock_guard lock(mutex_);
    for (const auto& [key, weak] : sessions_) {
      if (auto session = weak.lock()) live.push_back(std::move(session));
    }
  }
  if (!live.empty()) {
    Warn("drain time over: closing " + std::to_string(live.size()) + " connection(s)");
  }
  for (const auto& session : live) session->Cut();
}

void ServerCore::RunLoop() {
  for (;;) {
    try {
      ioc_.run();
      return;
    } catch (const std::exception& e) {
      Warn(std::string("server: unexpected exception: ") + e.what());
    }
  }
}

Status ServerCore::Serve() {
  if (served_) return UsageError("HttpServer::Serve called twice");
  served_ = true;
  if (options_.stop_on_signals) {
    signals_.async_wait([this](beast::error_code wait_ec, int) {
      if (!wait_ec) Stop();
    });
  }
  net::post(control_, [this] {
    if (!stopping_) Accept();
  });
  std::vector<std::thread> threads;
  threads.reserve(static_cast<size_t>(threads_ - 1));
  for (int i = 1; i < threads_; ++i) threads.emplace_back([this] { RunLoop(); });
  RunLoop();
  for (std::thread& thread : threads) thread.join();
  handler_.Drain();
  return Ok();
}

}  // namespace

// ---- HttpServer ----

struct HttpServer::Impl : ServerCore {
  using ServerCore::ServerCore;
};

HttpServer::HttpServer(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
HttpServer::HttpServer(HttpServer&&) noexcept = default;
HttpServer& HttpServer::operator=(HttpServer&&) noexcept = default;
HttpServer::~HttpServer() = default;

Result<HttpServer> HttpServer::Create(HttpHandler& handler, HttpServerOptions options) {
  auto impl = std::make_unique<Impl>(handler, std::move(options));
  FERRY_RETURN_IF_ERROR(impl->Init());
  return HttpServer(std::move(impl));
}

std::string HttpServer::local_address() const { return impl_->local_address(); }
uint16_t HttpServer::port() const { return impl_->port(); }
size_t HttpServer::max_connections() const { return impl_->max_connections(); }
Status HttpServer::Serve() { return impl_->Serve(); }
void HttpServer::Stop() { impl_->Stop(); }

}  // namespace ferry::relay
