// HttpsClient against a real TLS server that the test scripts byte by byte (OpenSSL, in a
// thread): the pinned CA and the certificate's names decide, client certificates are presented,
// connections are reused, limits hold, and downloads resume only on a matching 206.

#include "endpoint/https_client.hpp"

#include <gtest/gtest.h>

#include <thread>

#include "common/file.hpp"
#include "endpoint/client_identity.hpp"
#include "relay/tls_identity.hpp"
#include "tests/endpoint/fixtures.hpp"
#include "tests/endpoint/tls_test_server.hpp"
#include "tests/support/testing.hpp"

namespace ferry::endpoint {
namespace {

using std::chrono::milliseconds;
using test_server::Http;
using test_server::RangeStart;
using test_server::Reply;
using test_server::Seen;
using test_server::TlsTestServer;

class HttpsClientTest : public ::testing::Test {
 protected:
  void SetUp() override { files_ = MakeIdentity("relay", {"localhost"}, {"127.0.0.1", "::1"}); }

  relay::TlsFiles MakeIdentity(const std::string& name, std::vector<std::string> dns,
                               std::vector<std::string> ips) {
    return fixtures::MakeRelayTls(dir_ / name, std::move(dns), std::move(ips));
  }

  std::unique_ptr<TlsTestServer> Serve(std::function<Reply(const Seen&)> handler,
                                       const std::string& client_ca = "") {
    return std::make_unique<TlsTestServer>(files_.server_cert, files_.server_key, client_ca,
                                           std::move(handler));
  }

  HttpsClient Client(uint16_t port, const std::string& host = "127.0.0.1",
                     const std::string& ca = "") {
    HttpsClientOptions options;
    auto url = ParseRelayUrl("https://" + host + ":" + std::to_string(port));
    EXPECT_TRUE(url.ok());
    options.url = *url;
    options.ca_file = ca.empty() ? files_.ca_cert : ca;
    options.connect_timeout = milliseconds(3000);
    options.io_timeout = milliseconds(3000);
    options.client_cert_file = client_cert_;
    options.client_key_file = client_key_;
    auto client = HttpsClient::Create(options);
    EXPECT_TRUE(client.ok()) << client.error().message();
    return std::move(*client);
  }

  testing::TempDir dir_;
  relay::TlsFiles files_;
  std::string client_cert_;
  std::string client_key_;
};

TEST_F(HttpsClientTest, GetsAndPostsOverOneKeptAliveConnection) {
  auto server = Serve([](const Seen& seen) {
    return Reply{Http(200,
                      "answer to " + seen.head.substr(0, seen.head.find(' ')) + " " + seen.body,
                      "Content-Type: application/json\r\n")};
  });
  HttpsClient client = Client(server->port());
  auto got = client.Get("/v1/roots/1", 1024);
  ASSERT_TRUE(got.ok()) << got.error().message();
  EXPECT_EQ(got->status, 200);
  EXPECT_EQ(got->body, "answer to GET ");
  EXPECT_EQ(got->content_type, "application/json");
  auto posted = client.PostJson("/v1/checkin", R"({"a":1})", 1024);
  ASSERT_TRUE(posted.ok()) << posted.error().message();
  EXPECT_EQ(posted->body, R"(answer to POST {"a":1})");
  EXPECT_EQ(server->connections(), 1);
  const std::vector<Seen> seen = server->seen();
  ASSERT_EQ(seen.size(), 2u);
  EXPECT_NE(seen[0].head.find("GET /v1/roots/1 HTTP/1.1\r\n"), std::string::npos);
  EXPECT_NE(seen[0].head.find("Host: 127.0.0.1:" + std::to_string(server->port())),
            std::string::npos);
  EXPECT_NE(seen[1].head.find("Content-Type: application/json"), std::string::npos);
  EXPECT_FALSE(seen[0].client_certificate);
}

TEST_F(HttpsClientTest, ReopensAConnectionTheServerClosed) {
  int count = 0;
  auto server = Serve([&](const Seen&) {
    ++count;
    // The first answer says nothing about closing, then the server drops the idle connection,
    // as a relay's keep-alive timeout does.
    return Reply{Http(200, "n" + std::to_string(count)), count == 1};
  });
  HttpsClient client = Client(server->port());
  EXPECT_EQ(client.Get("/a", 100)->body, "n1");
  std::this_thread::sleep_for(milliseconds(100));
  auto second = client.Get("/b", 100);
  ASSERT_TRUE(second.ok()) << second.error().message();
  EXPECT_EQ(second->body, "n2");
  EXPECT_EQ(server->connections(), 2);
  // "Connection: close" is honoured the same way.
  auto third = client.Get("/c", 100);
  ASSERT_TRUE(third.ok());
}

TEST_F(HttpsClientTest, TrustsOnlyThePinnedCaAndTheNamesInTheCertificate) {
  auto server = Serve([](const Seen&) { return Reply{Http(200, "hello")}; });
  // Another relay's CA.
  const relay::TlsFiles other = MakeIdentity("other", {"localhost"}, {"127.0.0.1"});
  HttpsClient wrong_ca = Client(server->port(), "127.0.0.1", other.ca_cert);
  auto refused = wrong_ca.Get("/", 100);
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.error().kind(), ErrorKind::kIo);
  EXPECT_NE(refused.error().message().find("certificate is refused"), std::string::npos)
      << refused.error().message();
  // The system's trust store plays no part: a CA file with no certificate is refused up front.
  testing::WriteAll(dir_ / "empty.pem", "\n");
  HttpsClientOptions options;
  options.url = *ParseRelayUrl("https://127.0.0.1:" + std::to_string(server->port()));
  options.ca_file = dir_ / "empty.pem";
  auto no_ca = HttpsClient::Create(options);
  ASSERT_FALSE(no_ca.ok());
  EXPECT_EQ(no_ca.error().kind(), ErrorKind::kInvalid);

