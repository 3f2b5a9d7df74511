#include "relay/tls_identity.hpp"

#include <gtest/gtest.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <string>
#include <thread>
#include <vector>

#include "common/encoding.hpp"
#include "common/file.hpp"
#include "endpoint/client_identity.hpp"
#include "tests/support/testing.hpp"

// The openssl command-line tool is the independent judge throughout: what it accepts is what
// curl, nginx-style servers and other OpenSSL clients will accept.

namespace ferry::relay {
namespace {

using endpoint::MakeClientKeyAndCsr;
using ferry::testing::CommandResult;
using ferry::testing::ReadAll;
using ferry::testing::TempDir;
using ferry::testing::WriteAll;

// 2026-01-01T00:00:00Z, for certificates whose dates are checked against known answers.
constexpr UnixTime kNewYear2026 = 1767225600;

// Named apart from ::testing::Test::Run, which fixture members would otherwise find first.
CommandResult Shell(const std::string& command_line) { return ferry::testing::Run(command_line); }

std::string Quote(const std::string& text) { return "'" + text + "'"; }

int ModeOf(const std::string& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) {
    return -1;
  }
  return static_cast<int>(st.st_mode & 07777);
}

TlsIdentityOptions TestOptions(UnixTime now = Now()) {
  TlsIdentityOptions options;
  options.site_id = "test-site";
  options.dns_names = {"localhost", "relay.example.test"};
  options.ip_addresses = {"127.0.0.1", "::1"};
  options.now = now;
  return options;
}

CommandResult OpenSsl(const std::string& arguments) { return Shell("openssl " + arguments); }

std::string X509Field(const std::string& cert_path, const std::string& option) {
  const CommandResult result = OpenSsl("x509 -noout " + option + " -in " + Quote(cert_path));
  EXPECT_EQ(result.exit_code, 0) << result.err;
  return result.out;
}

// Re-encodes a PEM block after `mutate` has changed its DER bytes.
std::string MutatePem(const std::string& pem, const std::string& label,
                      void (*mutate)(std::vector<uint8_t>&)) {
  const std::string begin = "-----BEGIN " + label + "-----\n";
  const std::string end = "-----END " + label + "-----";
  const size_t body_start = pem.find(begin) + begin.size();
  const size_t body_end = pem.find(end);
  std::string body = pem.substr(body_start, body_end - body_start);
  std::erase(body, '\n');
  auto der = Base64Decode(body);
  EXPECT_TRUE(der.ok());
  mutate(*der);
  const std::string encoded = Base64Encode(*der);
  std::string wrapped;
  for (size_t i = 0; i < encoded.size(); i += 64) {
    wrapped += encoded.substr(i, 64) + "\n";
  }
  return begin + wrapped + end + "\n";
}

class TlsIdentityTest : public ::testing::Test {
 protected:
  void SetUp() override {
    files_ = TlsFilesIn(dir_.path());
    const Status created = CreateTlsIdentity(dir_.path(), TestOptions());
    ASSERT_TRUE(created.ok()) << created.error().message();
  }

  // Signs a fresh agent key for `endpoint_id` and writes key and certificate beside the CA.
  void MakeClient(const std::string& endpoint_id, const std::string& key_path,
                  const std::string& cert_path) {
    auto key_and_csr = MakeClientKeyAndCsr(endpoint_id);
    ASSERT_TRUE(key_and_csr.ok()) << key_and_csr.error().message();
    auto cert = SignClientCertificate(files_, key_and_csr->csr_pem, endpoint_id, Now(),
                                      kDefaultClientLifetime);
    ASSERT_TRUE(cert.ok()) << cert.error().message();
    WriteAll(key_path, key_and_csr->key_pem);
    WriteAll(cert_path, *cert);
  }

