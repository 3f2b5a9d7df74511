#include "relay/approved_catalog.hpp"

#include <algorithm>
#include <charconv>

#include "common/json.hpp"
#include "crypto/envelope.hpp"
#include "crypto/hash.hpp"
#include "crypto/trust_root.hpp"
#include "relay/relay.hpp"

namespace ferry::relay {

ApprovedCatalog::ApprovedCatalog(std::vector<bundler::Patch> patches, int64_t version)
    : index_(patches, version) {}

Result<std::shared_ptr<const ApprovedCatalog>> ApprovedCatalog::Load(sql::Database& db) {
  // A deferred transaction is one snapshot of the WAL: the version and the patches it names are
  // read together even while an import or an approval commits.
  FERRY_RETURN_IF_ERROR(db.Execute("BEGIN DEFERRED"));
  const auto read = [&]() -> Result<std::shared_ptr<const ApprovedCatalog>> {
    FERRY_ASSIGN_OR_RETURN(sql::Statement meta, db.Prepare("SELECT value FROM meta WHERE key = ?"));
    meta.Bind(1, std::string_view(kMetaCatalogVersion));
    FERRY_ASSIGN_OR_RETURN(const bool has_version, meta.Step());
    int64_t version = 0;
    if (has_version) {
      const std::string text = meta.Text(0);
      const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), version);
      if (ec != std::errc() || end != text.data() + text.size()) {
        return InvalidError(db.path() + ": meta catalog_version is not an integer");
      }
    }
    FERRY_ASSIGN_OR_RETURN(
        sql::Statement root,
        db.Prepare("SELECT version, document FROM trust_roots ORDER BY version DESC LIMIT 1"));
    FERRY_ASSIGN_OR_RETURN(const bool has_root, root.Step());
    if (!has_root) {
      return IoError(db.path() + ": no trust root is pinned");
    }
    const int64_t root_version = root.Int(0);
    auto trusted = crypto::ParseTrustRoot(root.Text(1));
    if (!trusted.ok()) {
      return std::move(trusted).error().Context(db.path() + ": stored trust root");
    }

    FERRY_ASSIGN_OR_RETURN(
        sql::Statement query,
        db.Prepare("SELECT p.id, p.document, b.channel, b.sequence, b.manifest_sha256, "
                   "b.manifest FROM approvals a JOIN patches p ON p.id = a.patch_id "
                   "JOIN bundles b ON b.id = p.bundle_id ORDER BY p.id"));
    std::vector<bundler::Patch> patches;
    std::vector<std::pair<std::string, std::string>> refs;  // manifest ref and its hash
    // Agents check every manifest under their newest root, which is the relay's newest: a patch
    // whose bundle was signed by keys a later root retired would only be refused, so it is not
    // offered (a newer bundle carrying it again brings it back). One check per bundle.
    std::unordered_map<std::string, bool> verifies;  // manifest ref -> signed under the root
    size_t unverified = 0;
    while (true) {
      FERRY_ASSIGN_OR_RETURN(const bool row, query.Step());
      if (!row) {
        break;
      }
      const std::string ref = query.Text(2) + "/" + std::to_string(query.Int(3));
      auto known = verifies.find(ref);
      if (known == verifies.end()) {
        auto envelope = crypto::ParseEnvelope(query.Text(5), "manifest " + ref);
        const bool ok =
            envelope.ok() && crypto::VerifyThreshold(*envelope, trusted->keys, trusted->bundle_role,
                                                     "manifest", "bundle")
                                 .ok();
        known = verifies.emplace(ref, ok).first;
      }
      if (!known->second) {
        ++unverified;
        continue;
      }
      const std::string id = query.Text(0);
      FERRY_ASSIGN_OR_RETURN(const json::Value document, json::Parse(query.Text(1)));
      auto patch = bundler::PatchFromJson(document, "patch " + id);
      if (!patch.ok()) {
        return std::move(patch).error().Context(db.path());
      }
      patches.push_back(std::move(*patch));
      refs.emplace_back(ref, query.Text(4));
    }
    std::shared_ptr<ApprovedCatalog> catalog(new ApprovedCatalog(patches, version));
    catalog->root_version_ = root_version;
    catalog->withheld_ = unverified;
    for (size_t i = 0; i < patches.size(); ++i) {
      catalog->manifest_sha256_.emplace(refs[i].first, refs[i].second);
      const std::string id = patches[i].id;
      catalog->patches_.emplace(id, OfferedPatch{std::move(patches[i]), refs[i].first});
    }
    return std::shared_ptr<const ApprovedCatalog>(std::move(catalog));
  };
  auto loaded = read();
  const Status closed = db.Execute("COMMIT");
  if (!loaded.ok()) {
    db.Rollback();
    return std::move(loaded).error().Context("loading the approved catalog");
  }
  if (!closed.ok()) {
    db.Rollback();
    return closed.error();
  }
  return loaded;
}

const OfferedPatch* ApprovedCatalog::Find(const std::string& id) const {
  const auto it = patches_.find(id);
  return it == patches_.end() ? nullptr : &it->second;
}

const std::string* ApprovedCatalog::ManifestSha256(const std::string& ref) const {
  const auto it = manifest_sha256_.find(ref);
  return it == manifest_sha256_.end() ? nullptr : &it->second;
}

std::vector<std::string> PatchIdsOf(const std::vector<Applicable>& applicable) {
  std::vector<std::string> ids;
  ids.reserve(applicable.size());
  for (const Applicable& entry : applicable) {
    ids.push_back(entry.patch_id);
  }
  std::sort(ids.begin(), ids.end());
  ids.erase(std::unique(ids.begin(), ids.end()), ids.end());
  return ids;
}

std::string NeedsHash(const std::vector<std::string>& sorted_ids) {
  const json::Array array(sorted_ids.begin(), sorted_ids.end());
  // An array of identifier strings always has a canonical form.
  const Result<std::string> canonical = json::Canonical(array);
  return crypto::DigestHex(crypto::Sha256Of(canonical.ok() ? *canonical : std::string()));
}

}  // namespace ferry::relay
