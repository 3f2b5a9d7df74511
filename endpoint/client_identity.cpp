#include "endpoint/client_identity.hpp"

#include <openssl/bio.h>
#include <openssl/buffer.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509_vfy.h>
#include <openssl/x509v3.h>

#include <array>
#include <climits>
#include <memory>

#include "bundler/manifest.hpp"
#include "crypto/secure.hpp"

namespace ferry::endpoint {
namespace {

// What a relay answers at enrolment is a few hundred bytes; the pinned CA file a certificate or
// two. Far larger text is not what either party would send.
constexpr size_t kMaxCertificatePem = 64 * 1024;
constexpr size_t kMaxCommonName = 64;

struct OpenSslFree {
  void operator()(BIO* p) const { BIO_free_all(p); }
  void operator()(EVP_PKEY* p) const { EVP_PKEY_free(p); }
  void operator()(X509* p) const { X509_free(p); }
  void operator()(X509_REQ* p) const { X509_REQ_free(p); }
  void operator()(X509_NAME* p) const { X509_NAME_free(p); }
  void operator()(X509_STORE* p) const { X509_STORE_free(p); }
  void operator()(X509_STORE_CTX* p) const { X509_STORE_CTX_free(p); }
};
template <typename T>
using Owned = std::unique_ptr<T, OpenSslFree>;

// Takes the oldest queued OpenSSL error as the cause and clears the queue, so a later failure
// does not report this one's leftovers.
Error SslError(const std::string& what, ErrorKind kind = ErrorKind::kIo) {
  const unsigned long code = ERR_get_error();
  std::array<char, 256> reason{};
  if (code != 0) {
    ERR_error_string_n(code, reason.data(), reason.size());
  }
  ERR_clear_error();
  return Error(kind, what + ": " + (code != 0 ? reason.data() : "no reason reported"));
}

// Without this callback OpenSSL would prompt on the terminal for a key's passphrase.
int NoPassphrase(char*, int, int, void*) { return -1; }

Result<Owned<BIO>> ReadBio(std::string_view text, const std::string& what) {
  if (text.size() > INT_MAX) {
    return InvalidError(what + ": too large");
  }
  Owned<BIO> bio(BIO_new_mem_buf(text.data(), static_cast<int>(text.size())));
  if (!bio) {
    return SslError(what + ": BIO_new_mem_buf");
  }
  return bio;
}

// The relay's answer must be exactly one certificate: OpenSSL's PEM reader would skip text
// around a block and ignore a second one.
Status CheckOnePemCertificate(std::string_view text) {
  constexpr std::string_view kBegin = "-----BEGIN CERTIFICATE-----";
  constexpr std::string_view kEnd = "-----END CERTIFICATE-----";
  const size_t first = text.find_first_not_of(" \t\r\n");
  const size_t last = text.find_last_not_of(" \t\r\n");
  if (first == std::string_view::npos) {
    return InvalidError("client certificate: empty");
  }
  const std::string_view body = text.substr(first, last - first + 1);
  if (!body.starts_with(kBegin) || !body.ends_with(kEnd) ||
      body.find("-----BEGIN", 1) != std::string_view::npos) {
    return InvalidError("client certificate: not exactly one PEM certificate");
  }
  return Ok();
}

Result<std::string> SubjectCommonName(X509* cert) {
  const X509_NAME* subject = X509_get_subject_name(cert);
  const int index = X509_NAME_get_index_by_NID(subject, NID_commonName, -1);
  if (index < 0 || X509_NAME_get_index_by_NID(subject, NID_commonName, index) >= 0) {
    return InvalidError("client certificate: the subject must have exactly one common name");
  }
  unsigned char* utf8 = nullptr;
  const int length =
      ASN1_STRING_to_UTF8(&utf8, X509_NAME_ENTRY_get_data(X509_NAME_get_entry(subject, index)));
  if (length < 0) {
    return SslError("client certificate: common name", ErrorKind::kInvalid);
  }
  std::string name(reinterpret_cast<const char*>(utf8), static_cast<size_t>(length));
  OPENSSL_free(utf8);
  return name;
}

Result<Owned<X509_STORE>> StoreOfCa(std::string_view ca_pem) {
  if (ca_pem.size() > kMaxCertificatePem) {
    return InvalidError("CA file: larger than " + std::to_string(kMaxCertificatePem) + " bytes");
  }
  Owned<X509_STORE> store(X509_STORE_new());
  if (!store) {
    return SslError("X509_STORE_new");
  }
  FERRY_ASSIGN_OR_RETURN(Owned<BIO> bio, ReadBio(ca_pem, "CA file"));
  int count = 0;
  while (true) {
    Owned<X509> cert(PEM_read_bio_X509(bio.get(), nullptr, NoPassphrase, nullptr));
    if (!cert) {
      break;
    }
    if (X509_STORE_add_cert(store.get(), cert.get()) != 1) {
      return SslError("CA file: adding a certificate", ErrorKind::kInvalid);
    }
    ++count;
  }
  ERR_clear_error();  // the loop ends on "no start line"
  if (count == 0) {
    return InvalidError("CA file: no PEM certificate in it");
  }
  return store;
}

}  // namespace

Result<KeyAndCsr> MakeClientKeyAndCsr(const std::string& common_name) {
  ERR_clear_error();
  if (common_name.size() > kMaxCommonName || !bundler::IsSafeIdentifier(common_name)) {
    return UsageError("common name \"" + common_name + "\" is not 1 to " +
                      std::to_string(kMaxCommonName) + " characters of [A-Za-z0-9._+~:-]");
  }
  Owned<EVP_PKEY> key(EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", "P-256"));
  if (!key) {
    return SslError("generating an EC P-256 key");
  }
  Owned<X509_REQ> request(X509_REQ_new());
  Owned<X509_NAME> subject(X509_NAME_new());
  if (!request || !subject) {
    return SslError("allocating a CSR");
  }
  if (X509_NAME_add_entry_by_NID(subject.get(), NID_commonName, MBSTRING_UTF8,
                                 reinterpret_cast<const unsigned char*>(common_name.data()),
                                 static_cast<int>(common_name.size()), -1, 0) != 1 ||
      X509_REQ_set_version(request.get(), X509_REQ_VERSION_1) != 1 ||
      X509_REQ_set_subject_name(request.get(), subject.get()) != 1 ||
      X509_REQ_set_pubkey(request.get(), key.get()) != 1) {
    return SslError("filling the CSR");
  }
  if (X509_REQ_sign(request.get(), key.get(), EVP_sha256()) <= 0) {
    return SslError("signing the CSR");
  }
  Owned<BIO> csr_bio(BIO_new(BIO_s_mem()));
  // The secure-memory BIO wipes its buffer when freed, so only the returned string holds the key.
  Owned<BIO> key_bio(BIO_new(BIO_s_secmem()));
  if (!csr_bio || !key_bio) {
    return SslError("BIO_new");
  }
  if (PEM_write_bio_X509_REQ(csr_bio.get(), request.get()) != 1 ||
      PEM_write_bio_PrivateKey(key_bio.get(), key.get(), nullptr, nullptr, 0, nullptr, nullptr) !=
          1) {
    return SslError("writing the key and CSR as PEM");
  }
  const auto contents = [](BIO* bio) {
    BUF_MEM* buffer = nullptr;
    BIO_get_mem_ptr(bio, &buffer);
    return buffer == nullptr ? std::string() : std::string(buffer->data, buffer->length);
  };
  return KeyAndCsr{contents(key_bio.get()), contents(csr_bio.get())};
}

Status CheckClientCertificate(std::string_view cert_pem, std::string_view key_pem,
                              std::string_view ca_pem, const std::string& endpoint_id,
                              UnixTime now) {
  ERR_clear_error();
  if (cert_pem.size() > kMaxCertificatePem) {
    return InvalidError("client certificate: larger than " + std::to_string(kMaxCertificatePem) +
                        " bytes");
  }
  FERRY_RETURN_IF_ERROR(CheckOnePemCertificate(cert_pem));
  FERRY_ASSIGN_OR_RETURN(Owned<BIO> cert_bio, ReadBio(cert_pem, "client certificate"));
  Owned<X509> cert(PEM_read_bio_X509(cert_bio.get(), nullptr, NoPassphrase, nullptr));
  if (!cert) {
    return SslError("client certificate: cannot parse", ErrorKind::kInvalid);
  }
  FERRY_ASSIGN_OR_RETURN(Owned<BIO> key_bio, ReadBio(key_pem, "client key"));
  Owned<EVP_PKEY> key(PEM_read_bio_PrivateKey(key_bio.get(), nullptr, NoPassphrase, nullptr));
  if (!key) {
    return SslError("client key: cannot parse", ErrorKind::kInvalid);
  }
  if (X509_check_private_key(cert.get(), key.get()) != 1) {
    ERR_clear_error();
    return InvalidError("client certificate: not for the key this agent sent");
  }
  FERRY_ASSIGN_OR_RETURN(const std::string common_name, SubjectCommonName(cert.get()));
  if (common_name != endpoint_id) {
    return InvalidError("client certificate: names \"" + common_name + "\", not endpoint \"" +
                        endpoint_id + "\"");
  }
  FERRY_ASSIGN_OR_RETURN(Owned<X509_STORE> store, StoreOfCa(ca_pem));
  Owned<X509_STORE_CTX> context(X509_STORE_CTX_new());
  if (!context || X509_STORE_CTX_init(context.get(), store.get(), cert.get(), nullptr) != 1) {
    return SslError("X509_STORE_CTX_init");
  }
  X509_VERIFY_PARAM* param = X509_STORE_CTX_get0_param(context.get());
  X509_VERIFY_PARAM_set_time(param, static_cast<time_t>(now));
  if (X509_VERIFY_PARAM_set_purpose(param, X509_PURPOSE_SSL_CLIENT) != 1) {
    return SslError("X509_VERIFY_PARAM_set_purpose");
  }
  if (X509_verify_cert(context.get()) != 1) {
    const int code = X509_STORE_CTX_get_error(context.get());
    ERR_clear_error();
    return InvalidError(std::string("client certificate: does not verify against the pinned CA: ") +
                        X509_verify_cert_error_string(code));
  }
  return Ok();
}

}  // namespace ferry::endpoint