  TempDir dir_;
  TlsFiles files_;
};

TEST_F(TlsIdentityTest, WritesFourFilesWithTheirModesAndNothingElse) {
  EXPECT_EQ(files_.ca_cert, dir_.path() + "/tls/ca.pem");
  EXPECT_EQ(files_.ca_key, dir_.path() + "/tls/ca.key");
  EXPECT_EQ(files_.server_cert, dir_.path() + "/tls/server.pem");
  EXPECT_EQ(files_.server_key, dir_.path() + "/tls/server.key");
  EXPECT_EQ(ModeOf(files_.ca_key), 0600);
  EXPECT_EQ(ModeOf(files_.server_key), 0600);
  EXPECT_EQ(ModeOf(files_.ca_cert), 0644);
  EXPECT_EQ(ModeOf(files_.server_cert), 0644);
  EXPECT_EQ(ModeOf(dir_.path() + "/tls"), 0755);
  auto tls_entries = fs::ListDirectory(dir_.path() + "/tls");
  ASSERT_TRUE(tls_entries.ok());
  EXPECT_EQ(*tls_entries,
            (std::vector<std::string>{"ca.key", "ca.pem", "server.key", "server.pem"}));
  // No staging directory is left beside tls/.
  auto entries = fs::ListDirectory(dir_.path());
  ASSERT_TRUE(entries.ok());
  EXPECT_EQ(*entries, std::vector<std::string>{"tls"});
  EXPECT_TRUE(ReadAll(files_.ca_key).starts_with("-----BEGIN PRIVATE KEY-----\n"));
}

TEST_F(TlsIdentityTest, OpenSslVerifiesTheServerChain) {
  const CommandResult verify = OpenSsl("verify -purpose sslserver -CAfile " +
                                       Quote(files_.ca_cert) + " " + Quote(files_.server_cert));
  EXPECT_EQ(verify.exit_code, 0) << verify.out << verify.err;
  EXPECT_NE(verify.out.find(": OK"), std::string::npos) << verify.out;
  // The chain file is the server certificate followed by exactly the CA certificate.
  const std::string chain = ReadAll(files_.server_cert);
  const std::string ca = ReadAll(files_.ca_cert);
  ASSERT_GT(chain.size(), ca.size());
  EXPECT_EQ(chain.substr(chain.size() - ca.size()), ca);
  EXPECT_EQ(Shell("grep -c 'BEGIN CERTIFICATE' " + Quote(files_.server_cert)).out, "2\n");
  // The key file holds the key the certificate names.
  const CommandResult cert_key =
      Shell("openssl x509 -noout -pubkey -in " + Quote(files_.server_cert));
  const CommandResult file_key = Shell("openssl pkey -pubout -in " + Quote(files_.server_key));
  EXPECT_EQ(cert_key.exit_code, 0);
  EXPECT_EQ(file_key.exit_code, 0) << file_key.err;
  EXPECT_EQ(cert_key.out, file_key.out);
}

TEST_F(TlsIdentityTest, ServerCertificateCarriesTheSansAndServerExtensions) {
  EXPECT_EQ(X509Field(files_.server_cert, "-ext subjectAltName"),
            "X509v3 Subject Alternative Name: \n"
            "    DNS:localhost, DNS:relay.example.test, IP Address:127.0.0.1, "
            "IP Address:0:0:0:0:0:0:0:1\n");
  const std::string extensions =
      X509Field(files_.server_cert, "-ext basicConstraints,keyUsage,extendedKeyUsage");
  EXPECT_NE(extensions.find("X509v3 Basic Constraints: critical\n    CA:FALSE"), std::string::npos)
      << extensions;
  EXPECT_NE(extensions.find("X509v3 Key Usage: critical\n    Digital Signature"), std::string::npos)
      << extensions;
  EXPECT_NE(extensions.find("TLS Web Server Authentication"), std::string::npos) << extensions;
  EXPECT_EQ(extensions.find("Client Authentication"), std::string::npos) << extensions;
  const std::string text = X509Field(files_.server_cert, "-text");
  EXPECT_NE(text.find("ASN1 OID: prime256v1"), std::string::npos);
  EXPECT_NE(text.find("Signature Algorithm: ecdsa-with-SHA256"), std::string::npos);
  EXPECT_NE(text.find("Version: 3 (0x2)"), std::string::npos);
  EXPECT_EQ(X509Field(files_.server_cert, "-subject -nameopt RFC2253"),
            "subject=CN=Ferry relay test-site,O=Ferry\n");
  EXPECT_EQ(X509Field(files_.server_cert, "-issuer -nameopt RFC2253"),
            "issuer=CN=Ferry relay CA test-site,O=Ferry\n");
}

TEST_F(TlsIdentityTest, AuthorityKeyIdentifierMatchesTheCaSubjectKeyIdentifier) {
  const std::string ca_ski = X509Field(files_.ca_cert, "-ext subjectKeyIdentifier");
  const std::string server_aki = X509Field(files_.server_cert, "-ext authorityKeyIdentifier");
  const size_t ski_start = ca_ski.find("\n    ");
  ASSERT_NE(ski_start, std::string::npos) << ca_ski;
  const std::string key_id = ca_ski.substr(ski_start + 5, 59);  // 20 bytes as "AB:CD:..."
  EXPECT_EQ(key_id.size(), 59u);
  EXPECT_NE(server_aki.find(key_id), std::string::npos) << ca_ski << server_aki;
}

TEST_F(TlsIdentityTest, CaIsAConstrainedP256AuthorityNamedForTheSite) {
  const std::string extensions =
      X509Field(files_.ca_cert, "-ext basicConstraints,keyUsage,subjectKeyIdentifier");
  EXPECT_NE(extensions.find("X509v3 Basic Constraints: critical\n    CA:TRUE, pathlen:0"),
            std::string::npos)
      << extensions;
  EXPECT_NE(extensions.find("X509v3 Key Usage: critical\n    Certificate Sign, CRL Sign\n"),
            std::string::npos)
      << extensions;
  EXPECT_NE(extensions.find("X509v3 Subject Key Identifier"), std::string::npos);
  EXPECT_EQ(X509Field(files_.ca_cert, "-subject -nameopt RFC2253"),
            "subject=CN=Ferry relay CA test-site,O=Ferry\n");
  EXPECT_NE(X509Field(files_.ca_cert, "-text").find("ASN1 OID: prime256v1"), std::string::npos);
  const CommandResult self =
      OpenSsl("verify -CAfile " + Quote(files_.ca_cert) + " " + Quote(files_.ca_cert));
  EXPECT_EQ(self.exit_code, 0) << self.err;
}

TEST_F(TlsIdentityTest, SerialsAreRandomAndAtMost128Bits) {
  TempDir other;
  ASSERT_TRUE(CreateTlsIdentity(other.path(), TestOptions()).ok());
  std::vector<std::string> serials;
  for (const std::string& path :
       {files_.ca_cert, files_.server_cert, TlsFilesIn(other.path()).ca_cert,
        TlsFilesIn(other.path()).server_cert}) {
    std::string serial = X509Field(path, "-serial");
    ASSERT_TRUE(serial.starts_with("serial=")) << serial;
    serial = serial.substr(7, serial.size() - 8);
    EXPECT_LE(serial.size(), 32u) << serial;
    EXPECT_GE(serial.size(), 16u) << serial;  // a 128-bit draw below 2^64 is a broken generator
    serials.push_back(serial);
  }
  std::sort(serials.begin(), serials.end());
  EXPECT_EQ(std::unique(serials.begin(), serials.end()), serials.end());
}

TEST(TlsIdentityDates, ValidityFollowsNowLifetimesAndClockSkew) {
  TempDir dir;
  ASSERT_TRUE(CreateTlsIdentity(dir.path(), TestOptions(kNewYear2026)).ok());
  const TlsFiles files = TlsFilesIn(dir.path());
  EXPECT_EQ(X509Field(files.ca_cert, "-startdate -enddate"),
            "notBefore=Dec 31 00:00:00 2025 GMT\nnotAfter=Dec 30 00:00:00 2035 GMT\n");
  EXPECT_EQ(X509Field(files.server_cert, "-startdate -enddate"),
            "notBefore=Dec 31 00:00:00 2025 GMT\nnotAfter=Jan  1 00:00:00 2028 GMT\n");
}

TEST_F(TlsIdentityTest, RefusesToOverwriteAnExistingIdentity) {
  const std::string ca_before = ReadAll(files_.ca_cert);
  const std::string key_before = ReadAll(files_.ca_key);
  const Status again = CreateTlsIdentity(dir_.path(), TestOptions());
  ASSERT_FALSE(again.ok());
  EXPECT_NE(again.error().message().find("already exists"), std::string::npos)
      << again.error().message();
  EXPECT_EQ(ReadAll(files_.ca_cert), ca_before);
  EXPECT_EQ(ReadAll(files_.ca_key), key_before);
  auto entries = fs::ListDirectory(dir_.path());
  ASSERT_TRUE(entries.ok());
  EXPECT_EQ(*entries, std::vector<std::string>{"tls"});
}

TEST(TlsIdentityCreate, RefusesWhenAnyOneFileIsAlreadyThere) {
  TempDir dir;
  ASSERT_EQ(::mkdir((dir.path() + "/tls").c_str(), 0755), 0);
  WriteAll(dir.path() + "/tls/server.key", "operator's own key\n");
  const Status created = CreateTlsIdentity(dir.path(), TestOptions());
  ASSERT_FALSE(created.ok());
  EXPECT_NE(created.error().message().find("server.key: already exists"), std::string::npos)
      << created.error().message();
  EXPECT_EQ(ReadAll(dir.path() + "/tls/server.key"), "operator's own key\n");
  EXPECT_FALSE(fs::Exists(dir.path() + "/tls/ca.pem"));
}

TEST(TlsIdentityCreate, RefusesATlsDirectoryWithOtherContents) {
  TempDir dir;
  ASSERT_EQ(::mkdir((dir.path() + "/tls").c_str(), 0755), 0);
  WriteAll(dir.path() + "/tls/notes.txt", "keep me\n");
  const Status created = CreateTlsIdentity(dir.path(), TestOptions());
  ASSERT_FALSE(created.ok());
  EXPECT_NE(created.error().message().find("not empty"), std::string::npos)
      << created.error().message();
  EXPECT_EQ(ReadAll(dir.path() + "/tls/notes.txt"), "keep me\n");
  auto entries = fs::ListDirectory(dir.path());
  ASSERT_TRUE(entries.ok());
  EXPECT_EQ(*entries, std::vector<std::string>{"tls"});  // the staging directory was removed
}

TEST(TlsIdentityCreate, AnEmptyTlsDirectoryIsFilled) {
  TempDir dir;
  ASSERT_EQ(::mkdir((dir.path() + "/tls").c_str(), 0700), 0);
  const Status created = CreateTlsIdentity(dir.path(), TestOptions());
  ASSERT_TRUE(created.ok()) << created.error().message();
  EXPECT_TRUE(fs::Exists(TlsFilesIn(dir.path()).server_cert));
}

TEST(TlsIdentityCreate, RefusesBadOptionsAsUsageErrorsAndWritesNothing) {
  struct Case {
    const char* what;
    void (*change)(TlsIdentityOptions&);
    const char* message_part;
  };
  const Case cases[] = {
      {"underscore", [](TlsIdentityOptions& o) { o.dns_names = {"bad_name"}; }, "bad_name"},
      {"empty label", [](TlsIdentityOptions& o) { o.dns_names = {"a..b"}; }, "a..b"},
      {"comma injection", [](TlsIdentityOptions& o) { o.dns_names = {"a.test,IP:10.0.0.1"}; },
       "not a DNS"},
      {"ip as dns", [](TlsIdentityOptions& o) { o.dns_names = {"10.0.0.1"}; }, "IP address"},
      {"bad ip", [](TlsIdentityOptions& o) { o.ip_addresses = {"300.1.1.1"}; }, "300.1.1.1"},
      {"no names",
       [](TlsIdentityOptions& o) {
         o.dns_names.clear();
         o.ip_addresses.clear();
       },
       "at least one"},
      {"site too long", [](TlsIdentityOptions& o) { o.site_id = std::string(50, 's'); }, "site id"},
      {"site with space", [](TlsIdentityOptions& o) { o.site_id = "a b"; }, "site id"},
      {"server too long", [](TlsIdentityOptions& o) { o.server_lifetime = kMaxServerLifetime + 1; },
       "825 days"},
      {"server outlives ca",
       [](TlsIdentityOptions& o) {
         o.ca_lifetime = 10 * kDaySeconds;
         o.server_lifetime = 20 * kDaySeconds;
       },
       "outlive"},
      {"zero ca lifetime", [](TlsIdentityOptions& o) { o.ca_lifetime = 0; }, "CA lifetime"},
      {"epoch", [](TlsIdentityOptions& o) { o.now = 0; }, "not plausible"},
  };
  for (const Case& c : cases) {
    TempDir dir;
    TlsIdentityOptions options = TestOptions();
    c.change(options);
    const Status created = CreateTlsIdentity(dir.path(), options);
    ASSERT_FALSE(created.ok()) << c.what;
    EXPECT_EQ(created.error().kind(), ErrorKind::kUsage) << c.what;
    EXPECT_NE(created.error().message().find(c.message_part), std::string::npos)
        << c.what << ": " << created.error().message();
    auto entries = fs::ListDirectory(dir.path());
    ASSERT_TRUE(entries.ok());
    EXPECT_TRUE(entries->empty()) << c.what;
  }
}

TEST(TlsIdentityCreate, MissingDataDirectoryIsAnIoError) {
  TempDir dir;
  const Status created = CreateTlsIdentity(dir.path() + "/absent", TestOptions());
  ASSERT_FALSE(created.ok());
  EXPECT_EQ(created.error().kind(), ErrorKind::kIo);
}

TEST(TlsIdentityCreate, EmptySiteAndDefaultNames) {
  TempDir dir;
  TlsIdentityOptions options;  // the defaults a bare `ferry-relay init` uses
  ASSERT_TRUE(CreateTlsIdentity(dir.path(), options).ok());
  const TlsFiles files = TlsFilesIn(dir.path());
  EXPECT_EQ(X509Field(files.ca_cert, "-subject -nameopt RFC2253"),
            "subject=CN=Ferry relay CA,O=Ferry\n");
  const std::string sans = X509Field(files.server_cert, "-ext subjectAltName");
  EXPECT_NE(sans.find("DNS:localhost"), std::string::npos) << sans;
  EXPECT_NE(sans.find("IP Address:127.0.0.1"), std::string::npos) << sans;
  const std::vector<std::string> defaults = DefaultServerDnsNames();
  ASSERT_FALSE(defaults.empty());
  EXPECT_EQ(defaults.front(), "localhost");
  for (const std::string& name : defaults) {
    EXPECT_NE(sans.find("DNS:" + name), std::string::npos) << name << " missing from " << sans;
  }
}

TEST_F(TlsIdentityTest, FingerprintMatchesOpenSsl) {
  auto fingerprint = CertificateFingerprint(files_.ca_cert);
  ASSERT_TRUE(fingerprint.ok()) << fingerprint.error().message();
  EXPECT_EQ(fingerprint->size(), 64u);
  EXPECT_EQ(fingerprint->find_first_not_of("0123456789abcdef"), std::string::npos);
  EXPECT_EQ(X509Field(files_.ca_cert, "-fingerprint -sha256"),
            "sha256 Fingerprint=" + FingerprintForDisplay(*fingerprint) + "\n");
  // The chain file's fingerprint is its first certificate's, the server's.
  auto server = CertificateFingerprint(files_.server_cert);
  ASSERT_TRUE(server.ok());
  EXPECT_NE(*server, *fingerprint);
  EXPECT_EQ(X509Field(files_.server_cert, "-fingerprint -sha256"),
            "sha256 Fingerprint=" + FingerprintForDisplay(*server) + "\n");
}

TEST(TlsFingerprint, DisplayFormAndErrors) {
  EXPECT_EQ(FingerprintForDisplay("00ab7f"), "00:AB:7F");
  EXPECT_EQ(FingerprintForDisplay(""), "");
  TempDir dir;
  WriteAll(dir / "junk.pem", "not a certificate\n");
  auto junk = CertificateFingerprint(dir / "junk.pem");
  ASSERT_FALSE(junk.ok());
  EXPECT_EQ(junk.error().kind(), ErrorKind::kInvalid);
  EXPECT_NE(junk.error().message().find("junk.pem"), std::string::npos);
  auto missing = CertificateFingerprint(dir / "missing.pem");
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.error().kind(), ErrorKind::kIo);
}

