// The relay's HTTPS server over real TLS on loopback, with a small handler of its own (not the
// API). curl is the independent client wherever it can express the case; a raw OpenSSL client
// below covers what curl cannot do on purpose: offer TLS 1.1, send a header one byte at a time,
// pipeline, send garbage. Every wait has a deadline: a broken server fails the test, never hangs
// it.

#include "relay/http_server.hpp"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <future>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "common/file.hpp"
#include "crypto/hash.hpp"
#include "endpoint/client_identity.hpp"
#include "relay/tls_identity.hpp"
#include "tests/support/testing.hpp"

namespace ferry::relay {
namespace {

using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;
using testing::CommandResult;
using testing::TempDir;

constexpr size_t kFileBytes = 10 << 20;
constexpr uint64_t kUploadLimit = 1024;

CommandResult Shell(const std::string& command_line) { return testing::Run(command_line); }

// Deterministic bytes that differ at every offset a range test could pick.
std::string PseudoRandomBytes(size_t size) {
  std::string out(size, '\0');
  uint64_t state = 0x9e3779b97f4a7c15ULL;
  for (size_t i = 0; i < size; ++i) {
    state ^= state << 13;
    state ^= state >> 7;
    state ^= state << 17;
    out[i] = static_cast<char>(state & 0xff);
  }
  return out;
}

// ---- the handler under the server ----

class TestHandler : public HttpHandler {
 public:
  explicit TestHandler(std::string file) : file_(std::move(file)) {}

  RequestLimits LimitsFor(const HttpRequest& head) const override {
    limits_calls_++;
    if (head.target == "/upload") return {kUploadLimit};
    return {};
  }

  HttpResponse Handle(const HttpRequest& request) override {
    calls_++;
    {
      std::lock_guard lock(mutex_);
      peers_.push_back(request.peer);
    }
    HttpResponse response;
    if (request.target == "/whoami") {
      response.body = request.client_certificate_sha256.value_or("none");
    } else if (request.target == "/upload") {
      uploads_++;
      response.body = std::to_string(request.body.size());
    } else if (request.target == "/slow") {
      in_slow_ = true;
      std::this_thread::sleep_for(milliseconds(1000));
      response.body = "done";
    } else if (request.target == "/file") {
      const uint64_t size = kFileBytes;
      response.file = FileSlice{file_, 0, size};
      if (const std::string* range = request.Header("range")) {
        // Only "bytes=a-b", enough for the test; the API owns real Range handling.
        unsigned long long first = 0;
        unsigned long long last = 0;
        if (std::sscanf(range->c_str(), "bytes=%llu-%llu", &first, &last) == 2 && first <= last &&
            last < size) {
          response.status = 206;
          response.file = FileSlice{file_, first, last - first + 1};
          response.headers.emplace_back("Content-Range", "bytes " + std::to_string(first) + "-" +
                                                             std::to_string(last) + "/" +
                                                             std::to_string(size));
        }
      }
      response.head_only = request.method == "HEAD";
    } else if (request.target == "/missing-file") {
      response.file = FileSlice{file_ + ".absent", 0, 10};
    } else if (request.target == "/hello") {
      response.headers = {{"Content-Type", "text/plain"}, {"Content-Length", "999"}};
      response.body = "hello";
    } else {
      response.status = 404;
      response.body = R"({"error":"no such route"})";
    }
    return response;
  }

  void Drain() override { drained_ = true; }

  std::vector<std::string> peers() const {
    std::lock_guard lock(mutex_);
    return peers_;
  }

  mutable std::atomic<int> limits_calls_{0};
  std::atomic<int> calls_{0};
  std::atomic<int> uploads_{0};
  std::atomic<bool> in_slow_{false};
  std::atomic<bool> drained_{false};