  // The right CA, but a certificate for other names: by address and by host name.
  const std::string genuine_ca = files_.ca_cert;
  files_ = MakeIdentity("misnamed", {"relay.test"}, {"127.0.0.2"});
  auto misnamed = Serve([](const Seen&) { return Reply{Http(200, "hello")}; });
  HttpsClient by_ip = Client(misnamed->port(), "127.0.0.1");
  auto ip = by_ip.Get("/", 100);
  ASSERT_FALSE(ip.ok());
  EXPECT_NE(ip.error().message().find("IP address mismatch"), std::string::npos)
      << ip.error().message();
  HttpsClient by_name = Client(misnamed->port(), "localhost");
  auto name = by_name.Get("/", 100);
  ASSERT_FALSE(name.ok());
  EXPECT_EQ(name.error().kind(), ErrorKind::kIo);
  EXPECT_NE(name.error().message().find("mismatch"), std::string::npos) << name.error().message();
  EXPECT_TRUE(misnamed->seen().empty());

  // The genuine certificate by host name works.
  HttpsClient by_localhost = Client(server->port(), "localhost", genuine_ca);
  auto fine = by_localhost.Get("/", 100);
  ASSERT_TRUE(fine.ok()) << fine.error().message();
}

TEST_F(HttpsClientTest, PresentsTheClientCertificate) {
  auto identity = MakeClientKeyAndCsr("ferry-agent");
  ASSERT_TRUE(identity.ok());
  auto cert = relay::SignClientCertificate(files_, identity->csr_pem, "ep-0123456789abcdef", Now(),
                                           relay::kDefaultClientLifetime);
  ASSERT_TRUE(cert.ok()) << cert.error().message();
  client_cert_ = dir_ / "client.pem";
  client_key_ = dir_ / "client.key";
  testing::WriteAll(client_cert_, *cert);
  testing::WriteAll(client_key_, identity->key_pem);
  auto server = Serve([](const Seen&) { return Reply{Http(200, "hi")}; }, files_.ca_cert);
  HttpsClient client = Client(server->port());
  ASSERT_TRUE(client.Get("/v1/endpoints/x", 100).ok());
  ASSERT_EQ(server->seen().size(), 1u);
  EXPECT_TRUE(server->seen().front().client_certificate);

  // A key that does not belong to the certificate is refused before any connection.
  auto other = MakeClientKeyAndCsr("ferry-agent");
  testing::WriteAll(client_key_, other->key_pem);
  HttpsClientOptions options;
  options.url = *ParseRelayUrl("https://127.0.0.1:" + std::to_string(server->port()));
  options.ca_file = files_.ca_cert;
  options.client_cert_file = client_cert_;
  options.client_key_file = client_key_;
  EXPECT_FALSE(HttpsClient::Create(options).ok());
}

TEST_F(HttpsClientTest, LimitsTimeoutsAndUnreachableRelays) {
  auto server = Serve([](const Seen& seen) {
    if (seen.head.starts_with("GET /big")) return Reply{Http(200, std::string(5000, 'b'))};
    if (seen.head.starts_with("GET /header")) {
      return Reply{Http(200, "x", "X-Filler: " + std::string(20000, 'h') + "\r\n")};
    }
    if (seen.head.starts_with("GET /slow"))
      return Reply{Http(200, "late"), false, std::string::npos, milliseconds(1500)};
    if (seen.head.starts_with("GET /garbage")) return Reply{"SMTP ready\r\n\r\n", true};
    return Reply{Http(200, "ok")};
  });
  HttpsClient client = Client(server->port());
  auto big = client.Get("/big", 4999);
  ASSERT_FALSE(big.ok());
  EXPECT_EQ(big.error().kind(), ErrorKind::kInvalid);
  EXPECT_NE(big.error().message().find("larger than allowed"), std::string::npos);
  EXPECT_TRUE(client.Get("/big", 5000).ok());
  auto header = client.Get("/header", 100);
  ASSERT_FALSE(header.ok());
  EXPECT_EQ(header.error().kind(), ErrorKind::kInvalid);
  auto garbage = client.Get("/garbage", 100);
  ASSERT_FALSE(garbage.ok());
  EXPECT_EQ(garbage.error().kind(), ErrorKind::kInvalid) << garbage.error().message();

  HttpsClientOptions options;
  options.url = *ParseRelayUrl("https://127.0.0.1:" + std::to_string(server->port()));
  options.ca_file = files_.ca_cert;
  options.io_timeout = milliseconds(300);
  auto impatient = HttpsClient::Create(options);
  ASSERT_TRUE(impatient.ok());
  const auto started = std::chrono::steady_clock::now();
  auto slow = impatient->Get("/slow", 100);
  ASSERT_FALSE(slow.ok());
  EXPECT_EQ(slow.error().kind(), ErrorKind::kIo);
  EXPECT_NE(slow.error().message().find("timed out"), std::string::npos) << slow.error().message();
  EXPECT_LT(std::chrono::steady_clock::now() - started, milliseconds(1400));

  // Nobody listening.
  const uint16_t closed_port = server->port();
  server.reset();
  HttpsClient gone = Client(closed_port);
  auto refused = gone.Get("/", 100);
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.error().kind(), ErrorKind::kIo);
  EXPECT_NE(refused.error().message().find("cannot connect"), std::string::npos)
      << refused.error().message();
}