TEST_F(TlsIdentityTest, SignedClientCertificateVerifiesForClientAuthOnly) {
  auto key_and_csr = MakeClientKeyAndCsr("agent-host-7");
  ASSERT_TRUE(key_and_csr.ok()) << key_and_csr.error().message();
  EXPECT_TRUE(key_and_csr->key_pem.starts_with("-----BEGIN PRIVATE KEY-----\n"));
  WriteAll(dir_ / "client.csr", key_and_csr->csr_pem);
  const CommandResult csr_check = OpenSsl("req -verify -noout -in " + Quote(dir_ / "client.csr"));
  EXPECT_EQ(csr_check.exit_code, 0) << csr_check.err;

  // The certificate names the endpoint id the relay chose, not what the CSR asked for.
  auto cert =
      SignClientCertificate(files_, key_and_csr->csr_pem, "ep-0042", Now(), kDefaultClientLifetime);
  ASSERT_TRUE(cert.ok()) << cert.error().message();
  WriteAll(dir_ / "client.pem", *cert);
  WriteAll(dir_ / "client.key", key_and_csr->key_pem);

  const CommandResult client = OpenSsl("verify -purpose sslclient -CAfile " +
                                       Quote(files_.ca_cert) + " " + Quote(dir_ / "client.pem"));
  EXPECT_EQ(client.exit_code, 0) << client.out << client.err;
  const CommandResult as_server = OpenSsl("verify -purpose sslserver -CAfile " +
                                          Quote(files_.ca_cert) + " " + Quote(dir_ / "client.pem"));
  EXPECT_NE(as_server.exit_code, 0) << "a client certificate must not serve TLS";

  EXPECT_EQ(X509Field(dir_ / "client.pem", "-subject -nameopt RFC2253"), "subject=CN=ep-0042\n");
  const std::string extensions =
      X509Field(dir_ / "client.pem",
                "-ext basicConstraints,keyUsage,extendedKeyUsage,authorityKeyIdentifier");
  EXPECT_NE(extensions.find("CA:FALSE"), std::string::npos) << extensions;
  EXPECT_NE(extensions.find("TLS Web Client Authentication"), std::string::npos) << extensions;
  EXPECT_NE(extensions.find("Authority Key Identifier"), std::string::npos) << extensions;
  const CommandResult cert_key =
      Shell("openssl x509 -noout -pubkey -in " + Quote(dir_ / "client.pem"));
  const CommandResult file_key = Shell("openssl pkey -pubout -in " + Quote(dir_ / "client.key"));
  EXPECT_EQ(cert_key.out, file_key.out);

  auto common_name = CertificateCommonName(*cert);
  ASSERT_TRUE(common_name.ok()) << common_name.error().message();
  EXPECT_EQ(*common_name, "ep-0042");
}