 private:
  std::string file_;
  mutable std::mutex mutex_;
  std::vector<std::string> peers_;
};

// ---- a raw TLS client ----

struct ClientOptions {
  std::string cert;
  std::string key;
  int min_version = TLS1_2_VERSION;
  int max_version = 0;
  bool legacy = false;  // security level 0 and every cipher, so that TLS 1.1 can be offered
  SSL_SESSION* session = nullptr;
};

struct RawResponse {
  int status = 0;
  std::string head;
  std::string body;
};

class TlsClient {
 public:
  // Connects and handshakes; nullptr (with the reason in *error) when either fails.
  static std::unique_ptr<TlsClient> Connect(uint16_t port, const std::string& ca,
                                            const ClientOptions& options, std::string* error) {
    auto client = std::unique_ptr<TlsClient>(new TlsClient());
    client->fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_port = htons(port);
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (::connect(client->fd_, reinterpret_cast<sockaddr*>(&address), sizeof address) != 0) {
      *error = "connect failed";
      return nullptr;
    }
    const int one = 1;
    ::setsockopt(client->fd_, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    timeval timeout{5, 0};  // a blocked handshake fails the test instead of hanging it
    ::setsockopt(client->fd_, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout);
    client->ctx_ = SSL_CTX_new(TLS_client_method());
    SSL_CTX* ctx = client->ctx_;
    if (options.legacy) {
      SSL_CTX_set_security_level(ctx, 0);
      SSL_CTX_set_cipher_list(ctx, "ALL:@SECLEVEL=0");
    }
    SSL_CTX_set_min_proto_version(ctx, options.min_version);
    SSL_CTX_set_max_proto_version(ctx, options.max_version);
    SSL_CTX_load_verify_locations(ctx, ca.c_str(), nullptr);
    SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, nullptr);
    if (!options.cert.empty()) {
      SSL_CTX_use_certificate_chain_file(ctx, options.cert.c_str());
      SSL_CTX_use_PrivateKey_file(ctx, options.key.c_str(), SSL_FILETYPE_PEM);
    }
    client->ssl_ = SSL_new(ctx);
    SSL_set_fd(client->ssl_, client->fd_);
    if (options.session != nullptr) SSL_set_session(client->ssl_, options.session);
    ERR_clear_error();
    if (SSL_connect(client->ssl_) != 1) {
      char text[256] = "handshake failed";
      if (const unsigned long code = ERR_get_error(); code != 0) {
        ERR_error_string_n(code, text, sizeof text);
      }
      *error = text;
      return nullptr;
    }
    return client;
  }

  ~TlsClient() {
    if (ssl_ != nullptr) SSL_free(ssl_);
    if (ctx_ != nullptr) SSL_CTX_free(ctx_);
    if (fd_ >= 0) ::close(fd_);
  }

  SSL* ssl() { return ssl_; }

  bool Send(std::string_view data) {
    ERR_clear_error();
    size_t written = 0;
    return SSL_write_ex(ssl_, data.data(), data.size(), &written) == 1 && written == data.size();
  }

  // Whether the server closed the connection within `timeout` (end of stream or an error).
  bool ClosedWithin(milliseconds timeout) {
    const auto deadline = Clock::now() + timeout;
    char byte[4096];
    while (Clock::now() < deadline) {
      if (SSL_pending(ssl_) == 0) {
        pollfd p{fd_, POLLIN, 0};
        const auto left = std::chrono::duration_cast<milliseconds>(deadline - Clock::now()).count();
        if (::poll(&p, 1, static_cast<int>(std::max<int64_t>(left, 1))) == 0) continue;
      }
      ERR_clear_error();
      const int n = SSL_read(ssl_, byte, sizeof byte);
      if (n <= 0) {
        const int code = SSL_get_error(ssl_, n);
        if (code != SSL_ERROR_WANT_READ) return true;
      }
    }
    return false;
  }

  // Reads one response; `head_request` when it answers HEAD (no body follows its headers).
  std::optional<RawResponse> ReadResponse(bool head_request = false) {
    const auto deadline = Clock::now() + std::chrono::seconds(10);
    while (pending_.find("\r\n\r\n") == std::string::npos) {
      if (!ReadMore(deadline)) return std::nullopt;
    }
    RawResponse response;
    const size_t end = pending_.find("\r\n\r\n") + 4;
    response.head = pending_.substr(0, end);
    pending_.erase(0, end);
    if (response.head.size() < 12) return std::nullopt;
    response.status = std::stoi(response.head.substr(9, 3));
    size_t length = 0;
    const std::string lower = Lower(response.head);
    if (const size_t at = lower.find("\r\ncontent-length: "); at != std::string::npos) {
      length = std::stoul(lower.substr(at + 18));
    }
    if (head_request) length = 0;
    while (pending_.size() < length) {
      if (!ReadMore(deadline)) return std::nullopt;
    }
    response.body = pending_.substr(0, length);
    pending_.erase(0, length);
    return response;
  }

  static std::string Lower(std::string text) {
    for (char& c : text) {
      if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
    }
    return text;
  }

 private:
  TlsClient() = default;

  bool ReadMore(Clock::time_point deadline) {
    char buffer[16384];
    while (Clock::now() < deadline) {
      ERR_clear_error();
      const int n = SSL_read(ssl_, buffer, sizeof buffer);
      if (n > 0) {
        pending_.append(buffer, static_cast<size_t>(n));
        return true;
      }
      if (SSL_get_error(ssl_, n) != SSL_ERROR_WANT_READ) return false;
    }
    return false;
  }

