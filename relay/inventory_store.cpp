#include "relay/inventory_store.hpp"

#include "common/time.hpp"

namespace ferry::relay {

Result<std::string> PutInventory(sql::Database& db, const bundler::Inventory& inventory) {
  const std::string canonical = bundler::InventoryCanonical(inventory);
  const std::string hash = bundler::InventoryHash(inventory);
  FERRY_ASSIGN_OR_RETURN(
      sql::Statement insert,
      db.Prepare("INSERT OR IGNORE INTO inventories (sha256, canonical, package_count, first_seen) "
                 "VALUES (?, ?, ?, ?)"));
  insert.Bind(1, hash)
      .BindBlob(2, canonical)
      .Bind(3, static_cast<int64_t>(inventory.packages.size()))
      .Bind(4, Now());
  FERRY_RETURN_IF_ERROR(insert.Run());
  return hash;
}

Result<std::optional<bundler::Inventory>> GetInventory(sql::Database& db,
                                                       const std::string& sha256) {
  FERRY_ASSIGN_OR_RETURN(sql::Statement query,
                         db.Prepare("SELECT canonical FROM inventories WHERE sha256 = ?"));
  query.Bind(1, sha256);
  FERRY_ASSIGN_OR_RETURN(const bool row, query.Step());
  if (!row) return std::optional<bundler::Inventory>();
  auto inventory = bundler::InventoryFromCanonical(query.Text(0));
  if (!inventory.ok()) return std::move(inventory).error().Context("inventory " + sha256);
  // The key is the content's hash: a row that no longer matches it was damaged.
  if (bundler::InventoryHash(*inventory) != sha256) {
    return InvalidError("inventory " + sha256 + ": stored content does not match its hash");
  }
  return std::optional<bundler::Inventory>(std::move(*inventory));
}

Result<int64_t> InventoryCount(sql::Database& db) {
  FERRY_ASSIGN_OR_RETURN(sql::Statement query, db.Prepare("SELECT COUNT(*) FROM inventories"));
  FERRY_ASSIGN_OR_RETURN(const bool row, query.Step());
  return row ? query.Int(0) : 0;
}

}  // namespace ferry::relay
