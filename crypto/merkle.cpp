#include "crypto/merkle.hpp"

#include <algorithm>
#include <array>
#include <bit>
#include <string>
#include <utility>

namespace ferry::crypto {
namespace {

constexpr uint8_t kLeafPrefix = 0x00;
constexpr uint8_t kNodePrefix = 0x01;

// One OpenSSL context per thread, reused: setting up a fresh context for every node would cost
// more than hashing its 65 bytes.
Sha256& ThreadHasher() {
  thread_local Sha256 hasher;
  return hasher;
}

// The left subtree's size for a tree of n >= 2 leaves: the largest power of two below n.
uint64_t SplitPoint(uint64_t n) { return std::bit_floor(n - 1); }

std::string HashCount(size_t n) { return std::to_string(n) + (n == 1 ? " hash" : " hashes"); }

Status CheckProofLength(size_t actual, size_t expected) {
  if (actual != expected) {
    return InvalidError("proof has " + HashCount(actual) + ", expected " +
                        std::to_string(expected));
  }
  return Ok();
}

// The walk shared by RFC 9162 2.1.3.2 (step 4) and 2.1.4.2 (step 6) over the node indices
// (fn, sn), until sn reaches 0. For step i, `step(i, left)` is told whether proof hash i is the
// left sibling. Returns the number of steps: the only proof length that can verify.
template <typename Step>
size_t WalkPath(uint64_t fn, uint64_t sn, Step&& step) {
  size_t steps = 0;
  while (sn != 0) {
    const bool left = (fn & 1) != 0 || fn == sn;
    step(steps++, left);
    if (left) {
      while ((fn & 1) == 0 && fn != 0) {
        fn >>= 1;
        sn >>= 1;
      }
    }
    fn >>= 1;
    sn >>= 1;
  }
  return steps;
}

size_t PathSteps(uint64_t fn, uint64_t sn) {
  return WalkPath(fn, sn, [](size_t, bool) {});
}

// Appends the audit path of leaf m in `leaves` (RFC 9162 PATH), deepest sibling first.
void AppendPath(std::span<const Sha256Digest> leaves, uint64_t m, std::vector<Sha256Digest>& out) {
  const uint64_t n = leaves.size();
  if (n <= 1) {
    return;
  }
  const uint64_t k = SplitPoint(n);
  if (m < k) {
    AppendPath(leaves.first(k), m, out);
    out.push_back(MerkleRoot(leaves.subspan(k)));
  } else {
    AppendPath(leaves.subspan(k), m - k, out);
    out.push_back(MerkleRoot(leaves.first(k)));
  }
}

// Appends RFC 9162 SUBPROOF(m, leaves, known): `known` says the verifier already holds the root of
// the first m leaves, so it is not repeated. The subtrees hashed are disjoint: O(n) in total.
void AppendSubproof(std::span<const Sha256Digest> leaves, uint64_t m, bool known,
                    std::vector<Sha256Digest>& out) {
  const uint64_t n = leaves.size();
  if (m == n) {
    if (!known) {
      out.push_back(MerkleRoot(leaves));
    }
    return;
  }
  const uint64_t k = SplitPoint(n);
  if (m <= k) {
    AppendSubproof(leaves.first(k), m, known, out);
    out.push_back(MerkleRoot(leaves.subspan(k)));
  } else {
    AppendSubproof(leaves.subspan(k), m - k, false, out);
    out.push_back(MerkleRoot(leaves.first(k)));
  }
}

}  // namespace

Sha256Digest MerkleLeafHash(std::string_view leaf) {
  Sha256& hasher = ThreadHasher();
  hasher.Update(&kLeafPrefix, 1);
  hasher.Update(leaf);
  return hasher.Finish();
}

Sha256Digest MerkleNodeHash(const Sha256Digest& left, const Sha256Digest& right) {
  // One 65-byte update: each EVP update call costs about a tenth of the whole hash.
  std::array<uint8_t, 1 + 2 * std::tuple_size_v<Sha256Digest>> input;
  input[0] = kNodePrefix;
  std::copy(left.begin(), left.end(), input.begin() + 1);
  std::copy(right.begin(), right.end(), input.begin() + 1 + left.size());
  Sha256& hasher = ThreadHasher();
  hasher.Update(input.data(), input.size());
  return hasher.Finish();
}

Sha256Digest MerkleRoot(std::span<const Sha256Digest> leaf_hashes) {
  MerkleAccumulator accumulator;
  for (const Sha256Digest& leaf_hash : leaf_hashes) {
    accumulator.Append(leaf_hash);
  }
  return accumulator.Root();
}

Result<MerkleAccumulator> MerkleAccumulator::FromFrontier(uint64_t size,
                                                          std::vector<Sha256Digest> frontier) {
  const auto expected = static_cast<size_t>(std::popcount(size));
  if (frontier.size() != expected) {
    return InvalidError("Merkle frontier for size " + std::to_string(size) + " has " +
                        HashCount(frontier.size()) + ", expected " + std::to_string(expected));
  }
  MerkleAccumulator accumulator;
  accumulator.size_ = size;
  accumulator.frontier_ = std::move(frontier);
  return accumulator;
}

void MerkleAccumulator::Append(const Sha256Digest& leaf_hash) {
  // Like incrementing a binary counter: each trailing one bit of the old size is a perfect subtree
  // of the same height as the carry, so the two merge into one twice as large.
  Sha256Digest carry = leaf_hash;
  for (uint64_t bits = size_; (bits & 1) != 0; bits >>= 1) {
    carry = MerkleNodeHash(frontier_.back(), carry);
    frontier_.pop_back();
  }
  frontier_.push_back(carry);
  ++size_;
}

Sha256Digest MerkleAccumulator::Root() const {
  if (frontier_.empty()) {
    return Sha256Of("");
  }
  // RFC 6962 splits off the largest perfect subtree on the left, then recurses on the right, so
  // the smaller subtrees combine first.
  Sha256Digest root = frontier_.back();
  for (size_t i = frontier_.size() - 1; i > 0; --i) {
    root = MerkleNodeHash(frontier_[i - 1], root);
  }
  return root;
}

Result<std::vector<Sha256Digest>> InclusionProof(std::span<const Sha256Digest> leaf_hashes,
                                                 uint64_t index) {
  if (index >= leaf_hashes.size()) {
    return InvalidError("leaf index " + std::to_string(index) + " is not below tree size " +
                        std::to_string(leaf_hashes.size()));
  }
  std::vector<Sha256Digest> proof;
  AppendPath(leaf_hashes, index, proof);
  return proof;
}

Status VerifyInclusion(const Sha256Digest& leaf_hash, uint64_t index, uint64_t tree_size,
                       std::span<const Sha256Digest> proof, const Sha256Digest& root) {
  if (index >= tree_size) {
    return InvalidError("leaf index " + std::to_string(index) + " is not below tree size " +
                        std::to_string(tree_size));
  }
  FERRY_RETURN_IF_ERROR(CheckProofLength(proof.size(), PathSteps(index, tree_size - 1)));
  Sha256Digest r = leaf_hash;
  WalkPath(index, tree_size - 1, [&](size_t i, bool left) {
    r = left ? MerkleNodeHash(proof[i], r) : MerkleNodeHash(r, proof[i]);
  });
  if (r != root) {
    return InvalidError("inclusion proof for leaf " + std::to_string(index) +
                        " does not lead to the root of tree size " + std::to_string(tree_size));
  }
  return Ok();
}

Result<std::vector<Sha256Digest>> ConsistencyProof(std::span<const Sha256Digest> leaf_hashes,
                                                   uint64_t old_size) {
  if (old_size > leaf_hashes.size()) {
    return InvalidError("old size " + std::to_string(old_size) + " is larger than new size " +
                        std::to_string(leaf_hashes.size()));
  }
  std::vector<Sha256Digest> proof;
  if (old_size == 0 || old_size == leaf_hashes.size()) {
    return proof;
  }
  AppendSubproof(leaf_hashes, old_size, true, proof);
  return proof;
}

Status VerifyConsistency(uint64_t old_size, uint64_t new_size, const Sha256Digest& old_root,
                         const Sha256Digest& new_root, std::span<const Sha256Digest> proof) {
  if (old_size > new_size) {
    return InvalidError("old size " + std::to_string(old_size) + " is larger than new size " +
                        std::to_string(new_size));
  }
  if (old_size == 0) {
    FERRY_RETURN_IF_ERROR(CheckProofLength(proof.size(), 0));
    const Sha256Digest empty_root = Sha256Of("");
    if (old_root != empty_root) {
      return InvalidError("old root of size 0 is not the empty tree's root");
    }
    if (new_size == 0 && new_root != empty_root) {
      return InvalidError("new root of size 0 is not the empty tree's root");
    }
    return Ok();
  }
  if (old_size == new_size) {
    FERRY_RETURN_IF_ERROR(CheckProofLength(proof.size(), 0));
    if (old_root != new_root) {
      return InvalidError("old and new roots differ at the same size " + std::to_string(old_size));
    }
    return Ok();
  }

  // RFC 9162 2.1.4.2. When the old tree is a perfect subtree, its root is the first element and
  // the proof leaves it out.
  uint64_t fn = old_size - 1;
  uint64_t sn = new_size - 1;
  while ((fn & 1) != 0) {
    fn >>= 1;
    sn >>= 1;
  }
  const bool old_is_perfect = std::has_single_bit(old_size);
  FERRY_RETURN_IF_ERROR(
      CheckProofLength(proof.size(), PathSteps(fn, sn) + (old_is_perfect ? 0 : 1)));

  const size_t first_index = old_is_perfect ? 0 : 1;
  Sha256Digest fr = old_is_perfect ? old_root : proof[0];
  Sha256Digest sr = fr;
  WalkPath(fn, sn, [&](size_t i, bool left) {
    const Sha256Digest& c = proof[first_index + i];
    if (left) {
      fr = MerkleNodeHash(c, fr);
      sr = MerkleNodeHash(c, sr);
    } else {
      sr = MerkleNodeHash(sr, c);
    }
  });
  if (fr != old_root) {
    return InvalidError("consistency proof does not lead to the old root");
  }
  if (sr != new_root) {
    return InvalidError("consistency proof does not lead to the new root");
  }
  return Ok();
}

}  // namespace ferry::crypto