  int fd_ = -1;
  SSL_CTX* ctx_ = nullptr;
  SSL* ssl_ = nullptr;
  std::string pending_;
};

// ---- the fixture ----

class HttpServerTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    ::signal(SIGPIPE, SIG_IGN);  // the raw client writes to connections the server closed
    suite_dir_ = new TempDir();
    const TempDir& dir = *suite_dir_;
    TlsIdentityOptions tls;
    tls.site_id = "http-test";
    tls.dns_names = {"localhost"};
    tls.ip_addresses = {"127.0.0.1"};
    for (const std::string name : {"relay", "other"}) {
      ASSERT_EQ(::mkdir((dir / name).c_str(), 0700), 0);
      const Status created = CreateTlsIdentity(dir / name, tls);
      ASSERT_TRUE(created.ok()) << created.error().message();
    }
    ASSERT_NO_FATAL_FAILURE(MakeClient(dir / "relay", dir / "client"));
    ASSERT_NO_FATAL_FAILURE(MakeClient(dir / "other", dir / "foreign"));
    const std::string file = PseudoRandomBytes(kFileBytes);
    testing::WriteAll(dir / "payload", file);
  }

  static void TearDownTestSuite() {
    delete suite_dir_;
    suite_dir_ = nullptr;
  }

  // A client key and a certificate for it signed by the CA in `relay_dir`: PREFIX.key, PREFIX.pem.
  static void MakeClient(const std::string& relay_dir, const std::string& prefix) {
    auto key = endpoint::MakeClientKeyAndCsr("ep-0123456789abcdef");
    ASSERT_TRUE(key.ok()) << key.error().message();
    auto cert = SignClientCertificate(TlsFilesIn(relay_dir), key->csr_pem, "ep-0123456789abcdef",
                                      Now(), kDefaultClientLifetime);
    ASSERT_TRUE(cert.ok()) << cert.error().message();
    testing::WriteAll(prefix + ".key", key->key_pem);
    testing::WriteAll(prefix + ".pem", *cert);
  }

  static std::string Path(const std::string& name) { return *suite_dir_ / name; }

  void TearDown() override { StopServer(); }

  HttpServerOptions DefaultOptions() const {
    HttpServerOptions options;
    options.listen = "127.0.0.1:0";
    options.tls = TlsFilesIn(Path("relay"));
    options.threads = 2;
    options.handshake_timeout = milliseconds(2000);
    options.header_timeout = milliseconds(1000);
    options.idle_timeout = milliseconds(1000);
    options.body_timeout = milliseconds(2000);
    options.write_timeout = milliseconds(5000);
    options.drain_timeout = milliseconds(5000);
    options.log_requests = false;
    return options;
  }

  void StartServer(std::optional<HttpServerOptions> options = std::nullopt) {
    auto server = HttpServer::Create(handler_, options ? *options : DefaultOptions());
    ASSERT_TRUE(server.ok()) << server.error().message();
    server_.emplace(std::move(*server));
    port_ = server_->port();
    ASSERT_NE(port_, 0);
    serving_ = std::async(std::launch::async, [this] { return server_->Serve(); });
  }

  // Stops the server and waits for Serve() to return; a server that does not stop fails the
  // test and ends the process rather than hanging it.
  void StopServer() {
    if (!server_) return;
    server_->Stop();
    if (serving_.wait_for(std::chrono::seconds(20)) != std::future_status::ready) {
      ADD_FAILURE() << "Serve() did not return after Stop()";
      std::fflush(nullptr);
      std::_Exit(1);
    }
    EXPECT_TRUE(serving_.get().ok());
    server_.reset();
  }

  std::string Url(const std::string& target) const {
    return "https://127.0.0.1:" + std::to_string(port_) + target;
  }

  CommandResult Curl(const std::string& args) const {
    return Shell("curl -sS --max-time 20 --cacert " + Path("relay/tls/ca.pem") + " " + args);
  }

  std::unique_ptr<TlsClient> Client(const ClientOptions& options = {}) {
    std::string error;
    auto client = TlsClient::Connect(port_, Path("relay/tls/ca.pem"), options, &error);
    EXPECT_NE(client, nullptr) << error;
    return client;
  }

  static TempDir* suite_dir_;
  TestHandler handler_{Path("payload")};
  std::optional<HttpServer> server_;
  std::future<Status> serving_;
  uint16_t port_ = 0;
};

TempDir* HttpServerTest::suite_dir_ = nullptr;

// ---- TLS and client certificates ----

TEST_F(HttpServerTest, RequestWithoutClientCertificateHasNoFingerprint) {
  StartServer();
  const CommandResult result = Curl("-i " + Url("/whoami"));
  ASSERT_EQ(result.exit_code, 0) << result.err;
  EXPECT_NE(result.out.find("HTTP/1.1 200 OK\r\n"), std::string::npos) << result.out;
  EXPECT_NE(result.out.find("\r\nServer: ferry-relay\r\n"), std::string::npos);
  EXPECT_NE(result.out.find("\r\nContent-Length: 4\r\n"), std::string::npos);
  EXPECT_NE(result.out.find("\r\n\r\nnone"), std::string::npos);
}

