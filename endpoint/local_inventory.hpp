#pragma once

// The endpoint's own inventory, read from dpkg's database: the host's (/var/lib/dpkg/status) or
// that of a private dpkg root, a directory tree with its own var/lib/dpkg that tests and the demo
// install into instead of the host. docs/installers.md.

#include <string>

#include "bundler/inventory.hpp"
#include "common/error.hpp"

namespace ferry::endpoint {

struct DpkgRoot {
  std::string root;  // "" = the host's
};

// The dpkg administrative directory of a root: "/var/lib/dpkg" or "<root>/var/lib/dpkg".
std::string DpkgAdminDir(const DpkgRoot& root);

// Checks that a private root is a directory with a dpkg status file and returns its absolute,
// symlink-free path; "" and "/" (the host) come back as "". Errors are kIo and name the root.
Result<std::string> ResolveDpkgRoot(const DpkgRoot& root);

// The installed packages recorded in the root's status file, normalised (bundler::MakeInventory).
// kIo when the root or the file cannot be read, kInvalid when the file is malformed.
Result<bundler::Inventory> ReadLocalInventory(const DpkgRoot& root);

// Makes `dir` (created if missing) a private dpkg root: var/lib/dpkg with info/, updates/,
// triggers/, empty status and available files, and var/log for dpkg's log. Existing files are
// left as they are, so running it on a used root changes nothing.
Status CreateDpkgRoot(const std::string& dir);

}  // namespace ferry::endpoint
