#pragma once

// Installing a .deb with the real dpkg, into the host or into a private dpkg root, without
// prompting and without fighting another package manager for dpkg's lock. docs/installers.md.

#include <chrono>
#include <string>
#include <vector>

#include "common/error.hpp"
#include "endpoint/install_outcome.hpp"
#include "endpoint/local_inventory.hpp"

namespace ferry::endpoint {

struct DpkgInstallOptions {
  // How long to wait for another dpkg, apt or unattended-upgrades run to release the lock.
  std::chrono::milliseconds lock_wait{std::chrono::minutes(2)};
  // How long dpkg may run. A dpkg stopped here leaves the package half-installed (dpkg says so
  // on its next run), so this is a last resort against a maintainer script that hangs.
  std::chrono::milliseconds timeout{std::chrono::hours(1)};
  std::chrono::milliseconds kill_grace{std::chrono::seconds(30)};
};

// The argument vector InstallDeb runs for an absolute .deb path and a resolved root ("" = host).
std::vector<std::string> DpkgInstallArguments(const std::string& dpkg, const std::string& deb_path,
                                              const std::string& resolved_root);

// Installs one .deb with `dpkg --install`. Exit code 0 is kInstalled (kRebootRequired when the
// root's /run/reboot-required appeared or changed during the run), anything else kFailed with
// dpkg's output tail. Errors only when dpkg could not be started: dpkg missing, the .deb or the
// root unusable, or the lock still held after options.lock_wait ("dpkg database is locked by
// another process").
Result<InstallOutcome> InstallDeb(const std::string& deb_path, const DpkgRoot& root,
                                  const DpkgInstallOptions& options);
Result<InstallOutcome> InstallDeb(const std::string& deb_path, const DpkgRoot& root);

}  // namespace ferry::endpoint