TEST_F(HttpServerTest, VerifiedClientCertificateFingerprintReachesHandler) {
  StartServer();
  const CommandResult result =
      Curl("--cert " + Path("client.pem") + " --key " + Path("client.key") + " " + Url("/whoami"));
  ASSERT_EQ(result.exit_code, 0) << result.err;
  auto expected = CertificateFingerprint(Path("client.pem"));
  ASSERT_TRUE(expected.ok());
  EXPECT_EQ(result.out, *expected);
  EXPECT_EQ(result.out.size(), 64u);
}

TEST_F(HttpServerTest, ClientCertificateFromAnotherCaIsRefusedAtHandshake) {
  StartServer();
  const CommandResult result = Curl("--cert " + Path("foreign.pem") + " --key " +
                                    Path("foreign.key") + " " + Url("/whoami"));
  EXPECT_NE(result.exit_code, 0) << result.out;
  // TLS 1.2 has the client wait for the server's Finished, so the refusal is the handshake's.
  std::string error;
  ClientOptions options;
  options.cert = Path("foreign.pem");
  options.key = Path("foreign.key");
  options.max_version = TLS1_2_VERSION;
  EXPECT_EQ(TlsClient::Connect(port_, Path("relay/tls/ca.pem"), options, &error), nullptr);
  EXPECT_NE(error.find("unknown ca"), std::string::npos) << error;
  // The relay's own server certificate chains to the CA but is not for client authentication.
  const CommandResult server_cert = Curl("--cert " + Path("relay/tls/server.pem") + " --key " +
                                         Path("relay/tls/server.key") + " " + Url("/whoami"));
  EXPECT_NE(server_cert.exit_code, 0) << server_cert.out;
  EXPECT_EQ(handler_.calls_, 0);
}

TEST_F(HttpServerTest, Tls11IsRefusedWhileTheSameClientGetsTls12) {
  StartServer();
  ClientOptions legacy;
  legacy.legacy = true;
  legacy.min_version = TLS1_1_VERSION;
  legacy.max_version = TLS1_1_VERSION;
  std::string error;
  EXPECT_EQ(TlsClient::Connect(port_, Path("relay/tls/ca.pem"), legacy, &error), nullptr);
  EXPECT_NE(error.find("protocol version"), std::string::npos) << error;

  legacy.max_version = TLS1_2_VERSION;
  auto client = Client(legacy);
  ASSERT_NE(client, nullptr);
  EXPECT_STREQ(SSL_get_version(client->ssl()), "TLSv1.2");
  EXPECT_STREQ(SSL_get_cipher_name(client->ssl()), "ECDHE-ECDSA-AES128-GCM-SHA256");

  const CommandResult curl = Curl("--tlsv1.1 --tls-max 1.1 " + Url("/whoami"));
  EXPECT_NE(curl.exit_code, 0);
}

TEST_F(HttpServerTest, Tls13IsNegotiatedWhenOffered) {
  StartServer();
  auto client = Client();
  ASSERT_NE(client, nullptr);
  EXPECT_STREQ(SSL_get_version(client->ssl()), "TLSv1.3");
  EXPECT_STREQ(SSL_get_cipher_name(client->ssl()), "TLS_AES_128_GCM_SHA256");
}

// Resumption would carry a client certificate over without checking it again; the server offers
// none, in either version.
TEST_F(HttpServerTest, SessionsAreNeverResumed) {
  StartServer();
  for (const int version : {TLS1_2_VERSION, TLS1_3_VERSION}) {
    ClientOptions options;
    options.cert = Path("client.pem");
    options.key = Path("client.key");
    options.max_version = version;
    auto first = Client(options);
    ASSERT_NE(first, nullptr);
    ASSERT_TRUE(first->Send("GET /whoami HTTP/1.1\r\nHost: t\r\n\r\n"));
    ASSERT_TRUE(first->ReadResponse().has_value());
    SSL_SESSION* session = SSL_get1_session(first->ssl());
    ASSERT_NE(session, nullptr);
    options.session = session;
    auto second = Client(options);
    ASSERT_NE(second, nullptr);
    EXPECT_EQ(SSL_session_reused(second->ssl()), 0) << "version " << version;
    ASSERT_TRUE(second->Send("GET /whoami HTTP/1.1\r\nHost: t\r\n\r\n"));
    const auto response = second->ReadResponse();
    ASSERT_TRUE(response.has_value());
    EXPECT_EQ(response->body.size(), 64u);  // the certificate was verified again
    SSL_SESSION_free(session);
  }
}

// ---- limits and timeouts ----