TEST_F(TlsIdentityTest, ClientCertificateEndsNoLaterThanTheCa) {
  TempDir short_lived;
  TlsIdentityOptions options = TestOptions(kNewYear2026);
  options.ca_lifetime = 30 * kDaySeconds;
  options.server_lifetime = 10 * kDaySeconds;
  ASSERT_TRUE(CreateTlsIdentity(short_lived.path(), options).ok());
  const TlsFiles files = TlsFilesIn(short_lived.path());
  auto key_and_csr = MakeClientKeyAndCsr("ep-1");
  ASSERT_TRUE(key_and_csr.ok());
  auto cert =
      SignClientCertificate(files, key_and_csr->csr_pem, "ep-1", kNewYear2026, 365 * kDaySeconds);
  ASSERT_TRUE(cert.ok()) << cert.error().message();
  WriteAll(short_lived / "client.pem", *cert);
  EXPECT_EQ(X509Field(short_lived / "client.pem", "-startdate -enddate"),
            "notBefore=Dec 31 00:00:00 2025 GMT\nnotAfter=Jan 31 00:00:00 2026 GMT\n");
  EXPECT_EQ(X509Field(files.ca_cert, "-enddate"), "notAfter=Jan 31 00:00:00 2026 GMT\n");

  // Once the CA has expired the relay cannot enrol anyone.
  auto late = SignClientCertificate(files, key_and_csr->csr_pem, "ep-1",
                                    kNewYear2026 + 31 * kDaySeconds, kDaySeconds);
  ASSERT_FALSE(late.ok());
  EXPECT_NE(late.error().message().find("expired"), std::string::npos) << late.error().message();
}

