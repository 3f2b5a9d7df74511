#pragma once

// The agent's own checks of what the relay offers. The relay is a cache, not an authority: a
// patch is installed only when a manifest signed by a threshold of the agent's pinned (or
// properly rotated) bundle keys names it, with the same package, version and payload, and the
// downloaded bytes are those the manifest names. docs/ferry-agent.md, "What the agent verifies".

#include <string>
#include <string_view>

#include "bundler/deb_file.hpp"
#include "bundler/inventory.hpp"
#include "bundler/manifest.hpp"
#include "common/error.hpp"
#include "common/time.hpp"
#include "crypto/hash.hpp"
#include "crypto/trust_root.hpp"
#include "endpoint/relay_api.hpp"

namespace ferry::endpoint {

// Accepts a trust root given at enrolment the way the relay accepts one at init: it parses, a
// threshold of its own root keys signed it, and it has not expired at `now`.
Result<crypto::TrustRoot> CheckEnrollmentRoot(std::string_view text, const std::string& what,
                                              UnixTime now);

// Verifies a signed manifest (the envelope bytes the relay served) against the newest trusted
// root: size cap, strict envelope and manifest, root not expired, root_version not above the
// root's, bundle-role threshold met, manifest not expired at `now`. The site binding is not
// checked: an agent does not know its site (the relay that serves it does).
Result<bundler::Manifest> VerifyManifest(std::string_view text, const crypto::TrustRoot& root,
                                         UnixTime now);

// The manifest's patch for an offered one, when the summary agrees with it on id, kind,
// package, version, architecture, payload hash and size, and the patch is for `target_os`.
Result<const bundler::Patch*> MatchOfferedPatch(const OfferedPatch& offered,
                                                const bundler::Manifest& manifest,
                                                std::string_view target_os);

// A .deb's own control fields must name the manifest's package, version and architecture.
Status CheckDebControl(const bundler::DebControl& control, const bundler::Patch& patch);

// Refuses a deb patch that would not upgrade the package: the installed package whose
// architecture is the patch's (or "all" on either side) has the same or a higher version.
// A package that is not installed passes (dpkg installs it).
Status CheckUpgrade(const bundler::Patch& patch, const bundler::Inventory& inventory);

// Checks a downloaded file against the manifest: exact size, then SHA-256 of its contents.
Status CheckPayloadFile(const std::string& path, const bundler::PayloadRef& payload);

}  // namespace ferry::endpoint
