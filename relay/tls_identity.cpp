#include "relay/tls_identity.hpp"

#include <arpa/inet.h>
#include <openssl/asn1.h>
#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/buffer.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/objects.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <climits>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <memory>
#include <utility>

#include "bundler/manifest.hpp"
#include "common/encoding.hpp"
#include "common/file.hpp"
#include "common/net.hpp"
#include "crypto/secure.hpp"

namespace ferry::relay {
namespace {

// Our own files hold a certificate or two; a CSR is a few hundred bytes. Anything far larger is
// not what we wrote or what an agent sends.
constexpr size_t kMaxCertificateFile = 64 * 1024;
constexpr size_t kMaxKeyFile = 16 * 1024;
constexpr size_t kMaxCsr = 16 * 1024;
constexpr int64_t kMaxCaLifetime = 30 * 365 * kDaySeconds;
constexpr int64_t kMaxClientLifetime = 10 * 365 * kDaySeconds;
constexpr size_t kMaxSans = 64;

template <auto kFree>
struct Deleter {
  template <typename T>
  void operator()(T* pointer) const {
    kFree(pointer);
  }
};

using BioPtr = std::unique_ptr<BIO, Deleter<BIO_free_all>>;
using PkeyPtr = std::unique_ptr<EVP_PKEY, Deleter<EVP_PKEY_free>>;
using PkeyCtxPtr = std::unique_ptr<EVP_PKEY_CTX, Deleter<EVP_PKEY_CTX_free>>;
using X509Ptr = std::unique_ptr<X509, Deleter<X509_free>>;
using ReqPtr = std::unique_ptr<X509_REQ, Deleter<X509_REQ_free>>;
using NamePtr = std::unique_ptr<X509_NAME, Deleter<X509_NAME_free>>;
using ExtensionPtr = std::unique_ptr<X509_EXTENSION, Deleter<X509_EXTENSION_free>>;
using GeneralNamesPtr = std::unique_ptr<GENERAL_NAMES, Deleter<GENERAL_NAMES_free>>;
using GeneralNamePtr = std::unique_ptr<GENERAL_NAME, Deleter<GENERAL_NAME_free>>;
using Ia5Ptr = std::unique_ptr<ASN1_IA5STRING, Deleter<ASN1_IA5STRING_free>>;
using OctetsPtr = std::unique_ptr<ASN1_OCTET_STRING, Deleter<ASN1_OCTET_STRING_free>>;
using BignumPtr = std::unique_ptr<BIGNUM, Deleter<BN_free>>;
using IntegerPtr = std::unique_ptr<ASN1_INTEGER, Deleter<ASN1_INTEGER_free>>;

// Text that held a private key: wiped before its memory goes back to the allocator.
class SecretText {
 public:
  SecretText() = default;
  explicit SecretText(std::string text) : text_(std::move(text)) {}
  SecretText(SecretText&& other) noexcept : text_(std::move(other.text_)) { other.Wipe(); }
  SecretText& operator=(SecretText&& other) noexcept {
    Wipe();
    text_ = std::move(other.text_);
    other.Wipe();
    return *this;
  }
  SecretText(const SecretText&) = delete;
  SecretText& operator=(const SecretText&) = delete;
  ~SecretText() { Wipe(); }

  const std::string& text() const { return text_; }
  // Hands the text to a caller that takes over the duty of keeping it safe.
  std::string Release() { return std::exchange(text_, std::string()); }