TEST_F(TlsIdentityTest, AcceptsAnEd25519CsrFromOpenSsl) {
  const CommandResult made =
      Shell("openssl genpkey -algorithm ed25519 -out " + Quote(dir_ / "ed.key") +
            " && openssl req -new -key " + Quote(dir_ / "ed.key") + " -subj /CN=whatever -out " +
            Quote(dir_ / "ed.csr"));
  ASSERT_EQ(made.exit_code, 0) << made.err;
  auto cert = SignClientCertificate(files_, ReadAll(dir_ / "ed.csr"), "ep-ed", Now(),
                                    kDefaultClientLifetime);
  ASSERT_TRUE(cert.ok()) << cert.error().message();
  WriteAll(dir_ / "ed.pem", *cert);
  const CommandResult verify = OpenSsl("verify -purpose sslclient -CAfile " +
                                       Quote(files_.ca_cert) + " " + Quote(dir_ / "ed.pem"));
  EXPECT_EQ(verify.exit_code, 0) << verify.out << verify.err;
  EXPECT_NE(X509Field(dir_ / "ed.pem", "-text").find("ED25519"), std::string::npos);
}

TEST_F(TlsIdentityTest, RefusesACsrWhoseSignatureDoesNotVerify) {
  auto key_and_csr = MakeClientKeyAndCsr("ep-7");
  ASSERT_TRUE(key_and_csr.ok());
  // The last DER byte is the end of the ECDSA signature's s value.
  const std::string tampered = MutatePem(key_and_csr->csr_pem, "CERTIFICATE REQUEST",
                                         [](std::vector<uint8_t>& der) { der.back() ^= 0x01; });
  ASSERT_NE(tampered, key_and_csr->csr_pem);
  auto cert = SignClientCertificate(files_, tampered, "ep-7", Now(), kDefaultClientLifetime);
  ASSERT_FALSE(cert.ok());
  EXPECT_EQ(cert.error().kind(), ErrorKind::kInvalid);
  EXPECT_NE(cert.error().message().find("signature does not verify"), std::string::npos)
      << cert.error().message();

  // The same holds for a CSR whose signed content (here a byte of the subject) was changed.
  const std::string renamed =
      MutatePem(key_and_csr->csr_pem, "CERTIFICATE REQUEST", [](std::vector<uint8_t>& der) {
        for (size_t i = 0; i + 3 < der.size(); ++i) {
          if (der[i] == 'e' && der[i + 1] == 'p' && der[i + 2] == '-' && der[i + 3] == '7') {
            der[i + 3] = '8';
            return;
          }
        }
      });
  ASSERT_NE(renamed, key_and_csr->csr_pem);
  auto renamed_cert = SignClientCertificate(files_, renamed, "ep-7", Now(), kDaySeconds);
  ASSERT_FALSE(renamed_cert.ok());
  EXPECT_NE(renamed_cert.error().message().find("signature does not verify"), std::string::npos)
      << renamed_cert.error().message();
}