TEST_F(HttpServerTest, BodyWithinTheLimitReachesTheHandler) {
  StartServer();
  testing::WriteAll(Path("small-body"), std::string(1000, 'a'));
  const CommandResult result = Curl("--data-binary @" + Path("small-body") + " " + Url("/upload"));
  ASSERT_EQ(result.exit_code, 0) << result.err;
  EXPECT_EQ(result.out, "1000");
}

TEST_F(HttpServerTest, BodyOverTheLimitIs413WithoutCallingTheHandler) {
  StartServer();
  testing::WriteAll(Path("big-body"), std::string(2000, 'a'));
  CommandResult result = Curl("-o /dev/null -w '%{http_code}' --data-binary @" + Path("big-body") +
                              " " + Url("/upload"));
  EXPECT_EQ(result.out, "413") << result.err;
  // A chunked body has no length to check up front; the limit stops it as it arrives.
  result = Curl("-o /dev/null -w '%{http_code}' -H 'Transfer-Encoding: chunked' --data-binary @" +
                Path("big-body") + " " + Url("/upload"));
  EXPECT_EQ(result.out, "413") << result.err;
  // A target that takes no body at all.
  result = Curl("-o /dev/null -w '%{http_code}' --data-binary @" + Path("big-body") + " " +
                Url("/whoami"));
  EXPECT_EQ(result.out, "413") << result.err;
  EXPECT_EQ(handler_.uploads_, 0);
  EXPECT_EQ(handler_.calls_, 0);
}

// With "Expect: 100-continue" the client holds the body back; a refused one is never sent, so
// 50 MiB are refused at once rather than uploaded.
TEST_F(HttpServerTest, ExpectContinueIsAnsweredBeforeTheBody) {
  StartServer();
  Shell("head -c 52428800 /dev/zero > " + Path("huge-body"));
  const auto started = Clock::now();
  CommandResult result =
      Curl("-o /dev/null -w '%{http_code}' -H 'Expect: 100-continue' --data-binary @" +
           Path("huge-body") + " " + Url("/upload"));
  EXPECT_EQ(result.out, "413") << result.err;
  EXPECT_LT(Clock::now() - started, std::chrono::seconds(3));
  testing::WriteAll(Path("small-body"), std::string(1000, 'a'));
  result =
      Curl("-H 'Expect: 100-continue' --data-binary @" + Path("small-body") + " " + Url("/upload"));
  EXPECT_EQ(result.out, "1000") << result.err;
  // Any other expectation is refused.
  auto client = Client();
  ASSERT_NE(client, nullptr);
  ASSERT_TRUE(client->Send("GET /whoami HTTP/1.1\r\nHost: t\r\nExpect: teapot\r\n\r\n"));
  const auto response = client->ReadResponse();
  ASSERT_TRUE(response.has_value());
  EXPECT_EQ(response->status, 417);
}

TEST_F(HttpServerTest, SlowHeaderIsCutByTheHeaderTimeout) {
  StartServer();  // header_timeout 1 s
  auto client = Client();
  ASSERT_NE(client, nullptr);
  const auto started = Clock::now();
  ASSERT_TRUE(client->Send("GET /whoami HTTP/1.1\r\n"));
  bool closed = false;
  const std::string trickle = "Host: 127.0.0.1\r\nX-Slow: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
  for (size_t i = 0; i < trickle.size() && !closed; ++i) {
    client->Send(trickle.substr(i, 1));  // fails once the server has closed
    closed = client->ClosedWithin(milliseconds(100));
  }
  const auto elapsed = Clock::now() - started;
  EXPECT_TRUE(closed);
  EXPECT_GE(elapsed, milliseconds(900));
  EXPECT_LT(elapsed, milliseconds(2500));
  EXPECT_EQ(handler_.calls_, 0);
}

TEST_F(HttpServerTest, SilentConnectionsAreClosedAfterHandshakeAndIdleTimeouts) {
  StartServer();
  // Nothing after the handshake: the header timeout (1 s) applies to the first request.
  auto silent = Client();
  ASSERT_NE(silent, nullptr);
  EXPECT_TRUE(silent->ClosedWithin(milliseconds(2500)));
  // Idle after an answer: the keep-alive timeout (1 s).
  auto idle = Client();
  ASSERT_NE(idle, nullptr);
  ASSERT_TRUE(idle->Send("GET /whoami HTTP/1.1\r\nHost: t\r\n\r\n"));
  ASSERT_TRUE(idle->ReadResponse().has_value());
  const auto started = Clock::now();
  EXPECT_TRUE(idle->ClosedWithin(milliseconds(2500)));
  EXPECT_GE(Clock::now() - started, milliseconds(900));
  // A TCP connection that never starts TLS: the handshake timeout (2 s).
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_port = htons(port_);
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(::connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof address), 0);
  pollfd p{fd, POLLIN, 0};
  EXPECT_EQ(::poll(&p, 1, 3500), 1);
  char byte = 0;
  EXPECT_LE(::recv(fd, &byte, 1, 0), 0);
  ::close(fd);
}

