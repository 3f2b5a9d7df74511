#include "bundler/build.hpp"

#include <sys/stat.h>

#include <algorithm>
#include <map>
#include <tuple>
#include <set>

#include "bundler/apt_repo.hpp"
#include "bundler/bundle_reader.hpp"
#include "bundler/bundle_writer.hpp"
#include "bundler/deb_file.hpp"
#include "bundler/debian_version.hpp"
#include "bundler/osv.hpp"
#include "bundler/payload_description.hpp"
#include "common/file.hpp"
#include "crypto/envelope.hpp"
#include "crypto/hash.hpp"

namespace ferry::bundler {
namespace {

Result<uint64_t> FileSize(const std::string& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0 || !S_ISREG(st.st_mode)) {
    return IoError(path + ": not a readable regular file");
  }
  return static_cast<uint64_t>(st.st_size);
}

Patch DebPatch(const std::string& package, const std::string& version, const std::string& arch,
               const std::string& description, const std::string& file_name,
               const std::string& target_os) {
  Patch patch;
  patch.id = package + "_" + version + "_" + arch;
  patch.title = package + " " + version + (description.empty() ? "" : ": " + description);
  patch.kind = "deb";
  patch.package = package;
  patch.version = version;
  patch.architecture = arch;
  patch.target_os = target_os;
  patch.severity = "unknown";
  patch.payload.file_name = file_name;
  return patch;
}

std::string BaseName(const std::string& path) {
  const size_t slash = path.rfind('/');
  return slash == std::string::npos ? path : path.substr(slash + 1);
}

Result<std::vector<SourcePatch>> ListAptRepository(const std::string& root,
                                                   const std::string& target_os,
                                                   std::map<std::string, std::string>& expected_sha) {
  FERRY_ASSIGN_OR_RETURN(std::vector<AptPackage> packages, ReadAptRepository(root));
  std::vector<SourcePatch> out;
  for (const AptPackage& entry : packages) {
    SourcePatch source{DebPatch(entry.package, entry.version, entry.architecture,
                                entry.description, BaseName(entry.filename), target_os),
                       fs::JoinPath(root, entry.filename)};
    source.patch.payload.size = entry.size;
    expected_sha[source.path] = entry.sha256;
    out.push_back(std::move(source));
  }
  return out;
}

Result<std::vector<SourcePatch>> ListLooseFiles(const std::string& dir, const std::string& target_os) {
  FERRY_ASSIGN_OR_RETURN(std::vector<std::string> names, fs::ListDirectory(dir));
  std::vector<SourcePatch> out;
  for (const std::string& name : names) {
    const std::string path = fs::JoinPath(dir, name);
    if (name.ends_with(".deb")) {
      auto control = ReadDebControl(path);
      if (!control.ok()) return std::move(control).error();
      out.push_back({DebPatch(control->package, control->version, control->architecture,
                              control->description, name, target_os),
                     path});
    } else if (name.ends_with(kPayloadDescriptionSuffix)) {
      FERRY_ASSIGN_OR_RETURN(const std::string text, fs::ReadFile(path, kMaxPayloadDescriptionBytes));
      FERRY_ASSIGN_OR_RETURN(PayloadDescription description, ParsePayloadDescription(text, path));
      Patch patch;
      patch.id = description.id;
      patch.title = description.title;
      patch.kind = description.kind;
      patch.package = description.package;
      patch.version = description.version;
      patch.architecture = description.architecture;
      patch.target_os = description.target_os;
      patch.severity = description.severity;
      patch.cves = description.cves;
      patch.released = description.released;
      patch.reboot = description.reboot;
      patch.payload.file_name = description.file;
      if (description.kind == "script") {
        Installer installer;
        installer.arguments = description.arguments;
        installer.success_exit_codes.assign(description.success_exit_codes.begin(),
                                            description.success_exit_codes.end());
        installer.reboot_exit_codes.assign(description.reboot_exit_codes.begin(),
                                           description.reboot_exit_codes.end());
        patch.installer = std::move(installer);
      }
      out.push_back({std::move(patch), fs::JoinPath(dir, description.file)});
    }
  }
  return out;
}

// Newer versions of a package supersede the older ones the same bundle carries.
void LinkSupersedes(std::vector<SourcePatch>& sources) {
  // Grouped first, so a mirror of many packages costs the square of versions per package only.
  std::map<std::tuple<std::string, std::string, std::string>, std::vector<Patch*>> groups;
  for (SourcePatch& source : sources) {
    if (source.patch.kind != "deb") continue;
    groups[{source.patch.package, source.patch.architecture, source.patch.target_os}].push_back(
        &source.patch);
  }
  for (auto& [key, patches] : groups) {
    for (Patch* newer : patches) {
      for (const Patch* older : patches) {
        if (CompareDebianVersions(older->version, newer->version) < 0) {
          newer->supersedes.push_back(older->id);
        }
      }
      std::sort(newer->supersedes.begin(), newer->supersedes.end());
    }
  }
}

void AttachAdvisories(Patch& patch, const std::vector<Advisory>& advisories) {
  std::set<std::string> cves(patch.cves.begin(), patch.cves.end());
  double best_cvss = -1;
  for (const Advisory* advisory :
       AdvisoriesFixedBy(advisories, patch.package, patch.version, patch.target_os)) {
    cves.insert(advisory->cves.begin(), advisory->cves.end());
    if (SeverityRank(advisory->severity) > SeverityRank(patch.severity)) {
      patch.severity = advisory->severity;
    }
    if (advisory->cvss_score) {
      const double score = std::stod(*advisory->cvss_score);
      if (score > best_cvss) {
        best_cvss = score;
        patch.cvss = *advisory->cvss_score;
      }
    }
    if (advisory->published && (!patch.released || *advisory->published < *patch.released)) {
      patch.released = advisory->published;
    }
  }
  patch.cves.assign(cves.begin(), cves.end());
}

Result<std::vector<const crypto::TrustRoot*>> OrderChain(const std::vector<crypto::TrustRoot>& roots) {
  if (roots.empty()) return UsageError("at least one --root is required");
  std::vector<const crypto::TrustRoot*> chain;
  for (const crypto::TrustRoot& root : roots) chain.push_back(&root);
  std::sort(chain.begin(), chain.end(),
            [](const auto* a, const auto* b) { return a->version < b->version; });
  // Ship only a chain a relay can walk: each root must be accepted by the one before it.
  for (size_t i = 1; i < chain.size(); ++i) {
    auto next = crypto::VerifyRootUpdate(*chain[i - 1], chain[i]->text);
    if (!next.ok()) return std::move(next).error().Context("root chain");
  }
  return chain;
}

Status CheckSigningKeys(const crypto::TrustRoot& root,
                        const std::vector<const crypto::SigningKey*>& keys) {
  std::set<std::string> distinct;
  for (const crypto::SigningKey* key : keys) {
    const std::string& id = key->public_key().id();
    const auto& allowed = root.bundle_role.keyids;
    if (std::find(allowed.begin(), allowed.end(), id) == allowed.end()) {
      return UsageError("key " + id.substr(0, 16) + " is not a bundle key of root version " +
                        std::to_string(root.version));
    }
    distinct.insert(id);
  }
  if (static_cast<int64_t>(distinct.size()) < root.bundle_role.threshold) {
    return UsageError(std::to_string(distinct.size()) + " distinct bundle key(s) given; root version " +
                      std::to_string(root.version) + " needs " +
                      std::to_string(root.bundle_role.threshold));
  }
  return Ok();
}

}  // namespace

