#pragma once

// An endpoint's installed packages in one normal form, so that endpoints built from the same
// image share one canonical text, one hash, one stored copy and one cached applicability answer.

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

#include "common/error.hpp"
#include "bundler/dpkg_status.hpp"

namespace ferry::bundler {

// The canonical text of the largest inventory (kMaxInstalledPackages entries of the longest
// fields) stays below this.
inline constexpr size_t kMaxInventoryCanonicalBytes = size_t{64} << 20;

// What one endpoint has installed, normalised: sorted by (name, architecture), duplicates refused.
struct Inventory {
  std::vector<InstalledPackage> packages;

  bool operator==(const Inventory&) const = default;
};

// Validates every entry (CheckInstalledPackage), sorts by (name, architecture) and refuses the
// same pair twice or more than kMaxInstalledPackages entries.
Result<Inventory> MakeInventory(std::vector<InstalledPackage> packages);

// Canonical JSON (docs/canonical-json.md) of the sorted triples: [["name","arch","version"],...].
std::string InventoryCanonical(const Inventory& inventory);

// Reads a canonical inventory strictly: at most kMaxInventoryCanonicalBytes, an array of arrays
// of exactly three strings, every entry valid, and the text byte-for-byte canonical (so sorted and
// without duplicates), which makes InventoryHash of the result the SHA-256 of `text` itself.
Result<Inventory> InventoryFromCanonical(std::string_view text);

// Lower-case hex SHA-256 of InventoryCanonical(inventory).
std::string InventoryHash(const Inventory& inventory);

// The endpoint's native architecture as dpkg defines it, the architecture of the installed
// "dpkg" package; empty when the inventory has no dpkg or only an "all" one.
std::string_view NativeArchitecture(const Inventory& inventory);

}  // namespace ferry::bundler