TEST_F(HttpServerTest, HeaderBlockOverTheLimitIs431) {
  StartServer();
  auto client = Client();
  ASSERT_NE(client, nullptr);
  ASSERT_TRUE(client->Send(
      "GET /whoami HTTP/1.1\r\nHost: t\r\nX-Big: " + std::string(20 * 1024, 'b') + "\r\n\r\n"));
  const auto response = client->ReadResponse();
  ASSERT_TRUE(response.has_value());
  EXPECT_EQ(response->status, 431);
  EXPECT_NE(response->head.find("Connection: close"), std::string::npos);
  EXPECT_EQ(response->body.rfind("{\"error\":", 0), 0u) << response->body;
  EXPECT_EQ(handler_.calls_, 0);
}

TEST_F(HttpServerTest, MalformedRequestsGetOneLineJsonErrors) {
  StartServer();
  struct Case {
    std::string request;
    int status;
  };
  const std::vector<Case> cases = {
      {"GARBAGE\r\n\r\n", 400},
      {"GET /whoami HTTP/1.1\r\nBad Header\r\n\r\n", 400},
      {"GET /whoami HTTP/1.1\r\n\r\n", 400},                     // no Host
      {"GET http://x/whoami HTTP/1.1\r\nHost: x\r\n\r\n", 400},  // not an absolute path
      {"BREW /pot HTTP/1.1\r\nHost: t\r\n\r\n", 501},
      {"TRACE / HTTP/1.1\r\nHost: t\r\n\r\n", 501},
      {"GET /whoami HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n", 400},
      // Framing that could smuggle a second request past the first.
      {"POST /upload HTTP/1.1\r\nHost: t\r\nContent-Length: 3\r\n"
       "Transfer-Encoding: chunked\r\n\r\n",
       400},
      {"POST /upload HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: gzip\r\n\r\n", 400},
      {"POST /upload HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: gzip, chunked\r\n\r\n", 501},
      {"GET /whoami HTTP/2.0\r\nHost: t\r\n\r\n", 505},
  };
  for (const Case& c : cases) {
    auto client = Client();
    ASSERT_NE(client, nullptr);
    ASSERT_TRUE(client->Send(c.request));
    const auto response = client->ReadResponse();
    ASSERT_TRUE(response.has_value()) << c.request;
    EXPECT_EQ(response->status, c.status) << c.request << response->body;
    EXPECT_NE(response->head.find("\r\nContent-Length: "), std::string::npos);
    EXPECT_NE(response->head.find("\r\nServer: ferry-relay\r\n"), std::string::npos);
    EXPECT_EQ(response->body.rfind("{\"error\":\"", 0), 0u) << response->body;
    EXPECT_EQ(response->body.find('\n'), std::string::npos);
    EXPECT_TRUE(client->ClosedWithin(milliseconds(3000))) << c.request;
  }
  EXPECT_EQ(handler_.calls_, 0);
}

TEST_F(HttpServerTest, ConnectionsOverTheLimitAreClosedAtOnce) {
  HttpServerOptions options = DefaultOptions();
  options.max_connections = 2;
  options.idle_timeout = milliseconds(10000);
  options.header_timeout = milliseconds(10000);
  StartServer(options);
  EXPECT_EQ(server_->max_connections(), 2u);
  auto first = Client();
  auto second = Client();
  ASSERT_NE(first, nullptr);
  ASSERT_NE(second, nullptr);
  std::string error;
  EXPECT_EQ(TlsClient::Connect(port_, Path("relay/tls/ca.pem"), {}, &error), nullptr);
  first.reset();  // frees a slot
  bool admitted = false;
  for (int attempt = 0; attempt < 50 && !admitted; ++attempt) {
    admitted = TlsClient::Connect(port_, Path("relay/tls/ca.pem"), {}, &error) != nullptr;
    if (!admitted) std::this_thread::sleep_for(milliseconds(50));
  }
  EXPECT_TRUE(admitted);
}

// ---- responses ----

TEST_F(HttpServerTest, FileSliceDownloadsIntactWholeAndInRange) {
  StartServer();
  const std::string expected = testing::ReadAll(Path("payload"));
  CommandResult result = Curl("-o " + Path("downloaded") + " " + Url("/file"));
  ASSERT_EQ(result.exit_code, 0) << result.err;
  EXPECT_TRUE(testing::ReadAll(Path("downloaded")) == expected);

  result = Curl("-r 1000-5000000 -o " + Path("ranged") + " -w '%{http_code}' " + Url("/file"));
  ASSERT_EQ(result.exit_code, 0) << result.err;
  EXPECT_EQ(result.out, "206");
  EXPECT_TRUE(testing::ReadAll(Path("ranged")) == expected.substr(1000, 5000000 - 1000 + 1));
}

