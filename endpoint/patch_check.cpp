#include "endpoint/patch_check.hpp"

#include <sys/stat.h>

#include <cerrno>
#include <cstring>

#include "bundler/bundle_reader.hpp"
#include "bundler/debian_version.hpp"
#include "crypto/envelope.hpp"

namespace ferry::endpoint {
namespace {

Error Mismatch(const std::string& id, const std::string& field, const std::string& offered,
               const std::string& signed_value) {
  return InvalidError("patch " + id + ": the relay says " + field + " \"" + offered +
                      "\" but the signed manifest says \"" + signed_value + "\"");
}

}  // namespace

Result<crypto::TrustRoot> CheckEnrollmentRoot(std::string_view text, const std::string& what,
                                              UnixTime now) {
  if (text.size() > crypto::kMaxTrustRootBytes) {
    return InvalidError(what + ": larger than the 1 MiB cap of a trust root");
  }
  auto root = crypto::ParseTrustRoot(text);
  if (!root.ok()) {
    return std::move(root).error().Context(what);
  }
  if (root->ExpiredAt(now)) {
    return InvalidError(what + ": root version " + std::to_string(root->version) + " expired at " +
                        FormatTime(root->expires));
  }
  return std::move(*root);
}

Result<bundler::Manifest> VerifyManifest(std::string_view text, const crypto::TrustRoot& root,
                                         UnixTime now) {
  if (text.size() > bundler::kMaxManifestSize) {
    return InvalidError("manifest: larger than the 16 MiB cap");
  }
  FERRY_ASSIGN_OR_RETURN(
      const crypto::Envelope envelope,
      crypto::ParseEnvelope(text, "manifest",
                            json::ParseLimits{.max_bytes = bundler::kMaxManifestSize}));
  FERRY_ASSIGN_OR_RETURN(bundler::Manifest manifest,
                         bundler::ManifestFromJson(envelope.signed_value));
  const std::string name = "manifest " + manifest.channel + "/" + std::to_string(manifest.sequence);
  if (root.ExpiredAt(now)) {
    return InvalidError(name + ": the newest trusted root (version " +
                        std::to_string(root.version) + ") expired at " + FormatTime(root.expires));
  }
  if (manifest.root_version > root.version) {
    return InvalidError(name + ": names root version " + std::to_string(manifest.root_version) +
                        " but the agent trusts only up to " + std::to_string(root.version));
  }
  auto signatures =
      crypto::VerifyThreshold(envelope, root.keys, root.bundle_role, "manifest", "bundle");
  if (!signatures.ok()) {
    return std::move(signatures).error().Context(name);
  }
  // Only now are the dates known to be the signers'.
  if (now >= manifest.expires) {
    return InvalidError(name + ": expired at " + FormatTime(manifest.expires) +
                        " (checked against " + FormatTime(now) + ")");
  }
  return manifest;
}

Result<const bundler::Patch*> MatchOfferedPatch(const OfferedPatch& offered,
                                                const bundler::Manifest& manifest,
                                                std::string_view target_os) {
  const bundler::Patch* patch = nullptr;
  for (const bundler::Patch& candidate : manifest.patches) {
    if (candidate.id == offered.id) {
      patch = &candidate;
      break;
    }
  }
  if (patch == nullptr) {
    return InvalidError("patch " + offered.id + ": not in the signed manifest " + manifest.channel +
                        "/" + std::to_string(manifest.sequence));
  }
  if (patch->kind != offered.kind) {
    return Mismatch(offered.id, "kind", offered.kind, patch->kind);
  }
  if (patch->package != offered.package) {
    return Mismatch(offered.id, "package", offered.package, patch->package);
  }
  if (patch->version != offered.version) {
    return Mismatch(offered.id, "version", offered.version, patch->version);
  }
  if (patch->architecture != offered.architecture) {
    return Mismatch(offered.id, "architecture", offered.architecture, patch->architecture);
  }
  if (patch->payload.sha256 != offered.payload_sha256) {
    return Mismatch(offered.id, "payload SHA-256", crypto::DigestHex(offered.payload_sha256),
                    crypto::DigestHex(patch->payload.sha256));
  }
  if (patch->payload.size != offered.payload_size) {
    return Mismatch(offered.id, "payload size", std::to_string(offered.payload_size),
                    std::to_string(patch->payload.size));
  }
  if (patch->target_os != target_os) {
    return InvalidError("patch " + offered.id + ": signed for " + patch->target_os +
                        ", this endpoint runs " + std::string(target_os));
  }
  return patch;
}

Status CheckDebControl(const bundler::DebControl& control, const bundler::Patch& patch) {
  const auto differs = [&](const char* field, const std::string& in_deb,
                           const std::string& in_manifest) {
    return InvalidError("patch " + patch.id + ": the .deb's control file says " + field + " \"" +
                        in_deb + "\" but the signed manifest says \"" + in_manifest + "\"");
  };
  if (control.package != patch.package) {
    return differs("Package", control.package, patch.package);
  }
  if (control.version != patch.version) {
    return differs("Version", control.version, patch.version);
  }
  if (control.architecture != patch.architecture) {
    return differs("Architecture", control.architecture, patch.architecture);
  }
  return Ok();
}

Status CheckUpgrade(const bundler::Patch& patch, const bundler::Inventory& inventory) {
  for (const bundler::InstalledPackage& installed : inventory.packages) {
    if (installed.name != patch.package) {
      continue;
    }
    if (installed.architecture != patch.architecture && installed.architecture != "all" &&
        patch.architecture != "all") {
      continue;
    }
    const int order = bundler::CompareDebianVersions(installed.version, patch.version);
    if (order == 0) {
      return InvalidError("patch " + patch.id + ": " + patch.package + " " + patch.version +
                          " is already installed");
    }
    if (order > 0) {
      return InvalidError("patch " + patch.id + ": would downgrade " + patch.package + " from " +
                          installed.version + " to " + patch.version);
    }
  }
  return Ok();
}

Status CheckPayloadFile(const std::string& path, const bundler::PayloadRef& payload) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) {
    return IoError(path + ": stat: " + std::strerror(errno));
  }
  if (static_cast<uint64_t>(st.st_size) != payload.size) {
    return InvalidError("payload " + crypto::DigestHex(payload.sha256) + " (" + payload.file_name +
                        ") is " + std::to_string(st.st_size) + " bytes; the signed manifest says " +
                        std::to_string(payload.size));
  }
  FERRY_ASSIGN_OR_RETURN(const crypto::Sha256Digest digest, crypto::Sha256OfFile(path));
  if (digest != payload.sha256) {
    return InvalidError("payload " + crypto::DigestHex(payload.sha256) + " (" + payload.file_name +
                        ") does not match its SHA-256 in the signed "
                        "manifest (the relay served " +
                        crypto::DigestHex(digest) + ")");
  }
  return Ok();
}

}  // namespace ferry::endpoint
