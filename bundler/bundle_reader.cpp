#include "bundler/bundle_reader.hpp"

#include <cstdio>
#include <map>

#include "bundler/tar_reader.hpp"
#include "crypto/hash.hpp"

namespace ferry::bundler {
namespace {

// Reads root/*.json and manifest.json, which must come first, and parses the manifest. Leaves
// `reader` positioned at the first payload member, whose header is returned.
struct HeadRead {
  BundleHead head;
  std::optional<TarMember> next;
};

Result<HeadRead> ReadHead(TarReader& reader, const std::string& path) {
  HeadRead result;
  int64_t last_root_version = 0;
  while (true) {
    FERRY_ASSIGN_OR_RETURN(std::optional<TarMember> member, reader.Next());
    if (!member) {
      return InvalidError(path + ": no " + std::string(kManifestMember) + " in the bundle");
    }
    const std::string& name = member->name;
    if (name.starts_with(kRootMemberPrefix)) {
      if (result.head.root_chain.size() >= kMaxRootChain) {
        return InvalidError(path + ": more than " + std::to_string(kMaxRootChain) + " roots");
      }
      if (member->size > kMaxRootSize) {
        return InvalidError(path + ": " + name + " is larger than the 1 MiB cap");
      }
      FERRY_ASSIGN_OR_RETURN(std::string text, reader.ReadSmall());
      auto root = crypto::ParseTrustRoot(text);
      if (!root.ok()) return std::move(root).error().Context(path + ": " + name);
      if (name != RootMemberName(root->version) || root->version <= last_root_version) {
        return InvalidError(path + ": " + name + " is out of order or misnamed");
      }
      last_root_version = root->version;
      result.head.root_chain.push_back(std::move(text));
      continue;
    }
    if (name != kManifestMember) {
      return InvalidError(path + ": member \"" + name + "\" comes before " +
                          std::string(kManifestMember) + " or is not part of the format");
    }
    if (member->size > kMaxManifestSize) {
      return InvalidError(path + ": manifest.json of " + std::to_string(member->size) +
                          " bytes exceeds the 16 MiB cap");
    }
    FERRY_ASSIGN_OR_RETURN(result.head.manifest_text, reader.ReadSmall());
    auto envelope = crypto::ParseEnvelope(result.head.manifest_text, "manifest.json",
                                          json::ParseLimits{.max_bytes = kMaxManifestSize});
    if (!envelope.ok()) return std::move(envelope).error().Context(path);
    result.head.envelope = std::move(*envelope);
    auto manifest = ManifestFromJson(result.head.envelope.signed_value);
    if (!manifest.ok()) return std::move(manifest).error().Context(path);
    result.head.manifest = std::move(*manifest);
    FERRY_ASSIGN_OR_RETURN(result.next, reader.Next());
    return result;
  }
}

// Refuses a head that the pinned root does not vouch for. Returns the newest trusted root.
Result<crypto::TrustRoot> CheckTrust(const BundleHead& head, const crypto::TrustRoot& pinned,
                                     const VerifyOptions& options, const std::string& path) {
  auto root = crypto::VerifyRootChain(pinned, head.root_chain, options.now);
  if (!root.ok()) return std::move(root).error().Context(path + ": root chain");
  const Manifest& manifest = head.manifest;
  if (manifest.root_version > root->version) {
    return InvalidError(path + ": manifest names root version " +
                        std::to_string(manifest.root_version) + " but the chain reaches only " +
                        std::to_string(root->version));
  }
  auto signatures = crypto::VerifyThreshold(head.envelope, root->keys, root->bundle_role, "manifest",
                                            "bundle");
  if (!signatures.ok()) return std::move(signatures).error().Context(path);
  // Expiry is checked only once the signature shows the dates are the signer's.
  if (options.now >= manifest.expires) {
    return InvalidError(path + ": manifest expired at " + FormatTime(manifest.expires) +
                        " (checked against " + FormatTime(options.now) + ")");
  }
  if (manifest.site && options.site && *manifest.site != *options.site) {
    return InvalidError(path + ": bundle is bound to site \"" + *manifest.site +
                        "\", not \"" + *options.site + "\"");
  }
  return std::move(*root);
}

}  // namespace

std::string RootMemberName(int64_t version) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%08lld", static_cast<long long>(version));
  return std::string(kRootMemberPrefix) + buf + ".json";
}