TEST_F(TlsIdentityTest, RefusesCsrsWithOtherKeysAlgorithmsOrShapes) {
  struct Case {
    const char* what;
    std::string command;  // writes $D/x.csr
    const char* message_part;
  };
  const std::string d = Quote(dir_.path());
  const Case cases[] = {
      {"rsa",
       "openssl req -new -newkey rsa:2048 -nodes -keyout " + d + "/x.key -subj /CN=a -out " + d +
           "/x.csr",
       "key type RSA"},
      {"p384",
       "openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-384 -nodes -keyout " + d +
           "/x.key -subj /CN=a -out " + d + "/x.csr",
       "not accepted"},
      {"sha1",
       "openssl req -new -sha1 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout " + d +
           "/x.key -subj /CN=a -out " + d + "/x.csr",
       "signature algorithm ecdsa-with-SHA1"},
  };
  for (const Case& c : cases) {
    const CommandResult made = Shell(c.command);
    ASSERT_EQ(made.exit_code, 0) << c.what << ": " << made.err;
    auto cert = SignClientCertificate(files_, ReadAll(dir_ / "x.csr"), "ep-x", Now(), kDaySeconds);
    ASSERT_FALSE(cert.ok()) << c.what;
    EXPECT_EQ(cert.error().kind(), ErrorKind::kInvalid) << c.what;
    EXPECT_NE(cert.error().message().find(c.message_part), std::string::npos)
        << c.what << ": " << cert.error().message();
  }

  auto good = MakeClientKeyAndCsr("ep-x");
  ASSERT_TRUE(good.ok());
  const std::string csr = good->csr_pem;
  const std::pair<const char*, std::string> shapes[] = {
      {"empty", ""},
      {"garbage", "hello\n"},
      {"two csrs", csr + csr},
      {"text after", csr + "trailing words\n"},
      {"text before", "Subject: ep-x\n" + csr},
      {"certificate instead", ReadAll(files_.ca_cert)},
      {"oversized", csr + std::string(20000, '\n')},
      {"body garbage",
       "-----BEGIN CERTIFICATE REQUEST-----\nAAAA\n-----END CERTIFICATE REQUEST-----\n"},
  };
  for (const auto& [what, text] : shapes) {
    auto cert = SignClientCertificate(files_, text, "ep-x", Now(), kDaySeconds);
    ASSERT_FALSE(cert.ok()) << what;
    EXPECT_EQ(cert.error().kind(), ErrorKind::kInvalid) << what << ": " << cert.error().message();
    EXPECT_TRUE(cert.error().message().starts_with("CSR: "))
        << what << ": " << cert.error().message();
  }
  // Surrounding whitespace alone is fine.
  EXPECT_TRUE(SignClientCertificate(files_, "\n\n" + csr + "\n", "ep-x", Now(), kDaySeconds).ok());
}

