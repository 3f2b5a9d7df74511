#pragma once

// The relay's TLS identity: a private certificate authority made at `ferry-relay init`, the server
// certificate the HTTPS listener presents, and the client certificates endpoints receive at
// enrolment. Keys and certificates cross this interface as PEM text or file paths only, so no
// OpenSSL type leaks to the rest of the relay. Formats and lifetimes: docs/tls.md. The agent's
// half (its key and CSR) is endpoint/client_identity.hpp.

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "common/error.hpp"
#include "common/time.hpp"

namespace ferry::relay {

// Paths inside the relay's data directory.
struct TlsFiles {
  std::string ca_cert;      // tls/ca.pem      (0644) what endpoints pin
  std::string ca_key;       // tls/ca.key      (0600)
  std::string server_cert;  // tls/server.pem  (0644) chain: server certificate, then CA certificate
  std::string server_key;   // tls/server.key  (0600)
};

// The TLS file paths of the data directory `data_dir` (nothing is checked on disk).
TlsFiles TlsFilesIn(const std::string& data_dir);

inline constexpr int64_t kDaySeconds = 86400;
inline constexpr int64_t kDefaultCaLifetime = 3650 * kDaySeconds;     // ten years
inline constexpr int64_t kDefaultServerLifetime = 730 * kDaySeconds;  // two years
inline constexpr int64_t kDefaultClientLifetime = 365 * kDaySeconds;  // one year
// Apple platforms refuse TLS server certificates valid for longer, even from a private CA.
inline constexpr int64_t kMaxServerLifetime = 825 * kDaySeconds;
// Certificates start this long before `now`, so an endpoint whose clock lags the relay's (common
// on isolated networks without NTP) still accepts them.
inline constexpr int64_t kClockSkewAllowance = kDaySeconds;
// The longest site id that fits the CA's common name ("Ferry relay CA <site>", 64 characters).
inline constexpr size_t kMaxTlsSiteId = 49;
// The longest endpoint id a client certificate may carry (the common name's limit).
inline constexpr size_t kMaxEndpointId = 64;

// "localhost" and this machine's host name.
std::vector<std::string> DefaultServerDnsNames();
// The loopback addresses, "127.0.0.1" and "::1".
std::vector<std::string> DefaultServerIpAddresses();

struct TlsIdentityOptions {
  std::string site_id;  // in the CA's subject CN, "Ferry relay CA <site>"; may be empty
  std::vector<std::string> dns_names = DefaultServerDnsNames();        // server SANs
  std::vector<std::string> ip_addresses = DefaultServerIpAddresses();  // server SANs, v4 or v6
  UnixTime now = Now();
  int64_t ca_lifetime = kDefaultCaLifetime;
  int64_t server_lifetime = kDefaultServerLifetime;  // at most kMaxServerLifetime
};

// Creates <data_dir>/tls with a new EC P-256 CA and a server certificate it signed, all four
// files or none (they are made in a staging directory that is renamed into place). Refuses to
// replace any existing file. Bad options are ErrorKind::kUsage.
Status CreateTlsIdentity(const std::string& data_dir, const TlsIdentityOptions& options);

// The SHA-256 of the DER of the first certificate in a PEM file, 64 lowercase hex digits.
Result<std::string> CertificateFingerprint(const std::string& pem_path);
// The same for PEM text holding one certificate (as SignClientCertificate returns it).
Result<std::string> CertificatePemFingerprint(std::string_view cert_pem);

// A fingerprint as operators compare it by eye or read it out: uppercase hex pairs joined by ':',
// the form `openssl x509 -noout -fingerprint -sha256` prints after its "=".
std::string FingerprintForDisplay(std::string_view hex_fingerprint);

// Checks a PEM certificate signing request (one CSR and nothing else; EC P-256 or Ed25519 key;
// its self-signature valid) and returns a PEM client certificate for that key signed by the CA in
// `files`: subject CN = endpoint_id, extendedKeyUsage clientAuth, valid from now minus
// kClockSkewAllowance until now + lifetime (no later than the CA itself). Nothing else is taken
// from the CSR. A refused CSR is ErrorKind::kInvalid.
Result<std::string> SignClientCertificate(const TlsFiles& files, std::string_view csr_pem,
                                          const std::string& endpoint_id, UnixTime now,
                                          int64_t lifetime);

// The subject's common name of a PEM certificate (one certificate, exactly one CN).
Result<std::string> CertificateCommonName(std::string_view cert_pem);
// The same for a DER certificate, as a TLS library hands over the peer's certificate.
Result<std::string> CertificateCommonNameFromDer(std::span<const uint8_t> cert_der);

}  // namespace ferry::relay
