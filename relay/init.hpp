#pragma once

// `ferry-relay init`: creates a relay data directory from a trust root.

#include <optional>
#include <string>
#include <vector>

#include "common/error.hpp"

namespace ferry::relay {

struct InitOptions {
  std::string data_dir;
  std::string root_path;                 // root.json v1 (or the newest root the site trusts)
  std::optional<std::string> site_id;    // bundles bound to another site will be refused
  std::vector<std::string> dns_names;    // extra names for the server certificate
  std::vector<std::string> ip_addresses; // extra addresses for the server certificate
};

struct InitReport {
  std::string ca_cert;           // give to endpoints
  std::string ca_fingerprint;    // SHA-256 of the CA certificate, to read out over the phone
  std::string relay_public_key;  // give to auditors
  std::string relay_key_id;
  std::string operator_token;    // path of the operator credential file
  int64_t root_version = 0;
};

// Creates the database (schema, pinned root, first audit event), the payload store, the relay's
// Ed25519 identity, the TLS CA and server certificate and an operator credential. Refuses a
// directory that is already initialised; an interrupted init can simply be run again.
Result<InitReport> InitializeRelay(const InitOptions& options);

}  // namespace ferry::relay
