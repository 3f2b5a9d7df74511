#pragma once

// The RFC 6962 / RFC 9162 Merkle tree over SHA-256 that the relay's audit log uses
// (docs/merkle-log.md): leaf hash SHA-256(0x00 || leaf), node hash SHA-256(0x01 || left || right),
// split at the largest power of two strictly below the size. Proofs follow RFC 9162 section 2.1.

#include <cstdint>
#include <span>
#include <string_view>
#include <vector>

#include "common/error.hpp"
#include "crypto/hash.hpp"

namespace ferry::crypto {

// The hash of one leaf: SHA-256(0x00 || leaf).
Sha256Digest MerkleLeafHash(std::string_view leaf);

// The hash of an interior node: SHA-256(0x01 || left || right).
Sha256Digest MerkleNodeHash(const Sha256Digest& left, const Sha256Digest& right);

// The root of the tree whose leaves hash to `leaf_hashes`, in O(n) time and O(log n) memory. The
// empty tree's root is SHA-256 of the empty string.
Sha256Digest MerkleRoot(std::span<const Sha256Digest> leaf_hashes);

// The running root of a log appended to leaf by leaf. Holds one hash per set bit of the size (at
// most 64), so memory stays flat however long the log grows.
class MerkleAccumulator {
 public:
  MerkleAccumulator() = default;

  // Restores an accumulator saved with size() and frontier(). The frontier must hold exactly one
  // hash per set bit of `size`; anything else is ErrorKind::kInvalid.
  static Result<MerkleAccumulator> FromFrontier(uint64_t size, std::vector<Sha256Digest> frontier);

  // Adds the next leaf (by its leaf hash, MerkleLeafHash of the leaf bytes).
  void Append(const Sha256Digest& leaf_hash);

  // The number of leaves appended.
  uint64_t size() const { return size_; }

  // The root over every leaf appended, equal to MerkleRoot over the same leaf hashes.
  Sha256Digest Root() const;

  // The roots of the perfect subtrees that make up the tree, largest (leftmost) first.
  const std::vector<Sha256Digest>& frontier() const { return frontier_; }

 private:
  uint64_t size_ = 0;
  std::vector<Sha256Digest> frontier_;
};

// The audit path of leaf `index` (RFC 9162 2.1.3.1), nearest sibling first, in O(n) time.
// An index not below the tree size is ErrorKind::kInvalid.
Result<std::vector<Sha256Digest>> InclusionProof(std::span<const Sha256Digest> leaf_hashes,
                                                 uint64_t index);

// Checks that `leaf_hash` is leaf `index` of the tree of `tree_size` leaves with `root`
// (RFC 9162 2.1.3.2). Any failure is ErrorKind::kInvalid naming the cause.
Status VerifyInclusion(const Sha256Digest& leaf_hash, uint64_t index, uint64_t tree_size,
                       std::span<const Sha256Digest> proof, const Sha256Digest& root);

// Proof that the first old_size leaves are a prefix of all leaf_hashes (RFC 9162 2.1.4.1), in O(n)
// time. Empty when old_size is 0 or the full size; old_size above the size is ErrorKind::kInvalid.
Result<std::vector<Sha256Digest>> ConsistencyProof(std::span<const Sha256Digest> leaf_hashes,
                                                   uint64_t old_size);

// Checks that the tree (old_size, old_root) is a prefix of the tree (new_size, new_root)
// (RFC 9162 2.1.4.2). Equal sizes need an empty proof and equal roots. Old size 0 needs an empty
// proof and old_root equal to the empty tree's root (every tree extends the empty one). Any failure
// is ErrorKind::kInvalid naming the cause.
Status VerifyConsistency(uint64_t old_size, uint64_t new_size, const Sha256Digest& old_root,
                         const Sha256Digest& new_root, std::span<const Sha256Digest> proof);

}  // namespace ferry::crypto