Result<std::vector<SourcePatch>> GatherSource(
    const std::string& source_dir, const std::string& target_os,
    const std::function<void(uint64_t done, uint64_t total)>& progress) {
  if (!fs::IsDirectory(source_dir)) {
    return IoError(source_dir + ": not a directory");
  }
  std::map<std::string, std::string> expected_sha;  // from an APT index, by path
  std::vector<SourcePatch> sources;
  if (LooksLikeAptRepository(source_dir)) {
    FERRY_ASSIGN_OR_RETURN(sources, ListAptRepository(source_dir, target_os, expected_sha));
  } else {
    FERRY_ASSIGN_OR_RETURN(sources, ListLooseFiles(source_dir, target_os));
  }
  if (sources.empty()) {
    return InvalidError(source_dir + ": no .deb files, *.payload.json descriptions or APT index found");
  }
  uint64_t total = 0;
  for (SourcePatch& source : sources) {
    FERRY_ASSIGN_OR_RETURN(const uint64_t size, FileSize(source.path));
    if (size > kMaxPayloadSize) {
      return InvalidError(source.path + ": larger than the 4 GiB payload cap");
    }
    if (expected_sha.count(source.path) && source.patch.payload.size != size) {
      return InvalidError(source.path + ": size differs from the APT index");
    }
    source.patch.payload.size = size;
    total += size;
  }
  // One pass over every payload to hash it; the writer checks the hash again as it copies.
  uint64_t done = 0;
  for (SourcePatch& source : sources) {
    FERRY_ASSIGN_OR_RETURN(source.patch.payload.sha256,
                           crypto::Sha256OfFile(source.path, [&](size_t bytes) {
                             done += bytes;
                             if (progress) progress(done, total);
                           }));
    const auto expected = expected_sha.find(source.path);
    if (expected != expected_sha.end() &&
        crypto::DigestHex(source.patch.payload.sha256) != expected->second) {
      return InvalidError(source.path + ": SHA-256 differs from the APT index");
    }
  }
  // The same patch found twice (same id and bytes) is kept once; same id, other bytes is an error.
  std::map<std::string, size_t> index_by_id;  // into `unique`
  std::vector<SourcePatch> unique;
  for (SourcePatch& source : sources) {
    const auto [it, inserted] = index_by_id.emplace(source.patch.id, unique.size());
    if (inserted) {
      unique.push_back(std::move(source));
      continue;
    }
    const SourcePatch& first = unique[it->second];
    if (first.patch.payload.sha256 != source.patch.payload.sha256) {
      return InvalidError(source.path + ": patch id \"" + source.patch.id + "\" also comes from " +
                          first.path + " with other bytes");
    }
  }
  LinkSupersedes(unique);
  return unique;
}