TEST_F(HttpServerTest, HeadSendsTheLengthAndNoBody) {
  StartServer();
  const CommandResult curl = Curl("-I " + Url("/file"));
  ASSERT_EQ(curl.exit_code, 0) << curl.err;
  EXPECT_NE(curl.out.find("Content-Length: " + std::to_string(kFileBytes) + "\r\n"),
            std::string::npos)
      << curl.out;
  // On one connection: had the HEAD answer carried a body, the next answer would not parse.
  auto client = Client();
  ASSERT_NE(client, nullptr);
  ASSERT_TRUE(client->Send("HEAD /file HTTP/1.1\r\nHost: t\r\n\r\n"));
  const auto head = client->ReadResponse(true);
  ASSERT_TRUE(head.has_value());
  EXPECT_EQ(head->status, 200);
  ASSERT_TRUE(client->Send("GET /whoami HTTP/1.1\r\nHost: t\r\n\r\n"));
  const auto next = client->ReadResponse();
  ASSERT_TRUE(next.has_value());
  EXPECT_EQ(next->status, 200);
  EXPECT_EQ(next->body, "none");
}

TEST_F(HttpServerTest, ServerOwnsFramingHeadersAndUnreadableFilesAre500) {
  StartServer();
  CommandResult result = Curl("-i " + Url("/hello"));
  ASSERT_EQ(result.exit_code, 0) << result.err;
  EXPECT_NE(result.out.find("\r\nContent-Length: 5\r\n"), std::string::npos) << result.out;
  EXPECT_EQ(result.out.find("999"), std::string::npos);
  EXPECT_NE(result.out.find("\r\nContent-Type: text/plain\r\n"), std::string::npos);
  result = Curl("-o /dev/null -w '%{http_code}' " + Url("/missing-file"));
  EXPECT_EQ(result.out, "500");
}

TEST_F(HttpServerTest, KeepAliveServesSeveralRequestsOnOneConnection) {
  StartServer();
  const CommandResult result =
      Curl("-o /dev/null -o /dev/null -o /dev/null -w '%{num_connects} ' " + Url("/whoami") + " " +
           Url("/file") + " " + Url("/whoami"));
  ASSERT_EQ(result.exit_code, 0) << result.err;
  EXPECT_EQ(result.out, "1 0 0 ");
  const std::vector<std::string> peers = handler_.peers();
  ASSERT_EQ(peers.size(), 3u);
  EXPECT_EQ(peers[0], peers[1]);
  EXPECT_EQ(peers[1], peers[2]);
}

TEST_F(HttpServerTest, PipelinedRequestsAreAnsweredInOrder) {
  StartServer();
  auto client = Client();
  ASSERT_NE(client, nullptr);
  ASSERT_TRUE(
      client->Send("GET /whoami HTTP/1.1\r\nHost: t\r\n\r\n"
                   "POST /upload HTTP/1.1\r\nHost: t\r\nContent-Length: 3\r\n\r\nabc"
                   "GET /nothing HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n"));
  const auto first = client->ReadResponse();
  const auto second = client->ReadResponse();
  const auto third = client->ReadResponse();
  ASSERT_TRUE(first && second && third);
  EXPECT_EQ(first->body, "none");
  EXPECT_EQ(second->body, "3");
  EXPECT_EQ(third->status, 404);
  EXPECT_NE(third->head.find("Connection: close"), std::string::npos);
  EXPECT_TRUE(client->ClosedWithin(milliseconds(2000)));
}

// ---- stopping ----

TEST_F(HttpServerTest, StopLetsTheRequestInFlightFinishThenDrainsTheHandler) {
  HttpServerOptions options = DefaultOptions();
  options.idle_timeout = milliseconds(30000);
  StartServer(options);
  auto idle = Client();  // kept alive, no request in hand: closed at once
  ASSERT_NE(idle, nullptr);
  ASSERT_TRUE(idle->Send("GET /whoami HTTP/1.1\r\nHost: t\r\n\r\n"));
  ASSERT_TRUE(idle->ReadResponse().has_value());
  auto slow = std::async(std::launch::async, [this] { return Curl("-i " + Url("/slow")); });
  const auto deadline = Clock::now() + std::chrono::seconds(10);
  while (!handler_.in_slow_ && Clock::now() < deadline) {
    std::this_thread::sleep_for(milliseconds(10));
  }
  ASSERT_TRUE(handler_.in_slow_);
  const auto stopping = Clock::now();
  server_->Stop();
  EXPECT_TRUE(idle->ClosedWithin(milliseconds(500)));
  ASSERT_EQ(serving_.wait_for(std::chrono::seconds(10)), std::future_status::ready);
  EXPECT_LT(Clock::now() - stopping, std::chrono::seconds(3));
  EXPECT_TRUE(serving_.get().ok());
  EXPECT_TRUE(handler_.drained_);
  server_.reset();
  const CommandResult answered = slow.get();
  EXPECT_EQ(answered.exit_code, 0) << answered.err;
  EXPECT_NE(answered.out.find("HTTP/1.1 200 OK"), std::string::npos) << answered.out;
  EXPECT_NE(answered.out.find("Connection: close"), std::string::npos);
  EXPECT_NE(answered.out.find("\r\n\r\ndone"), std::string::npos);
  // Nothing listens any more.
  EXPECT_NE(Curl(Url("/whoami")).exit_code, 0);
}

