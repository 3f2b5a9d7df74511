#pragma once

// The agent's TLS client identity: the key and CSR it sends at enrolment, and the check of the
// certificate the relay signs in return. Keys and certificates cross this interface as PEM text
// only, so no OpenSSL type leaks into the agent's logic. Formats: docs/tls.md.

#include <string>
#include <string_view>

#include "common/error.hpp"
#include "common/time.hpp"

namespace ferry::endpoint {

struct KeyAndCsr {
  std::string key_pem;  // PKCS#8, unencrypted: store it 0600
  std::string csr_pem;
};

// A new EC P-256 key and a CSR for it with subject CN = common_name (1 to 64 characters of
// [A-Za-z0-9._+~:-]; anything else is a usage error). The relay ignores the CSR's subject.
Result<KeyAndCsr> MakeClientKeyAndCsr(const std::string& common_name);

// Accepts the certificate the relay returned at enrolment only when it is one PEM certificate
// for the public half of `key_pem`, issued by the CA in `ca_pem`, valid at `now`, usable for TLS
// client authentication, with subject CN = endpoint_id. Anything else is ErrorKind::kInvalid.
Status CheckClientCertificate(std::string_view cert_pem, std::string_view key_pem,
                              std::string_view ca_pem, const std::string& endpoint_id,
                              UnixTime now);

}  // namespace ferry::endpoint
