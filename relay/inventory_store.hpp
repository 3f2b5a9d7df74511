#pragma once

// Inventories kept once per distinct content: endpoints that share an image share one row.

#include <optional>
#include <string>

#include "bundler/inventory.hpp"
#include "common/error.hpp"
#include "relay/sqlite.hpp"

namespace ferry::relay {

// Stores the inventory unless a row with its hash exists; returns the hash.
Result<std::string> PutInventory(sql::Database& db, const bundler::Inventory& inventory);

// The inventory stored under `sha256`, re-checked against its hash, or nullopt when unknown.
Result<std::optional<bundler::Inventory>> GetInventory(sql::Database& db,
                                                       const std::string& sha256);

Result<int64_t> InventoryCount(sql::Database& db);

}  // namespace ferry::relay