 private:
  void Wipe() {
    crypto::SecureWipe(text_.data(), text_.size());
    text_.clear();
  }
  std::string text_;
};

// The oldest queued OpenSSL error names the root cause; the rest are dropped so that the next
// failure does not report this one's leftovers.
Error OpenSslError(const std::string& what, ErrorKind kind = ErrorKind::kIo) {
  std::string reason = "no reason reported";
  if (const unsigned long code = ERR_get_error(); code != 0) {
    std::array<char, 256> buffer{};
    ERR_error_string_n(code, buffer.data(), buffer.size());
    reason = buffer.data();
  }
  ERR_clear_error();
  return Error(kind, what + ": " + reason);
}

// Our key files are never encrypted (the data directory's permissions protect them); without
// this callback OpenSSL would prompt on the terminal for a passphrase.
int RefusePassphrase(char* /*buffer*/, int /*size*/, int /*rwflag*/, void* /*user*/) { return -1; }

bool IsWhitespace(char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n'; }

std::string_view TrimWhitespace(std::string_view text) {
  while (!text.empty() && IsWhitespace(text.front())) {
    text.remove_prefix(1);
  }
  while (!text.empty() && IsWhitespace(text.back())) {
    text.remove_suffix(1);
  }
  return text;
}

// Input from the network or a caller must be one PEM block of the expected kind and nothing
// else: OpenSSL's reader would skip text around a block and stop after the first one.
Status CheckSinglePemBlock(std::string_view text, std::string_view label, const std::string& what) {
  const std::string begin = "-----BEGIN " + std::string(label) + "-----";
  const std::string end = "-----END " + std::string(label) + "-----";
  const std::string_view trimmed = TrimWhitespace(text);
  if (!trimmed.starts_with(begin) || !trimmed.ends_with(end)) {
    return InvalidError(what + ": not a single PEM \"" + std::string(label) + "\" block");
  }
  if (trimmed.find("-----BEGIN", 1) != std::string_view::npos) {
    return InvalidError(what + ": more than one PEM block");
  }
  return Ok();
}

Result<BioPtr> MemoryReader(std::string_view data, const std::string& what) {
  if (data.size() > INT_MAX) {
    return InvalidError(what + ": too large");
  }
  BioPtr bio(BIO_new_mem_buf(data.data(), static_cast<int>(data.size())));
  if (!bio) {
    return OpenSslError(what + ": BIO_new_mem_buf");
  }
  return bio;
}

Result<BioPtr> MemoryWriter(bool secret) {
  // The secure-memory BIO clears its buffer when freed, so a key's PEM text leaves no copy.
  BioPtr bio(BIO_new(secret ? BIO_s_secmem() : BIO_s_mem()));
  if (!bio) {
    return OpenSslError("BIO_new");
  }
  return bio;
}

std::string Contents(BIO* bio) {
  BUF_MEM* buffer = nullptr;
  BIO_get_mem_ptr(bio, &buffer);
  if (buffer == nullptr) {
    return {};
  }
  return std::string(buffer->data, buffer->length);
}

Result<X509Ptr> ParseCertificatePem(std::string_view pem, const std::string& what) {
  FERRY_ASSIGN_OR_RETURN(BioPtr bio, MemoryReader(pem, what));
  X509Ptr cert(PEM_read_bio_X509(bio.get(), nullptr, RefusePassphrase, nullptr));
  if (!cert) {
    return OpenSslError(what + ": cannot read a PEM certificate", ErrorKind::kInvalid);
  }
  return cert;
}

// Our own certificate files: the first certificate counts (server.pem carries the CA after it).
Result<X509Ptr> LoadCertificateFile(const std::string& path) {
  FERRY_ASSIGN_OR_RETURN(std::string pem, fs::ReadFile(path, kMaxCertificateFile));
  return ParseCertificatePem(pem, path);
}

Result<PkeyPtr> LoadPrivateKeyFile(const std::string& path) {
  FERRY_ASSIGN_OR_RETURN(std::string read, fs::ReadFile(path, kMaxKeyFile));
  const SecretText pem(std::move(read));
  FERRY_ASSIGN_OR_RETURN(BioPtr bio, MemoryReader(pem.text(), path));
  PkeyPtr key(PEM_read_bio_PrivateKey(bio.get(), nullptr, RefusePassphrase, nullptr));
  if (!key) {
    return OpenSslError(path + ": cannot read an unencrypted PEM private key", ErrorKind::kInvalid);
  }
  return key;
}

Result<std::string> CertificatePem(X509* cert) {
  FERRY_ASSIGN_OR_RETURN(BioPtr bio, MemoryWriter(false));
  if (PEM_write_bio_X509(bio.get(), cert) != 1) {
    return OpenSslError("PEM_write_bio_X509");
  }
  return Contents(bio.get());
}

Result<SecretText> PrivateKeyPem(EVP_PKEY* key) {
  FERRY_ASSIGN_OR_RETURN(BioPtr bio, MemoryWriter(true));
  if (PEM_write_bio_PrivateKey(bio.get(), key, nullptr, nullptr, 0, nullptr, nullptr) != 1) {
    return OpenSslError("PEM_write_bio_PrivateKey");
  }
  return SecretText(Contents(bio.get()));
}

Result<PkeyPtr> GenerateP256Key() {
  PkeyPtr key(EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", "P-256"));
  if (!key) {
    return OpenSslError("generating an EC P-256 key");
  }
  return key;
}

bool IsP256(EVP_PKEY* key) {
  if (EVP_PKEY_is_a(key, "EC") != 1) {
    return false;
  }
  std::array<char, 64> group{};
  size_t length = 0;
  if (EVP_PKEY_get_group_name(key, group.data(), group.size(), &length) != 1) {
    ERR_clear_error();
    return false;
  }
  int nid = OBJ_sn2nid(group.data());
  if (nid == NID_undef) {
    nid = EC_curve_nist2nid(group.data());
  }
  return nid == NID_X9_62_prime256v1;
}

// The address bytes a SAN carries: 4 for IPv4, 16 for IPv6; empty when `text` is neither.
std::vector<uint8_t> ParseIpAddress(const std::string& text) {
  std::array<uint8_t, 16> bytes{};
  if (::inet_pton(AF_INET, text.c_str(), bytes.data()) == 1) {
    return {bytes.begin(), bytes.begin() + 4};
  }
  if (::inet_pton(AF_INET6, text.c_str(), bytes.data()) == 1) {
    return {bytes.begin(), bytes.end()};
  }
  return {};
}

// Same alphabet as other Ferry identifiers, bounded by what a certificate's CN may hold.
bool IsEndpointId(std::string_view id) {
  return id.size() <= kMaxEndpointId && bundler::IsSafeIdentifier(id);
}

Status CheckLifetime(int64_t lifetime, int64_t max, const std::string& what) {
  if (lifetime <= 0 || lifetime > max) {
    return UsageError(what + " must be between 1 second and " + std::to_string(max / kDaySeconds) +
                      " days, not " + std::to_string(lifetime) + " seconds");
  }
  return Ok();
}

Status CheckNow(UnixTime now) {
  // Certificates start kClockSkewAllowance before now; earlier than that is not a real clock.
  if (now <= kClockSkewAllowance || now > (int64_t{1} << 40)) {
    return UsageError("the current time " + std::to_string(now) + " is not plausible");
  }
  return Ok();
}

Result<UnixTime> ToUnixTime(const ASN1_TIME* time, const std::string& what) {
  struct tm parts {};
  if (ASN1_TIME_to_tm(time, &parts) != 1) {
    return OpenSslError(what + ": unreadable time", ErrorKind::kInvalid);
  }
  return static_cast<UnixTime>(::timegm(&parts));
}

Status SetRandomSerial(X509* cert) {
  std::array<uint8_t, 16> bytes{};
  BignumPtr number(BN_new());
  if (!number) {
    return OpenSslError("BN_new");
  }
  // A serial must be positive: an all-zero draw (chance 2^-128) is simply drawn again.
  do {
    if (RAND_bytes(bytes.data(), static_cast<int>(bytes.size())) != 1) {
      return OpenSslError("RAND_bytes for a certificate serial");
    }
    if (BN_bin2bn(bytes.data(), static_cast<int>(bytes.size()), number.get()) == nullptr) {
      return OpenSslError("BN_bin2bn");
    }
  } while (BN_is_zero(number.get()));
  IntegerPtr serial(BN_to_ASN1_INTEGER(number.get(), nullptr));
  if (!serial) {
    return OpenSslError("BN_to_ASN1_INTEGER");
  }
  if (X509_set_serialNumber(cert, serial.get()) != 1) {
    return OpenSslError("X509_set_serialNumber");
  }
  return Ok();
}

Status SetValidity(X509* cert, UnixTime not_before, UnixTime not_after) {
  if (ASN1_TIME_set(X509_getm_notBefore(cert), static_cast<time_t>(not_before)) == nullptr) {
    return OpenSslError("setting notBefore");
  }
  if (ASN1_TIME_set(X509_getm_notAfter(cert), static_cast<time_t>(not_after)) == nullptr) {
    return OpenSslError("setting notAfter");
  }
  return Ok();
}

Status AddNameEntry(X509_NAME* name, int nid, const std::string& value) {
  if (value.size() > INT_MAX ||
      X509_NAME_add_entry_by_NID(name, nid, MBSTRING_UTF8,
                                 reinterpret_cast<const unsigned char*>(value.data()),
                                 static_cast<int>(value.size()), -1, 0) != 1) {
    return OpenSslError(std::string("adding ") + OBJ_nid2sn(nid) + "=\"" + value + "\" to a name");
  }
  return Ok();
}

// Subjects are "O=Ferry, CN=..." for the relay's own certificates and "CN=..." for endpoints.
Result<NamePtr> MakeName(const std::string& organization, const std::string& common_name) {
  NamePtr name(X509_NAME_new());
  if (!name) {
    return OpenSslError("X509_NAME_new");
  }
  if (!organization.empty()) {
    FERRY_RETURN_IF_ERROR(AddNameEntry(name.get(), NID_organizationName, organization));
  }
  FERRY_RETURN_IF_ERROR(AddNameEntry(name.get(), NID_commonName, common_name));
  return name;
}

// Extensions written in OpenSSL's configuration syntax: only fixed strings from this file are
// passed, never caller input, so nothing can be injected into the syntax.
Status AddExtension(X509* cert, X509* issuer, int nid, const char* value) {
  X509V3_CTX context;
  X509V3_set_ctx(&context, issuer, cert, nullptr, nullptr, 0);
  ExtensionPtr extension(X509V3_EXT_conf_nid(nullptr, &context, nid, value));
  if (!extension) {
    return OpenSslError(std::string("making the ") + OBJ_nid2sn(nid) + " extension");
  }
  if (X509_add_ext(cert, extension.get(), -1) != 1) {
    return OpenSslError(std::string("adding the ") + OBJ_nid2sn(nid) + " extension");
  }
  return Ok();
}

// GENERAL_NAME_set0_value hands `value` to the name at once, so the name frees it on any later
// failure; the stack owns the name only once the push succeeds.
Status PushGeneralName(GENERAL_NAMES* names, int type, void* value, void (*free_value)(void*)) {
  GeneralNamePtr name(GENERAL_NAME_new());
  if (!name) {
    free_value(value);
    return OpenSslError("GENERAL_NAME_new");
  }
  GENERAL_NAME_set0_value(name.get(), type, value);
  if (sk_GENERAL_NAME_push(names, name.get()) == 0) {
    return OpenSslError("adding a subjectAltName entry");
  }
  name.release();
  return Ok();
}

void FreeAsn1String(void* value) { ASN1_STRING_free(static_cast<ASN1_STRING*>(value)); }

// The extensions every certificate the CA signs for a server or client carries; `purpose` is the
// extendedKeyUsage ("serverAuth" or "clientAuth").
Status AddLeafExtensions(X509* cert, X509* issuer, const char* purpose) {
  FERRY_RETURN_IF_ERROR(AddExtension(cert, issuer, NID_basic_constraints, "critical,CA:FALSE"));
  FERRY_RETURN_IF_ERROR(AddExtension(cert, issuer, NID_key_usage, "critical,digitalSignature"));
  FERRY_RETURN_IF_ERROR(AddExtension(cert, issuer, NID_ext_key_usage, purpose));
  FERRY_RETURN_IF_ERROR(AddExtension(cert, issuer, NID_subject_key_identifier, "hash"));
  return AddExtension(cert, issuer, NID_authority_key_identifier, "keyid:always");
}

// Built from typed values rather than the configuration syntax, so a name can never smuggle in
// a second entry.
Status AddSubjectAltNames(X509* cert, const std::vector<std::string>& dns_names,
                          const std::vector<std::vector<uint8_t>>& ip_addresses) {
  GeneralNamesPtr names(sk_GENERAL_NAME_new_null());
  if (!names) {
    return OpenSslError("sk_GENERAL_NAME_new_null");
  }
  for (const std::string& dns : dns_names) {
    Ia5Ptr text(ASN1_IA5STRING_new());
    if (!text || ASN1_STRING_set(text.get(), dns.data(), static_cast<int>(dns.size())) != 1) {
      return OpenSslError("making a DNS subjectAltName");
    }
    FERRY_RETURN_IF_ERROR(PushGeneralName(names.get(), GEN_DNS, text.release(), FreeAsn1String));
  }
  for (const std::vector<uint8_t>& address : ip_addresses) {
    OctetsPtr octets(ASN1_OCTET_STRING_new());
    if (!octets || ASN1_OCTET_STRING_set(octets.get(), address.data(),
                                         static_cast<int>(address.size())) != 1) {
      return OpenSslError("making an IP subjectAltName");
    }
    FERRY_RETURN_IF_ERROR(
        PushGeneralName(names.get(), GEN_IPADD, octets.release(), FreeAsn1String));
  }
  if (X509_add1_ext_i2d(cert, NID_subject_alt_name, names.get(), 0, X509V3_ADD_DEFAULT) != 1) {
    return OpenSslError("adding the subjectAltName extension");
  }
  return Ok();
}

struct CertificateTemplate {
  const X509_NAME* subject = nullptr;
  EVP_PKEY* public_key = nullptr;
  UnixTime not_before = 0;
  UnixTime not_after = 0;
};

// The parts every certificate here shares: v3, a random serial, names, validity, the key.
// `issuer` null means self-signed.
Result<X509Ptr> StartCertificate(const CertificateTemplate& fields, X509* issuer) {
  X509Ptr cert(X509_new());
  if (!cert) {
    return OpenSslError("X509_new");
  }
  if (X509_set_version(cert.get(), X509_VERSION_3) != 1) {
    return OpenSslError("X509_set_version");
  }
  FERRY_RETURN_IF_ERROR(SetRandomSerial(cert.get()));
  if (X509_set_subject_name(cert.get(), fields.subject) != 1) {
    return OpenSslError("X509_set_subject_name");
  }
  const X509_NAME* issuer_name = issuer ? X509_get_subject_name(issuer) : fields.subject;
  if (X509_set_issuer_name(cert.get(), issuer_name) != 1) {
    return OpenSslError("X509_set_issuer_name");
  }
  FERRY_RETURN_IF_ERROR(SetValidity(cert.get(), fields.not_before, fields.not_after));
  if (X509_set_pubkey(cert.get(), fields.public_key) != 1) {
    return OpenSslError("X509_set_pubkey");
  }
  return cert;
}

Status Sign(X509* cert, EVP_PKEY* issuer_key) {
  if (X509_sign(cert, issuer_key, EVP_sha256()) <= 0) {
    return OpenSslError("signing a certificate");
  }
  return Ok();
}

struct Ca {
  X509Ptr cert;
  PkeyPtr key;
};

Result<Ca> MakeCa(const TlsIdentityOptions& options) {
  Ca ca;
  FERRY_ASSIGN_OR_RETURN(ca.key, GenerateP256Key());
  const std::string common_name =
      options.site_id.empty() ? "Ferry relay CA" : "Ferry relay CA " + options.site_id;
  FERRY_ASSIGN_OR_RETURN(NamePtr subject, MakeName("Ferry", common_name));
  const CertificateTemplate fields{subject.get(), ca.key.get(), options.now - kClockSkewAllowance,
                                   options.now + options.ca_lifetime};
  FERRY_ASSIGN_OR_RETURN(ca.cert, StartCertificate(fields, nullptr));
  X509* cert = ca.cert.get();
  // pathlen:0 because this CA only ever signs end-entity certificates.
  FERRY_RETURN_IF_ERROR(
      AddExtension(cert, cert, NID_basic_constraints, "critical,CA:TRUE,pathlen:0"));
  FERRY_RETURN_IF_ERROR(AddExtension(cert, cert, NID_key_usage, "critical,keyCertSign,cRLSign"));
  FERRY_RETURN_IF_ERROR(AddExtension(cert, cert, NID_subject_key_identifier, "hash"));
  FERRY_RETURN_IF_ERROR(Sign(cert, ca.key.get()));
  return ca;
}

Result<X509Ptr> MakeServerCertificate(const TlsIdentityOptions& options, const Ca& ca,
                                      EVP_PKEY* server_key,
                                      const std::vector<std::vector<uint8_t>>& addresses) {
  const std::string common_name =
      options.site_id.empty() ? "Ferry relay" : "Ferry relay " + options.site_id;
  FERRY_ASSIGN_OR_RETURN(NamePtr subject, MakeName("Ferry", common_name));
  const CertificateTemplate fields{subject.get(), server_key, options.now - kClockSkewAllowance,
                                   options.now + options.server_lifetime};
  FERRY_ASSIGN_OR_RETURN(X509Ptr cert, StartCertificate(fields, ca.cert.get()));
  FERRY_RETURN_IF_ERROR(AddLeafExtensions(cert.get(), ca.cert.get(), "serverAuth"));
  FERRY_RETURN_IF_ERROR(AddSubjectAltNames(cert.get(), options.dns_names, addresses));
  FERRY_RETURN_IF_ERROR(Sign(cert.get(), ca.key.get()));
  return cert;
}

Result<std::vector<std::vector<uint8_t>>> CheckOptions(const TlsIdentityOptions& options) {
  FERRY_RETURN_IF_ERROR(CheckNow(options.now));
  if (!options.site_id.empty() &&
      (options.site_id.size() > kMaxTlsSiteId || !bundler::IsSafeIdentifier(options.site_id))) {
    return UsageError("site id \"" + options.site_id +
                      "\" cannot go into the CA's name: use up to " +
                      std::to_string(kMaxTlsSiteId) + " characters of [A-Za-z0-9._+~:-]");
  }
  FERRY_RETURN_IF_ERROR(CheckLifetime(options.ca_lifetime, kMaxCaLifetime, "the CA lifetime"));
  FERRY_RETURN_IF_ERROR(CheckLifetime(options.server_lifetime, kMaxServerLifetime,
                                      "the server certificate lifetime"));
  if (options.server_lifetime > options.ca_lifetime) {
    return UsageError("the server certificate cannot outlive its CA");
  }
  if (options.dns_names.empty() && options.ip_addresses.empty()) {
    return UsageError("the server certificate needs at least one DNS name or IP address");
  }
  if (options.dns_names.size() + options.ip_addresses.size() > kMaxSans) {
    return UsageError("at most " + std::to_string(kMaxSans) + " server names and addresses");
  }
  for (const std::string& dns : options.dns_names) {
    if (!net::IsDnsName(dns)) {
      return UsageError("\"" + dns + "\" is not a DNS host name");
    }
    if (!ParseIpAddress(dns).empty()) {
      return UsageError("\"" + dns + "\" is an IP address: list it among the IP addresses");
    }
  }
  std::vector<std::vector<uint8_t>> addresses;
  for (const std::string& ip : options.ip_addresses) {
    std::vector<uint8_t> bytes = ParseIpAddress(ip);
    if (bytes.empty()) {
      return UsageError("\"" + ip + "\" is not an IPv4 or IPv6 address");
    }
    addresses.push_back(std::move(bytes));
  }
  return addresses;
}

Status WriteStagedFiles(const std::string& staging, const std::string& ca_pem,
                        const SecretText& ca_key, const std::string& server_chain,
                        const SecretText& server_key) {
  const TlsFiles staged{fs::JoinPath(staging, "ca.pem"), fs::JoinPath(staging, "ca.key"),
                        fs::JoinPath(staging, "server.pem"), fs::JoinPath(staging, "server.key")};
  FERRY_RETURN_IF_ERROR(fs::WriteFileAtomic(staged.ca_key, ca_key.text(), 0600, false));
  FERRY_RETURN_IF_ERROR(fs::WriteFileAtomic(staged.ca_cert, ca_pem, 0644, false));
  FERRY_RETURN_IF_ERROR(fs::WriteFileAtomic(staged.server_key, server_key.text(), 0600, false));
  FERRY_RETURN_IF_ERROR(fs::WriteFileAtomic(staged.server_cert, server_chain, 0644, false));
  return Ok();
}

Result<std::string> CommonNameOf(X509* cert, const std::string& what) {
  const X509_NAME* subject = X509_get_subject_name(cert);
  const int index = X509_NAME_get_index_by_NID(subject, NID_commonName, -1);
  if (index < 0) {
    return InvalidError(what + ": the subject has no common name");
  }
  if (X509_NAME_get_index_by_NID(subject, NID_commonName, index) >= 0) {
    return InvalidError(what + ": the subject has more than one common name");
  }
  const X509_NAME_ENTRY* entry = X509_NAME_get_entry(subject, index);
  unsigned char* utf8 = nullptr;
  const int length = ASN1_STRING_to_UTF8(&utf8, X509_NAME_ENTRY_get_data(entry));
  if (length < 0) {
    return OpenSslError(what + ": the common name is not valid text", ErrorKind::kInvalid);
  }
  std::string common_name(reinterpret_cast<const char*>(utf8), static_cast<size_t>(length));
  OPENSSL_free(utf8);
  if (common_name.find('\0') != std::string::npos) {
    return InvalidError(what + ": the common name contains a NUL byte");
  }
  return common_name;
}

// The CSR's own claims (subject, extensions) are ignored: only its key is certified, and only
// after the CSR proves possession of the private half with an acceptable algorithm.
Result<ReqPtr> CheckCsr(std::string_view csr_pem) {
  if (csr_pem.size() > kMaxCsr) {
    return InvalidError("CSR: larger than " + std::to_string(kMaxCsr) + " bytes");
  }
  FERRY_RETURN_IF_ERROR(CheckSinglePemBlock(csr_pem, "CERTIFICATE REQUEST", "CSR"));
  FERRY_ASSIGN_OR_RETURN(BioPtr bio, MemoryReader(csr_pem, "CSR"));
  ReqPtr request(PEM_read_bio_X509_REQ(bio.get(), nullptr, RefusePassphrase, nullptr));
  if (!request) {
    return OpenSslError("CSR: cannot parse", ErrorKind::kInvalid);
  }
  if (X509_REQ_get_version(request.get()) != X509_REQ_VERSION_1) {
    return InvalidError("CSR: unknown version " +
                        std::to_string(X509_REQ_get_version(request.get()) + 1));
  }
  EVP_PKEY* key = X509_REQ_get0_pubkey(request.get());
  if (key == nullptr) {
    return OpenSslError("CSR: unreadable public key", ErrorKind::kInvalid);
  }
  const bool is_ed25519 = EVP_PKEY_is_a(key, "ED25519") == 1;
  if (!is_ed25519 && !IsP256(key)) {
    return InvalidError(std::string("CSR: key type ") + EVP_PKEY_get0_type_name(key) +
                        " is not accepted (EC P-256 or Ed25519)");
  }
  const int signature_nid = X509_REQ_get_signature_nid(request.get());
  const bool signature_ok = is_ed25519 ? signature_nid == NID_ED25519
                                       : (signature_nid == NID_ecdsa_with_SHA256 ||
                                          signature_nid == NID_ecdsa_with_SHA384 ||
                                          signature_nid == NID_ecdsa_with_SHA512);
  if (!signature_ok) {
    return InvalidError(std::string("CSR: signature algorithm ") + OBJ_nid2sn(signature_nid) +
                        " is not accepted");
  }
  if (!is_ed25519) {
    PkeyCtxPtr context(EVP_PKEY_CTX_new_from_pkey(nullptr, key, nullptr));
    if (!context) {
      return OpenSslError("EVP_PKEY_CTX_new_from_pkey");
    }
    if (EVP_PKEY_public_check(context.get()) != 1) {
      return OpenSslError("CSR: the public key is not a valid P-256 point", ErrorKind::kInvalid);
    }
  }
  const int verified = X509_REQ_verify(request.get(), key);
  if (verified != 1) {
    return OpenSslError("CSR: the signature does not verify", ErrorKind::kInvalid);
  }
  return request;
}

Result<Ca> LoadCa(const TlsFiles& files, UnixTime now) {
  Ca ca;
  FERRY_ASSIGN_OR_RETURN(ca.cert, LoadCertificateFile(files.ca_cert));
  FERRY_ASSIGN_OR_RETURN(ca.key, LoadPrivateKeyFile(files.ca_key));
  if (X509_check_private_key(ca.cert.get(), ca.key.get()) != 1) {
    return OpenSslError(files.ca_key + ": does not match " + files.ca_cert, ErrorKind::kInvalid);
  }
  if (X509_check_ca(ca.cert.get()) == 0) {
    return InvalidError(files.ca_cert + ": not a CA certificate");
  }
  FERRY_ASSIGN_OR_RETURN(const UnixTime not_after,
                         ToUnixTime(X509_get0_notAfter(ca.cert.get()), files.ca_cert));
  if (not_after <= now) {
    return InvalidError(files.ca_cert + ": the CA expired at " + FormatTime(not_after));
  }
  return ca;
}

}  // namespace

TlsFiles TlsFilesIn(const std::string& data_dir) {
  const std::string tls = fs::JoinPath(data_dir, "tls");
  return TlsFiles{fs::JoinPath(tls, "ca.pem"), fs::JoinPath(tls, "ca.key"),
                  fs::JoinPath(tls, "server.pem"), fs::JoinPath(tls, "server.key")};
}

std::vector<std::string> DefaultServerDnsNames() {
  std::vector<std::string> names = {"localhost"};
  std::array<char, 256> host{};
  if (::gethostname(host.data(), host.size() - 1) == 0) {
    const std::string name = host.data();
    // A host name that is not a valid DNS name (or is "localhost") adds nothing usable.
    if (net::IsDnsName(name) && ParseIpAddress(name).empty() && name != "localhost") {
      names.push_back(name);
    }
  }
  return names;
}

std::vector<std::string> DefaultServerIpAddresses() { return {"127.0.0.1", "::1"}; }

Status CreateTlsIdentity(const std::string& data_dir, const TlsIdentityOptions& options) {
  ERR_clear_error();
  FERRY_ASSIGN_OR_RETURN(const std::vector<std::vector<uint8_t>> addresses, CheckOptions(options));
  if (!fs::IsDirectory(data_dir)) {
    return IoError(data_dir + ": not a directory");
  }
  const TlsFiles files = TlsFilesIn(data_dir);
  for (const std::string& path :
       {files.ca_cert, files.ca_key, files.server_cert, files.server_key}) {
    if (fs::Exists(path)) {
      return IoError(path + ": already exists; refusing to overwrite");
    }
  }

  FERRY_ASSIGN_OR_RETURN(const Ca ca, MakeCa(options));
  FERRY_ASSIGN_OR_RETURN(const PkeyPtr server_key, GenerateP256Key());
  FERRY_ASSIGN_OR_RETURN(const X509Ptr server_cert,
                         MakeServerCertificate(options, ca, server_key.get(), addresses));
  FERRY_ASSIGN_OR_RETURN(const std::string ca_pem, CertificatePem(ca.cert.get()));
  FERRY_ASSIGN_OR_RETURN(const std::string server_pem, CertificatePem(server_cert.get()));
  FERRY_ASSIGN_OR_RETURN(const SecretText ca_key_pem, PrivateKeyPem(ca.key.get()));
  FERRY_ASSIGN_OR_RETURN(const SecretText server_key_pem, PrivateKeyPem(server_key.get()));

  // All four files appear together or not at all: a crash part-way must not leave a CA without
  // the server certificate (or a key without its certificate) that a retry would refuse to
  // replace.
  std::string staging = fs::JoinPath(data_dir, ".tls-staging-XXXXXX");
  if (::mkdtemp(staging.data()) == nullptr) {
    return IoError(staging + ": cannot create: " + std::strerror(errno));
  }
  auto discard_staging = [&staging] {
    std::error_code ignored;
    std::filesystem::remove_all(staging, ignored);
  };
  if (::chmod(staging.c_str(), 0755) != 0) {
    const int err = errno;
    discard_staging();
    return IoError(staging + ": chmod: " + std::strerror(err));
  }
  if (Status written =
          WriteStagedFiles(staging, ca_pem, ca_key_pem, server_pem + ca_pem, server_key_pem);
      !written.ok()) {
    discard_staging();
    return written;
  }
  // rename() replaces only an empty directory, so an existing tls/ with anything in it stays.
  const std::string tls_dir = fs::JoinPath(data_dir, "tls");
  if (::rename(staging.c_str(), tls_dir.c_str()) != 0) {
    const int err = errno;
    discard_staging();
    if (err == ENOTEMPTY || err == EEXIST) {
      return IoError(tls_dir + ": already exists and is not empty; refusing to overwrite");
    }
    return IoError(tls_dir + ": rename from " + staging + ": " + std::strerror(err));
  }
  return fs::SyncDirectory(data_dir);
}

namespace {

Result<std::string> Sha256OfCertificate(X509* cert, const std::string& what) {
  std::array<uint8_t, EVP_MAX_MD_SIZE> digest{};
  unsigned int length = 0;
  if (X509_digest(cert, EVP_sha256(), digest.data(), &length) != 1 || length != 32) {
    return OpenSslError(what + ": SHA-256 of the certificate");
  }
  return HexEncode(std::span<const uint8_t>(digest.data(), length));
}

}  // namespace

Result<std::string> CertificateFingerprint(const std::string& pem_path) {
  ERR_clear_error();
  FERRY_ASSIGN_OR_RETURN(const X509Ptr cert, LoadCertificateFile(pem_path));
  return Sha256OfCertificate(cert.get(), pem_path);
}

Result<std::string> CertificatePemFingerprint(std::string_view cert_pem) {
  ERR_clear_error();
  if (cert_pem.size() > kMaxCertificateFile) {
    return InvalidError("certificate: larger than 64 KiB");
  }
  FERRY_RETURN_IF_ERROR(CheckSinglePemBlock(cert_pem, "CERTIFICATE", "certificate"));
  FERRY_ASSIGN_OR_RETURN(const X509Ptr cert, ParseCertificatePem(cert_pem, "certificate"));
  return Sha256OfCertificate(cert.get(), "certificate");
}

std::string FingerprintForDisplay(std::string_view hex_fingerprint) {
  std::string display;
  display.reserve(hex_fingerprint.size() * 3 / 2);
  for (size_t i = 0; i < hex_fingerprint.size(); ++i) {
    if (i > 0 && i % 2 == 0) {
      display.push_back(':');
    }
    const char c = hex_fingerprint[i];
    display.push_back(c >= 'a' && c <= 'f' ? static_cast<char>(c - 'a' + 'A') : c);
  }
  return display;
}

Result<std::string> SignClientCertificate(const TlsFiles& files, std::string_view csr_pem,
                                          const std::string& endpoint_id, UnixTime now,
                                          int64_t lifetime) {
  ERR_clear_error();
  FERRY_RETURN_IF_ERROR(CheckNow(now));
  FERRY_RETURN_IF_ERROR(
      CheckLifetime(lifetime, kMaxClientLifetime, "the client certificate lifetime"));
  if (!IsEndpointId(endpoint_id)) {
    return UsageError("endpoint id \"" + endpoint_id + "\" is not 1 to " +
                      std::to_string(kMaxEndpointId) + " characters of [A-Za-z0-9._+~:-]");
  }
  FERRY_ASSIGN_OR_RETURN(const ReqPtr request, CheckCsr(csr_pem));
  FERRY_ASSIGN_OR_RETURN(const Ca ca, LoadCa(files, now));
  FERRY_ASSIGN_OR_RETURN(const UnixTime ca_not_after,
                         ToUnixTime(X509_get0_notAfter(ca.cert.get()), files.ca_cert));

  FERRY_ASSIGN_OR_RETURN(NamePtr subject, MakeName("", endpoint_id));
  const CertificateTemplate fields{subject.get(), X509_REQ_get0_pubkey(request.get()),
                                   now - kClockSkewAllowance,
                                   std::min(now + lifetime, ca_not_after)};
  FERRY_ASSIGN_OR_RETURN(X509Ptr cert, StartCertificate(fields, ca.cert.get()));
  FERRY_RETURN_IF_ERROR(AddLeafExtensions(cert.get(), ca.cert.get(), "clientAuth"));
  FERRY_RETURN_IF_ERROR(Sign(cert.get(), ca.key.get()));
  return CertificatePem(cert.get());
}

Result<std::string> CertificateCommonName(std::string_view cert_pem) {
  ERR_clear_error();
  if (cert_pem.size() > kMaxCertificateFile) {
    return InvalidError("certificate: larger than " + std::to_string(kMaxCertificateFile) +
                        " bytes");
  }
  FERRY_RETURN_IF_ERROR(CheckSinglePemBlock(cert_pem, "CERTIFICATE", "certificate"));
  FERRY_ASSIGN_OR_RETURN(const X509Ptr cert, ParseCertificatePem(cert_pem, "certificate"));
  return CommonNameOf(cert.get(), "certificate");
}

Result<std::string> CertificateCommonNameFromDer(std::span<const uint8_t> cert_der) {
  ERR_clear_error();
  if (cert_der.size() > kMaxCertificateFile) {
    return InvalidError("certificate: larger than " + std::to_string(kMaxCertificateFile) +
                        " bytes");
  }
  const unsigned char* cursor = cert_der.data();
  X509Ptr cert(d2i_X509(nullptr, &cursor, static_cast<long>(cert_der.size())));
  if (!cert) {
    return OpenSslError("certificate: cannot parse DER", ErrorKind::kInvalid);
  }
  if (cursor != cert_der.data() + cert_der.size()) {
    return InvalidError(
        "certificate: " + std::to_string(cert_der.data() + cert_der.size() - cursor) +
        " bytes after the DER certificate");
  }
  return CommonNameOf(cert.get(), "certificate");
}

}  // namespace ferry::relay