TEST_F(TlsIdentityTest, RefusesBadEndpointIdsAndLifetimes) {
  auto key_and_csr = MakeClientKeyAndCsr("ep-1");
  ASSERT_TRUE(key_and_csr.ok());
  for (const std::string& id : {std::string(), std::string("a b"), std::string(65, 'e'),
                                std::string("ep/1"), std::string("ep\n1")}) {
    auto cert = SignClientCertificate(files_, key_and_csr->csr_pem, id, Now(), kDaySeconds);
    ASSERT_FALSE(cert.ok()) << id;
    EXPECT_EQ(cert.error().kind(), ErrorKind::kUsage) << id;
  }
  EXPECT_TRUE(
      SignClientCertificate(files_, key_and_csr->csr_pem, std::string(64, 'e'), Now(), kDaySeconds)
          .ok());
  for (const int64_t lifetime : {int64_t{0}, int64_t{-5}, int64_t{11} * 365 * kDaySeconds}) {
    auto cert = SignClientCertificate(files_, key_and_csr->csr_pem, "ep-1", Now(), lifetime);
    ASSERT_FALSE(cert.ok()) << lifetime;
    EXPECT_EQ(cert.error().kind(), ErrorKind::kUsage) << lifetime;
  }
  EXPECT_FALSE(MakeClientKeyAndCsr("bad name").ok());
}

TEST_F(TlsIdentityTest, RefusesToSignWithACaKeyThatIsNotTheCas) {
  TempDir other;
  ASSERT_TRUE(CreateTlsIdentity(other.path(), TestOptions()).ok());
  TlsFiles mixed = files_;
  mixed.ca_key = TlsFilesIn(other.path()).ca_key;
  auto key_and_csr = MakeClientKeyAndCsr("ep-1");
  ASSERT_TRUE(key_and_csr.ok());
  auto cert = SignClientCertificate(mixed, key_and_csr->csr_pem, "ep-1", Now(), kDaySeconds);
  ASSERT_FALSE(cert.ok());
  EXPECT_NE(cert.error().message().find("does not match"), std::string::npos)
      << cert.error().message();

  // The server certificate is not a CA and cannot stand in for one.
  TlsFiles server_as_ca = files_;
  server_as_ca.ca_cert = files_.server_cert;
  server_as_ca.ca_key = files_.server_key;
  auto from_server =
      SignClientCertificate(server_as_ca, key_and_csr->csr_pem, "ep-1", Now(), kDaySeconds);
  ASSERT_FALSE(from_server.ok());
  EXPECT_NE(from_server.error().message().find("not a CA"), std::string::npos)
      << from_server.error().message();
}

TEST_F(TlsIdentityTest, CommonNameFromPemAndDer) {
  auto ca = CertificateCommonName(ReadAll(files_.ca_cert));
  ASSERT_TRUE(ca.ok()) << ca.error().message();
  EXPECT_EQ(*ca, "Ferry relay CA test-site");
  // A chain is not one certificate.
  EXPECT_FALSE(CertificateCommonName(ReadAll(files_.server_cert)).ok());
  EXPECT_FALSE(CertificateCommonName("").ok());
  EXPECT_FALSE(CertificateCommonName(ReadAll(files_.server_key)).ok());

  ASSERT_EQ(
      OpenSsl("x509 -outform DER -in " + Quote(files_.ca_cert) + " -out " + Quote(dir_ / "ca.der"))
          .exit_code,
      0);
  const std::string der = ReadAll(dir_ / "ca.der");
  auto from_der = CertificateCommonNameFromDer(AsBytes(der));
  ASSERT_TRUE(from_der.ok()) << from_der.error().message();
  EXPECT_EQ(*from_der, "Ferry relay CA test-site");
  auto trailing = CertificateCommonNameFromDer(AsBytes(der + "x"));
  ASSERT_FALSE(trailing.ok());
  EXPECT_NE(trailing.error().message().find("1 bytes after"), std::string::npos);
  EXPECT_FALSE(CertificateCommonNameFromDer(AsBytes(der.substr(0, der.size() - 1))).ok());

  // Two CNs would make the endpoint ambiguous.
  const CommandResult made =
      Shell("openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout " +
            Quote(dir_ / "two.key") + " -subj '/CN=ep-1/CN=ep-2' -days 1 -out " +
            Quote(dir_ / "two.pem"));
  ASSERT_EQ(made.exit_code, 0) << made.err;
  auto two = CertificateCommonName(ReadAll(dir_ / "two.pem"));
  ASSERT_FALSE(two.ok());
  EXPECT_NE(two.error().message().find("more than one"), std::string::npos);
}