class DownloadTest : public HttpsClientTest {
 protected:
  void SetUp() override {
    HttpsClientTest::SetUp();
    for (int i = 0; i < 300000; ++i) payload_.push_back(static_cast<char>('a' + i % 23));
  }

  // Serves payload_ with Range support; `mode` bends the rules.
  Reply Answer(const Seen& seen) {
    const int64_t start = RangeStart(seen.head);
    const uint64_t size = payload_.size();
    if (mode_ == "missing") return Reply{Http(404, R"({"error":"unknown payload"})")};
    if (mode_ == "busy") return Reply{Http(503, "")};
    if (start < 0 || mode_ == "ignore-range") {
      Reply reply{Http(200, payload_)};
      if (cut_ > 0) {
        reply.cut_after = cut_;
        cut_ = 0;
      }
      return reply;
    }
    if (mode_ == "416") {
      mode_ = "";
      return Reply{"HTTP/1.1 416 X\r\nContent-Range: bytes */" + std::to_string(size) +
                   "\r\nContent-Length: 0\r\n\r\n"};
    }
    const uint64_t from =
        mode_ == "wrong-range" ? static_cast<uint64_t>(start) - 1 : static_cast<uint64_t>(start);
    mode_ = mode_ == "wrong-range" ? "" : mode_;
    const std::string part = payload_.substr(from);
    return Reply{Http(206, part,
                      "Content-Range: bytes " + std::to_string(from) + "-" +
                          std::to_string(size - 1) + "/" + std::to_string(size) + "\r\n")};
  }