Result<BuildSummary> BuildBundle(const BuildOptions& options) {
  FERRY_ASSIGN_OR_RETURN(const std::vector<const crypto::TrustRoot*> chain, OrderChain(options.roots));
  const crypto::TrustRoot& root = *chain.back();
  if (options.now >= root.expires) {
    return InvalidError("root version " + std::to_string(root.version) + " expired at " +
                        FormatTime(root.expires));
  }
  FERRY_RETURN_IF_ERROR(CheckSigningKeys(root, options.keys));

  std::vector<Advisory> advisories;
  if (options.advisories_dir) {
    FERRY_ASSIGN_OR_RETURN(advisories, LoadAdvisories(*options.advisories_dir));
  }
  std::optional<Manifest> base;
  if (options.base_path) {
    FERRY_ASSIGN_OR_RETURN(BundleHead head, ReadBundleHead(*options.base_path));
    if (head.manifest.channel != options.channel) {
      return UsageError(*options.base_path + ": base is on channel \"" + head.manifest.channel +
                        "\", not \"" + options.channel + "\"");
    }
    if (head.manifest.sequence >= options.sequence) {
      return UsageError(*options.base_path + ": base sequence " +
                        std::to_string(head.manifest.sequence) + " is not below " +
                        std::to_string(options.sequence));
    }
    base = std::move(head.manifest);
  }

  FERRY_ASSIGN_OR_RETURN(
      std::vector<SourcePatch> sources,
      GatherSource(options.source_dir, options.target_os, [&](uint64_t done, uint64_t total) {
        if (options.progress) options.progress("hashing", done, total);
      }));

  Manifest manifest;
  manifest.channel = options.channel;
  manifest.sequence = options.sequence;
  manifest.created = options.now;
  manifest.expires = options.now + options.expires_in;
  manifest.site = options.site;
  manifest.root_version = root.version;
  std::set<crypto::Sha256Digest> in_base;
  if (base) {
    manifest.base_sequence = base->sequence;
    // Everything the base names is on a relay that imported it, carried or left out in turn.
    for (const Patch& patch : base->patches) in_base.insert(patch.payload.sha256);
  }
  std::map<crypto::Sha256Digest, std::string> payload_paths;
  std::set<crypto::Sha256Digest> omitted;
  for (SourcePatch& source : sources) {
    AttachAdvisories(source.patch, advisories);
    payload_paths.emplace(source.patch.payload.sha256, source.path);
    if (in_base.count(source.patch.payload.sha256)) omitted.insert(source.patch.payload.sha256);
    manifest.patches.push_back(std::move(source.patch));
  }
  manifest.omitted.assign(omitted.begin(), omitted.end());
  // Round-trip through the strict parser so the builder never signs what a reader would refuse.
  auto checked = ManifestFromJson(manifest.ToJson());
  if (!checked.ok()) return std::move(checked).error().Context("built manifest");

  FERRY_ASSIGN_OR_RETURN(std::string manifest_text, crypto::SignEnvelope(manifest.ToJson(), options.keys));
  if (manifest_text.size() > kMaxManifestSize) {
    return UsageError("the manifest of " + std::to_string(manifest.patches.size()) + " patches is " +
                      std::to_string(manifest_text.size()) +
                      " bytes, over the 16 MiB cap every reader enforces; split the source into "
                      "several bundles");
  }
  BundleWriteInput input;
  input.root_chain = chain;
  input.manifest_text = std::move(manifest_text);
  input.mtime = options.now;
  BuildSummary summary;
  for (const PayloadRef& payload : manifest.CarriedPayloads()) {
    input.payloads.push_back({payload, payload_paths.at(payload.sha256)});
    summary.carried_bytes += payload.size;
  }
  summary.carried_payloads = input.payloads.size();
  input.progress = [&](uint64_t done, uint64_t total) {
    if (options.progress) options.progress("writing", done, total);
  };
  FERRY_RETURN_IF_ERROR(WriteBundle(options.out_path, input));
  summary.manifest = std::move(manifest);
  return summary;
}

}  // namespace ferry::bundler