// An `openssl s_server` on 127.0.0.1, port chosen by the kernel, stopped on destruction. It runs
// under `timeout` so that a test that fails early can never leave it behind.
class OpenSslServer {
 public:
  OpenSslServer(const std::string& dir, const std::string& arguments) : out_(dir + "/server.out") {
    const std::string command = "exec timeout 30 openssl s_server -accept 127.0.0.1:0 -naccept 1 " +
                                arguments + " >" + Quote(out_) + " 2>&1 </dev/null";
    pid_ = ::fork();
    if (pid_ == 0) {
      ::execl("/bin/sh", "sh", "-c", command.c_str(), static_cast<char*>(nullptr));
      ::_exit(127);
    }
  }
  ~OpenSslServer() {
    if (pid_ > 0) {
      ::kill(pid_, SIGTERM);
      int status = 0;
      ::waitpid(pid_, &status, 0);
    }
  }
  OpenSslServer(const OpenSslServer&) = delete;
  OpenSslServer& operator=(const OpenSslServer&) = delete;

  // The listening port, or 0 when the server did not come up within ten seconds.
  int WaitForPort() {
    const std::string marker = "ACCEPT 127.0.0.1:";
    for (int i = 0; i < 200; ++i) {
      const std::string out = ReadAll(out_);
      if (const size_t at = out.find(marker); at != std::string::npos) {
        const size_t end = out.find('\n', at);
        if (end != std::string::npos) {
          return std::stoi(out.substr(at + marker.size(), end - at - marker.size()));
        }
      }
      int status = 0;
      if (::waitpid(pid_, &status, WNOHANG) == pid_) {
        pid_ = -1;
        return 0;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    return 0;
  }
  std::string Output() const { return ReadAll(out_); }

 private:
  std::string out_;
  pid_t pid_ = -1;
};

// A real handshake both ways: the client pins ca.pem and checks the name and address, the server
// demands a client certificate from the same CA; a page then crosses the connection.
TEST_F(TlsIdentityTest, MutualTlsHandshakeWithOpenSslTools) {
  ASSERT_NO_FATAL_FAILURE(MakeClient("ep-tls", dir_ / "client.key", dir_ / "client.pem"));
  WriteAll(dir_ / "request.txt", "GET / HTTP/1.0\r\n\r\n");
  OpenSslServer server(dir_.path(), "-www -cert " + Quote(files_.server_cert) + " -cert_chain " +
                                        Quote(files_.server_cert) + " -key " +
                                        Quote(files_.server_key) + " -Verify 1 -CAfile " +
                                        Quote(files_.ca_cert) + " -verify_return_error");
  const int port = server.WaitForPort();
  ASSERT_GT(port, 0) << server.Output();
  const CommandResult client =
      Shell("timeout 20 openssl s_client -connect 127.0.0.1:" + std::to_string(port) + " -CAfile " +
            Quote(files_.ca_cert) + " -verify_return_error -verify_hostname localhost" +
            " -verify_ip 127.0.0.1 -cert " + Quote(dir_ / "client.pem") + " -key " +
            Quote(dir_ / "client.key") + " -brief -ign_eof < " + Quote(dir_ / "request.txt"));
  EXPECT_EQ(client.exit_code, 0) << client.out << client.err;
  EXPECT_NE(client.err.find("Verification: OK"), std::string::npos) << client.err;
  EXPECT_NE(client.out.find("HTTP/1.0 200 ok"), std::string::npos) << client.out;
}

TEST_F(TlsIdentityTest, HandshakeFailsAgainstAnotherRelaysCa) {
  TempDir other;
  ASSERT_TRUE(CreateTlsIdentity(other.path(), TestOptions()).ok());
  OpenSslServer server(
      dir_.path(), "-www -cert " + Quote(files_.server_cert) + " -key " + Quote(files_.server_key));
  const int port = server.WaitForPort();
  ASSERT_GT(port, 0) << server.Output();
  const CommandResult client =
      Shell("timeout 20 openssl s_client -connect 127.0.0.1:" + std::to_string(port) + " -CAfile " +
            Quote(TlsFilesIn(other.path()).ca_cert) + " -verify_return_error -brief");
  EXPECT_NE(client.exit_code, 0) << client.out << client.err;
  EXPECT_NE(client.exit_code, 124) << "the client hung until timeout";
  EXPECT_NE(client.err.find("verify"), std::string::npos) << client.err;
}

}  // namespace
}  // namespace ferry::relay
