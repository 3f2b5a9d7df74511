#include "bundler/inventory.hpp"

#include <algorithm>
#include <cstdlib>
#include <tuple>
#include <utility>

#include "common/json.hpp"
#include "crypto/hash.hpp"

namespace ferry::bundler {
namespace {

bool ByNameThenArchitecture(const InstalledPackage& a, const InstalledPackage& b) {
  return std::tie(a.name, a.architecture) < std::tie(b.name, b.architecture);
}

bool NeedsNoEscape(std::string_view text) {
  return std::all_of(text.begin(), text.end(),
                     [](char c) { return c >= ' ' && c <= '~' && c != '"' && c != '\\'; });
}

}  // namespace

Result<Inventory> MakeInventory(std::vector<InstalledPackage> packages) {
  if (packages.size() > kMaxInstalledPackages) {
    return InvalidError("inventory: more than " + std::to_string(kMaxInstalledPackages) +
                        " packages");
  }
  for (size_t i = 0; i < packages.size(); ++i) {
    if (Status valid = CheckInstalledPackage(packages[i]); !valid.ok()) {
      return std::move(valid).error().Context("inventory[" + std::to_string(i) + "]");
    }
  }
  std::sort(packages.begin(), packages.end(), ByNameThenArchitecture);
  const auto duplicate = std::adjacent_find(
      packages.begin(), packages.end(), [](const InstalledPackage& a, const InstalledPackage& b) {
        return a.name == b.name && a.architecture == b.architecture;
      });
  if (duplicate != packages.end()) {
    return InvalidError("inventory: package " + duplicate->name + ":" + duplicate->architecture +
                        " appears twice");
  }
  return Inventory{std::move(packages)};
}

std::string InventoryCanonical(const Inventory& inventory) {
  // Validated fields are printable ASCII without '"' or '\\', which canonical JSON writes as
  // themselves, so the text can be assembled directly; this runs on every inventory report.
  size_t size = 2;
  bool plain = true;
  for (const InstalledPackage& package : inventory.packages) {
    size += package.name.size() + package.architecture.size() + package.version.size() + 13;
    plain = plain && NeedsNoEscape(package.name) && NeedsNoEscape(package.architecture) &&
            NeedsNoEscape(package.version);
  }
  if (plain) {
    std::string out;
    out.reserve(size);
    out.push_back('[');
    for (const InstalledPackage& package : inventory.packages) {
      if (out.size() > 1) {
        out.push_back(',');
      }
      out.append("[\"").append(package.name).append("\",\"").append(package.architecture);
      out.append("\",\"").append(package.version).append("\"]");
    }
    out.push_back(']');
    return out;
  }
  json::Array entries;
  entries.reserve(inventory.packages.size());
  for (const InstalledPackage& package : inventory.packages) {
    entries.emplace_back(json::Array{package.name, package.architecture, package.version});
  }
  auto text = json::Canonical(json::Value(std::move(entries)));
  if (!text.ok()) {
    // Only non-integer or out-of-range numbers fail to encode, and an inventory holds strings.
    std::abort();
  }
  return std::move(text).value();
}

Result<Inventory> InventoryFromCanonical(std::string_view text) {
  if (text.size() > kMaxInventoryCanonicalBytes) {
    return InvalidError("inventory: larger than " + std::to_string(kMaxInventoryCanonicalBytes) +
                        " bytes");
  }
  json::ParseLimits limits;
  limits.max_bytes = kMaxInventoryCanonicalBytes;
  limits.max_depth = 2;
  auto parsed = json::Parse(text, limits);
  if (!parsed.ok()) {
    return std::move(parsed).error().Context("inventory");
  }
  if (!parsed->is_array()) {
    return InvalidError(std::string("inventory: expected array, found ") + parsed->type_name());
  }
  const json::Array& entries = parsed->as_array();
  if (entries.size() > kMaxInstalledPackages) {
    return InvalidError("inventory: more than " + std::to_string(kMaxInstalledPackages) +
                        " packages");
  }
  std::vector<InstalledPackage> packages;
  packages.reserve(entries.size());
  for (size_t i = 0; i < entries.size(); ++i) {
    const std::string path = "inventory[" + std::to_string(i) + "]";
    if (!entries[i].is_array() || entries[i].as_array().size() != 3) {
      return InvalidError(path + ": expected [name, architecture, version]");
    }
    const json::Array& triple = entries[i].as_array();
    for (const json::Value& field : triple) {
      if (!field.is_string()) {
        return InvalidError(path + ": expected strings, found " + field.type_name());
      }
    }
    packages.push_back({triple[0].as_string(), triple[1].as_string(), triple[2].as_string()});
  }
  FERRY_ASSIGN_OR_RETURN(Inventory inventory, MakeInventory(std::move(packages)));
  if (InventoryCanonical(inventory) != text) {
    return InvalidError("inventory: not in canonical form (sorted, no whitespace)");
  }
  return inventory;
}

std::string InventoryHash(const Inventory& inventory) {
  return crypto::DigestHex(crypto::Sha256Of(InventoryCanonical(inventory)));
}

std::string_view NativeArchitecture(const Inventory& inventory) {
  const auto it = std::lower_bound(
      inventory.packages.begin(), inventory.packages.end(), std::string_view("dpkg"),
      [](const InstalledPackage& p, std::string_view name) { return p.name < name; });
  // A multi-arch system has one dpkg only: dpkg is Multi-Arch: foreign and never co-installed.
  if (it == inventory.packages.end() || it->name != "dpkg" || it->architecture == "all") {
    return {};
  }
  return it->architecture;
}

}  // namespace ferry::bundler
