// The agent's key and CSR, signed by the relay's real CA code, and the agent's check of the
// certificate that comes back.

#include "endpoint/client_identity.hpp"

#include <gtest/gtest.h>

#include "relay/tls_identity.hpp"
#include "tests/endpoint/fixtures.hpp"
#include "tests/support/testing.hpp"

namespace ferry::endpoint {
namespace {

class ClientIdentityTest : public ::testing::Test {
 protected:
  void SetUp() override {
    files_ = fixtures::MakeRelayTls(dir_ / "home", {"localhost"}, {"127.0.0.1"});
    ca_pem_ = testing::ReadAll(files_.ca_cert);
    auto identity = MakeClientKeyAndCsr("ferry-agent");
    ASSERT_TRUE(identity.ok()) << identity.error().message();
    identity_ = *identity;
  }

  std::string Sign(const std::string& csr, const std::string& endpoint_id,
                   const relay::TlsFiles& files) {
    auto cert =
        relay::SignClientCertificate(files, csr, endpoint_id, Now(), relay::kDefaultClientLifetime);
    EXPECT_TRUE(cert.ok()) << cert.error().message();
    return cert.ok() ? *cert : "";
  }

  testing::TempDir dir_;
  relay::TlsFiles files_;
  std::string ca_pem_;
  KeyAndCsr identity_;
};

TEST_F(ClientIdentityTest, TheRelaysCertificateForOurKeyIsAccepted) {
  EXPECT_TRUE(identity_.key_pem.starts_with("-----BEGIN PRIVATE KEY-----"));
  EXPECT_TRUE(identity_.csr_pem.starts_with("-----BEGIN CERTIFICATE REQUEST-----"));
  testing::WriteAll(dir_ / "agent.csr", identity_.csr_pem);
  EXPECT_EQ(testing::Run("openssl req -verify -noout -in '" + dir_ / "agent.csr" + "'").exit_code,
            0);
  const std::string cert = Sign(identity_.csr_pem, "ep-0123456789abcdef", files_);
  const Status checked =
      CheckClientCertificate(cert, identity_.key_pem, ca_pem_, "ep-0123456789abcdef", Now());
  EXPECT_TRUE(checked.ok()) << checked.error().message();
}

TEST_F(ClientIdentityTest, RefusesCertificatesThatAreNotOurs) {
  const auto expect_refused = [&](const std::string& cert, const std::string& id,
                                  const std::string& ca, const std::string& part) {
    const Status checked = CheckClientCertificate(cert, identity_.key_pem, ca, id, Now());
    ASSERT_FALSE(checked.ok()) << part;
    EXPECT_EQ(checked.error().kind(), ErrorKind::kInvalid) << checked.error().message();
    EXPECT_NE(checked.error().message().find(part), std::string::npos) << checked.error().message();
  };
  // For another key.
  auto other = MakeClientKeyAndCsr("ferry-agent");
  ASSERT_TRUE(other.ok());
  expect_refused(Sign(other->csr_pem, "ep-0123456789abcdef", files_), "ep-0123456789abcdef",
                 ca_pem_, "not for the key");
  // For another endpoint id than the answer names.
  const std::string cert = Sign(identity_.csr_pem, "ep-0123456789abcdef", files_);
  expect_refused(cert, "ep-fedcba9876543210", ca_pem_, "names \"ep-0123456789abcdef\"");
  // Signed by a CA other than the pinned one.
  const std::string foreign = Sign(identity_.csr_pem, "ep-0123456789abcdef",
                                   fixtures::MakeRelayTls(dir_ / "elsewhere", {"localhost"}, {}));
  expect_refused(foreign, "ep-0123456789abcdef", ca_pem_, "pinned CA");
  // Not yet valid at the agent's clock (more than the one-day allowance behind).
  const Status early = CheckClientCertificate(cert, identity_.key_pem, ca_pem_,
                                              "ep-0123456789abcdef", Now() - 3 * 86400);
  EXPECT_FALSE(early.ok());
  // The server certificate is not a client certificate.
  expect_refused(testing::ReadAll(files_.server_cert), "Ferry relay", ca_pem_, "one PEM");
  // Shapes.
  expect_refused("", "ep-0123456789abcdef", ca_pem_, "empty");
  expect_refused(cert + cert, "ep-0123456789abcdef", ca_pem_, "exactly one");
  expect_refused("junk\n" + cert, "ep-0123456789abcdef", ca_pem_, "exactly one");
  expect_refused(cert, "ep-0123456789abcdef", "not a CA\n", "no PEM certificate");
}

TEST_F(ClientIdentityTest, RefusesBadCommonNames) {
  for (const std::string& name : {std::string(), std::string("a b"), std::string(65, 'e')}) {
    auto made = MakeClientKeyAndCsr(name);
    ASSERT_FALSE(made.ok()) << name;
    EXPECT_EQ(made.error().kind(), ErrorKind::kUsage);
  }
  EXPECT_TRUE(MakeClientKeyAndCsr(std::string(64, 'e')).ok());
}

}  // namespace
}  // namespace ferry::endpoint
