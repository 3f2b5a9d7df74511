#pragma once

// Material the agent's tests share: trust roots, bundles built by the bundler library, and the
// relay's TLS identity made by the relay's own CA code. Header-only: the suite's CMake glob
// compiles *_test.cpp files only.

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "bundler/build.hpp"
#include "crypto/trust_root.hpp"
#include "relay/tls_identity.hpp"
#include "tests/support/testing.hpp"

namespace ferry::endpoint::fixtures {

// Root `version`: `root_key` alone in the root role, `bundle_key` alone in the bundle role
// (threshold 1 each), signed by `root_key`.
inline crypto::TrustRoot MakeRoot(int64_t version, const crypto::SigningKey& root_key,
                                  const crypto::SigningKey& bundle_key) {
  crypto::TrustRoot root;
  root.version = version;
  root.expires = Now() + 365 * 86400;
  root.keys.emplace(root_key.id(), root_key.public_key());
  root.keys.emplace(bundle_key.id(), bundle_key.public_key());
  root.root_role = {{root_key.id()}, 1};
  root.bundle_role = {{bundle_key.id()}, 1};
  root.text = *crypto::SignTrustRoot(root, {&root_key});
  return root;
}

// Builds `out` on channel "stable" from every package in `source_dir`, signed by `key` under the
// newest of `roots`, created a minute ago.
inline void BuildBundle(const std::vector<crypto::TrustRoot>& roots, const crypto::SigningKey& key,
                        int64_t sequence, const std::string& source_dir, const std::string& out) {
  bundler::BuildOptions build;
  build.roots = roots;
  build.keys = {&key};
  build.channel = "stable";
  build.sequence = sequence;
  build.source_dir = source_dir;
  build.now = Now() - 60;
  build.out_path = out;
  auto built = bundler::BuildBundle(build);
  ASSERT_TRUE(built.ok()) << built.error().message();
}

// A relay TLS identity (CA, server certificate for these names) under `dir`/tls.
inline relay::TlsFiles MakeRelayTls(const std::string& dir, std::vector<std::string> dns_names,
                                    std::vector<std::string> ip_addresses) {
  relay::TlsIdentityOptions options;
  options.dns_names = std::move(dns_names);
  options.ip_addresses = std::move(ip_addresses);
  testing::Run("mkdir -p '" + dir + "'");
  const Status made = relay::CreateTlsIdentity(dir, options);
  EXPECT_TRUE(made.ok()) << made.error().message();
  return relay::TlsFilesIn(dir);
}

}  // namespace ferry::endpoint::fixtures