  std::unique_ptr<TlsTestServer> ServePayload() {
    return Serve([this](const Seen& seen) { return Answer(seen); });
  }

  std::string payload_;
  std::string mode_;
  size_t cut_ = 0;
};

TEST_F(DownloadTest, ResumesADroppedDownloadWithARange) {
  cut_ = 100000;  // the connection drops inside the body
  auto server = ServePayload();
  HttpsClient client = Client(server->port());
  const std::string path = dir_ / "p.part";
  auto first = client.Download("/v1/payloads/x", path, payload_.size());
  ASSERT_FALSE(first.ok());
  EXPECT_EQ(first.error().kind(), ErrorKind::kIo) << first.error().message();
  const std::string kept = testing::ReadAll(path);
  ASSERT_GT(kept.size(), 0u);
  ASSERT_LT(kept.size(), payload_.size());
  EXPECT_EQ(kept, payload_.substr(0, kept.size()));

  auto second = client.Download("/v1/payloads/x", path, payload_.size());
  ASSERT_TRUE(second.ok()) << second.error().message();
  EXPECT_EQ(second->resumed_from, kept.size());
  EXPECT_EQ(second->received, payload_.size() - kept.size());
  EXPECT_EQ(testing::ReadAll(path), payload_);
  const std::vector<Seen> seen = server->seen();
  ASSERT_EQ(seen.size(), 2u);
  EXPECT_EQ(RangeStart(seen[1].head), static_cast<int64_t>(kept.size()));

  // A complete file needs no request at all.
  auto again = client.Download("/v1/payloads/x", path, payload_.size());
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(again->received, 0u);
  EXPECT_EQ(server->seen().size(), 2u);
}

TEST_F(DownloadTest, RestartsFromZeroUnlessTheRangeAnswerMatches) {
  auto server = ServePayload();
  HttpsClient client = Client(server->port());
  const std::string path = dir_ / "p.part";
  for (const char* mode : {"ignore-range", "wrong-range", "416"}) {
    mode_ = mode;
    testing::WriteAll(path, payload_.substr(0, 1000));
    auto got = client.Download("/v1/payloads/x", path, payload_.size());
    ASSERT_TRUE(got.ok()) << mode << ": " << got.error().message();
    EXPECT_EQ(got->resumed_from, 0u) << mode;
    EXPECT_EQ(got->received, payload_.size()) << mode;
    EXPECT_EQ(testing::ReadAll(path), payload_) << mode;
  }
  // wrong-range and 416 each cost a second request, which carries no Range.
  const std::vector<Seen> seen = server->seen();
  ASSERT_EQ(seen.size(), 5u);
  EXPECT_EQ(RangeStart(seen[2].head), -1);
  EXPECT_EQ(RangeStart(seen[4].head), -1);
  // Bytes that do not belong to the payload at the front of the file are not kept either:
  // a partial file longer than the payload starts over.
  testing::WriteAll(path, payload_ + "extra");
  mode_ = "";
  auto longer = client.Download("/v1/payloads/x", path, payload_.size());
  ASSERT_TRUE(longer.ok());
  EXPECT_EQ(testing::ReadAll(path), payload_);
}

TEST_F(DownloadTest, RefusesWrongSizesAndReportsStatuses) {
  auto server = ServePayload();
  HttpsClient client = Client(server->port());
  const std::string path = dir_ / "p.part";
  // The relay sends more than the manifest says the payload holds.
  auto larger = client.Download("/v1/payloads/x", path, payload_.size() - 1);
  ASSERT_FALSE(larger.ok());
  EXPECT_EQ(larger.error().kind(), ErrorKind::kInvalid);
  EXPECT_FALSE(fs::Exists(path));  // refused from the header, before writing
  mode_ = "missing";
  auto missing = client.Download("/v1/payloads/x", path, payload_.size());
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.error().kind(), ErrorKind::kInvalid);
  EXPECT_NE(missing.error().message().find("HTTP 404"), std::string::npos);
  mode_ = "busy";
  auto busy = client.Download("/v1/payloads/x", path, payload_.size());
  ASSERT_FALSE(busy.ok());
  EXPECT_EQ(busy.error().kind(), ErrorKind::kIo);
}

}  // namespace
}  // namespace ferry::endpoint