TEST_F(HttpServerTest, DrainTimeCutsRequestsThatDoNotFinish) {
  HttpServerOptions options = DefaultOptions();
  options.drain_timeout = milliseconds(300);
  StartServer(options);
  auto slow = std::async(std::launch::async, [this] { return Curl(Url("/slow")); });
  while (!handler_.in_slow_) std::this_thread::sleep_for(milliseconds(10));
  // A download the client never reads keeps the server writing until the drain time is over.
  auto stalled = Client();
  ASSERT_NE(stalled, nullptr);
  ASSERT_TRUE(stalled->Send("GET /file HTTP/1.1\r\nHost: t\r\n\r\n"));
  std::this_thread::sleep_for(milliseconds(200));
  const auto stopping = Clock::now();
  StopServer();
  EXPECT_LT(Clock::now() - stopping, std::chrono::seconds(3));
  EXPECT_TRUE(handler_.drained_);
  EXPECT_TRUE(stalled->ClosedWithin(milliseconds(1000)));
  slow.get();
}

TEST_F(HttpServerTest, StopBeforeServeReturnsAtOnce) {
  auto server = HttpServer::Create(handler_, DefaultOptions());
  ASSERT_TRUE(server.ok());
  server->Stop();
  EXPECT_TRUE(server->Serve().ok());
  EXPECT_TRUE(handler_.drained_);
}

TEST_F(HttpServerTest, BadListenAddressesAndBusyPorts) {
  HttpServerOptions options = DefaultOptions();
  for (const std::string listen : {"127.0.0.1", "::1:80", "127.0.0.1:65536", ":80", "[::1]80"}) {
    options.listen = listen;
    auto server = HttpServer::Create(handler_, options);
    ASSERT_FALSE(server.ok()) << listen;
    EXPECT_EQ(server.error().kind(), ErrorKind::kUsage) << listen;
  }
  StartServer();
  options.listen = "127.0.0.1:" + std::to_string(port_);
  auto busy = HttpServer::Create(handler_, options);
  ASSERT_FALSE(busy.ok());
  EXPECT_EQ(busy.error().kind(), ErrorKind::kIo);
  EXPECT_NE(busy.error().message().find("in use"), std::string::npos) << busy.error().message();
  options.listen = "[::1]:0";
  auto v6 = HttpServer::Create(handler_, options);
  if (v6.ok()) {
    EXPECT_EQ(v6->local_address().rfind("[::1]:", 0), 0u) << v6->local_address();
  }
  options.listen = "localhost:0";
  EXPECT_TRUE(HttpServer::Create(handler_, options).ok());
}

TEST_F(HttpServerTest, RequestLinesAreLoggedWithTheCertificatePrefix) {
  // The log goes to stderr: capture it through a pipe for the length of one request.
  int pipe_fds[2];
  ASSERT_EQ(::pipe(pipe_fds), 0);
  const int saved = ::dup(STDERR_FILENO);
  ::dup2(pipe_fds[1], STDERR_FILENO);
  HttpServerOptions options = DefaultOptions();
  options.log_requests = true;
  StartServer(options);
  const CommandResult result = Curl("--cert " + Path("client.pem") + " --key " +
                                    Path("client.key") + " " + Url("/whoami?x=%22y"));
  StopServer();
  ::dup2(saved, STDERR_FILENO);
  ::close(saved);
  ::close(pipe_fds[1]);
  std::string log;
  char buffer[4096];
  for (ssize_t n; (n = ::read(pipe_fds[0], buffer, sizeof buffer)) > 0;) {
    log.append(buffer, static_cast<size_t>(n));
  }
  ::close(pipe_fds[0]);
  ASSERT_EQ(result.exit_code, 0) << result.err;
  const std::string prefix = CertificateFingerprint(Path("client.pem"))->substr(0, 12);
  EXPECT_NE(log.find("GET /whoami?x=%22y 404 "), std::string::npos) << log;
  EXPECT_NE(log.find(" peer=127.0.0.1:"), std::string::npos) << log;
  EXPECT_NE(log.find(" cert=" + prefix + "\n"), std::string::npos) << log;
}

}  // namespace
}  // namespace ferry::relay
