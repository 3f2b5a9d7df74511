#include "relay/init.hpp"

#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "bundler/manifest.hpp"
#include "common/encoding.hpp"
#include "crypto/hash.hpp"
#include "crypto/keyfile.hpp"
#include "crypto/trust_root.hpp"
#include "relay/event_log.hpp"
#include "relay/lock.hpp"
#include "relay/payload_store.hpp"
#include "relay/relay.hpp"
#include "relay/schema.hpp"
#include "relay/tls_identity.hpp"

namespace ferry::relay {
namespace {

std::string RandomHex(size_t bytes) {
  std::vector<uint8_t> buffer(bytes);
  size_t done = 0;
  while (done < bytes) {
    const ssize_t n = ::getrandom(buffer.data() + done, bytes - done, 0);
    if (n > 0) done += static_cast<size_t>(n);
  }
  return HexEncode(buffer);
}

// Files an interrupted init may have left. With no database nothing was ever initialised, so
// they belong to nobody and are replaced.
void RemoveLeftovers(const DataDir& dir) {
  for (const std::string& path :
       {dir.identity_key(), dir.identity_pub(), dir.operator_token(), dir.pinned_root(),
        dir.database() + ".partial", dir.database() + ".partial-wal", dir.database() + ".partial-shm"}) {
    ::unlink(path.c_str());
  }
  const TlsFiles tls = TlsFilesIn(dir.root);
  for (const std::string& path : {tls.ca_cert, tls.ca_key, tls.server_cert, tls.server_key}) {
    ::unlink(path.c_str());
  }
  ::rmdir(fs::JoinPath(dir.root, "tls").c_str());
}

Status CreateDatabase(const DataDir& dir, const crypto::TrustRoot& root, const InitOptions& options,
                      const InitReport& report, const std::string& token_hash) {
  const std::string partial = dir.database() + ".partial";
  {
    FERRY_ASSIGN_OR_RETURN(sql::Database db,
                           sql::Database::Open(partial, sql::Database::Mode::kReadWrite));
    FERRY_RETURN_IF_ERROR(Migrate(db));
    FERRY_RETURN_IF_ERROR(db.Begin());
    FERRY_ASSIGN_OR_RETURN(
        sql::Statement insert_root,
        db.Prepare("INSERT INTO trust_roots (version, document, accepted_at) VALUES (?, ?, ?)"));
    insert_root.Bind(1, root.version).BindBlob(2, root.text).Bind(3, Now());
    FERRY_RETURN_IF_ERROR(insert_root.Run());
    FERRY_ASSIGN_OR_RETURN(sql::Statement meta,
                           db.Prepare("INSERT INTO meta (key, value) VALUES (?, ?)"));
    const std::pair<std::string, std::string> entries[] = {
        {kMetaCatalogVersion, "0"},
        {kMetaRatchet, "0"},
        {kMetaOperatorTokenHash, token_hash},
        {"relay_key_id", report.relay_key_id},
    };
    for (const auto& [key, value] : entries) {
      meta.Bind(1, key).Bind(2, value);
      FERRY_RETURN_IF_ERROR(meta.Run());
    }
    if (options.site_id) {
      meta.Bind(1, kMetaSiteId).Bind(2, *options.site_id);
      FERRY_RETURN_IF_ERROR(meta.Run());
    }
    json::Object details{{"root_version", root.version},
                         {"root_sha256", crypto::DigestHex(crypto::Sha256Of(root.text))},
                         {"relay_key_id", report.relay_key_id},
                         {"ca_sha256", report.ca_fingerprint}};
    if (options.site_id) details["site_id"] = *options.site_id;
    FERRY_ASSIGN_OR_RETURN(const Event event, AppendEvent(db, OperatorActor(), "relay.initialised",
                                                          options.site_id.value_or("relay"),
                                                          std::move(details)));
    (void)event;
    FERRY_RETURN_IF_ERROR(db.Commit());
  }
  // The database appears under its real name only when whole: its presence means "initialised".
  if (::rename(partial.c_str(), dir.database().c_str()) != 0) {
    return IoError(dir.database() + ": rename: " + std::strerror(errno));
  }
  return Ok();
}

}  // namespace

Result<InitReport> InitializeRelay(const InitOptions& options) {
  const DataDir dir{options.data_dir};
  if (fs::Exists(dir.database())) {
    return UsageError(options.data_dir + ": already initialised; refusing to overwrite it");
  }
  if (options.site_id && !bundler::IsSafeIdentifier(*options.site_id)) {
    return UsageError("--site-id \"" + *options.site_id + "\" is not a valid identifier");
  }
  FERRY_ASSIGN_OR_RETURN(const crypto::TrustRoot root, crypto::LoadTrustRoot(options.root_path));
  if (Now() >= root.expires) {
    return InvalidError(options.root_path + ": root version " + std::to_string(root.version) +
                        " expired at " + FormatTime(root.expires));
  }
  if (options.site_id && options.site_id->size() > kMaxTlsSiteId) {
    return UsageError("--site-id \"" + *options.site_id + "\" is longer than " +
                      std::to_string(kMaxTlsSiteId) + " characters");
  }
  if (::mkdir(options.data_dir.c_str(), 0750) != 0 && errno != EEXIST) {
    return IoError(options.data_dir + ": mkdir: " + std::strerror(errno));
  }
  // The directory holds the relay's unencrypted identity key: nobody else may list it.
  if (::chmod(options.data_dir.c_str(), 0750) != 0) {
    return IoError(options.data_dir + ": chmod: " + std::strerror(errno));
  }
  FERRY_ASSIGN_OR_RETURN(const DirectoryLock lock, DirectoryLock::TryAcquire(dir.lock_file()));
  if (fs::Exists(dir.database())) {
    return UsageError(options.data_dir + ": already initialised; refusing to overwrite it");
  }
  RemoveLeftovers(dir);

  FERRY_RETURN_IF_ERROR(PayloadStore(dir).CreateLayout());
  FERRY_ASSIGN_OR_RETURN(const crypto::SigningKey identity, crypto::SigningKey::Generate());
  // Unencrypted on purpose: the appliance signs evidence unattended. The file is 0600 and the
  // data directory 0750; docs/operator-guide.md covers protecting it.
  FERRY_RETURN_IF_ERROR(crypto::WriteSecretKeyFile(dir.identity_key(), identity, nullptr));
  FERRY_RETURN_IF_ERROR(crypto::WritePublicKeyFile(dir.identity_pub(), identity.public_key()));

  TlsIdentityOptions tls_options;
  if (options.site_id) tls_options.site_id = *options.site_id;
  tls_options.dns_names.insert(tls_options.dns_names.end(), options.dns_names.begin(),
                               options.dns_names.end());
  tls_options.ip_addresses.insert(tls_options.ip_addresses.end(), options.ip_addresses.begin(),
                                  options.ip_addresses.end());
  FERRY_RETURN_IF_ERROR(CreateTlsIdentity(options.data_dir, tls_options));

  const std::string token = RandomHex(32);
  FERRY_RETURN_IF_ERROR(fs::WriteFileAtomic(dir.operator_token(), token + "\n", 0600, false));
  FERRY_RETURN_IF_ERROR(fs::WriteFileAtomic(dir.pinned_root(), root.text, 0644, false));

  InitReport report;
  const TlsFiles tls = TlsFilesIn(options.data_dir);
  report.ca_cert = tls.ca_cert;
  FERRY_ASSIGN_OR_RETURN(report.ca_fingerprint, CertificateFingerprint(tls.ca_cert));
  report.relay_public_key = dir.identity_pub();
  report.relay_key_id = identity.id();
  report.operator_token = dir.operator_token();
  report.root_version = root.version;
  FERRY_RETURN_IF_ERROR(CreateDatabase(dir, root, options, report,
                                       crypto::DigestHex(crypto::Sha256Of(token))));
  return report;
}

}  // namespace ferry::relay