std::string PayloadMemberName(const crypto::Sha256Digest& sha256) {
  return std::string(kPayloadMemberPrefix) + crypto::DigestHex(sha256);
}

Result<BundleHead> ReadBundleHead(const std::string& path) {
  FERRY_ASSIGN_OR_RETURN(TarReader reader, TarReader::Open(path));
  FERRY_ASSIGN_OR_RETURN(HeadRead read, ReadHead(reader, path));
  return std::move(read.head);
}

Result<VerifiedBundle> VerifyBundle(const std::string& path, const crypto::TrustRoot& pinned,
                                    const VerifyOptions& options, PayloadSink* sink) {
  FERRY_ASSIGN_OR_RETURN(TarReader reader, TarReader::Open(path));
  FERRY_ASSIGN_OR_RETURN(HeadRead read, ReadHead(reader, path));
  VerifiedBundle result;
  if (options.already_known) {
    FERRY_ASSIGN_OR_RETURN(result.already_known, options.already_known(read.head.manifest_text));
  }
  if (!result.already_known) {
    FERRY_ASSIGN_OR_RETURN(result.root, CheckTrust(read.head, pinned, options, path));
    if (options.on_head) {
      Status accepted = options.on_head(read.head, result.root);
      if (!accepted.ok()) return std::move(accepted).error().Context(path);
    }
  }
  result.head = std::move(read.head);

  // Every carried payload once, by member name; the manifest is the only source of truth.
  std::map<std::string, PayloadRef> expected;
  uint64_t total = 0;
  for (const PayloadRef& payload : result.head.manifest.CarriedPayloads()) {
    total += payload.size;
    expected.emplace(PayloadMemberName(payload.sha256), payload);
  }
  std::map<std::string, bool> seen;
  uint64_t done = 0;
  crypto::Sha256 hasher;
  for (std::optional<TarMember> member = std::move(read.next); member;) {
    const std::string& name = member->name;
    const auto it = expected.find(name);
    if (it == expected.end()) {
      if (name == kManifestMember || name.starts_with(kRootMemberPrefix)) {
        return InvalidError(path + ": duplicate or misplaced member \"" + name + "\"");
      }
      return InvalidError(path + ": member \"" + name + "\" is not in the manifest");
    }
    if (seen[name]) {
      return InvalidError(path + ": duplicate member \"" + name + "\"");
    }
    seen[name] = true;
    const PayloadRef& payload = it->second;
    if (member->size != payload.size) {
      return InvalidError(path + ": " + name + " (" + payload.file_name + ") is " +
                          std::to_string(member->size) + " bytes; the manifest says " +
                          std::to_string(payload.size));
    }
    if (sink) FERRY_RETURN_IF_ERROR(sink->BeginPayload(payload));
    hasher.Reset();
    FERRY_RETURN_IF_ERROR(reader.ReadData([&](std::span<const uint8_t> bytes) -> Status {
      hasher.Update(bytes.data(), bytes.size());
      done += bytes.size();
      if (options.progress) options.progress(done, total);
      return sink ? sink->WritePayload(bytes) : Ok();
    }));
    if (hasher.Finish() != payload.sha256) {
      return InvalidError(path + ": " + name + " (" + payload.file_name +
                          ") does not match its SHA-256 in the manifest");
    }
    if (sink) FERRY_RETURN_IF_ERROR(sink->EndPayload(payload));
    ++result.payload_count;
    result.payload_bytes += payload.size;
    FERRY_ASSIGN_OR_RETURN(member, reader.Next());
  }
  for (const auto& [name, payload] : expected) {
    if (!seen[name]) {
      return InvalidError(path + ": payload " + crypto::DigestHex(payload.sha256) + " (" +
                          payload.file_name + ") named in the manifest is missing from the bundle");
    }
  }
  return result;
}

}  // namespace ferry::bundler
