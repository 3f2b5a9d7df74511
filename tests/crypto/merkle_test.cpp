#include "crypto/merkle.hpp"

#include <gtest/gtest.h>

#include <bit>
#include <string>
#include <vector>

#include "common/encoding.hpp"

namespace ferry::crypto {
namespace {

// The certificate-transparency / transparency-dev reference tree (RFC 6962 test data): its eight
// leaves, its roots for sizes 0..8, and proofs from the same test data. Every value was also
// recomputed independently with python3 hashlib from the RFC 9162 definitions of MTH, PATH and
// SUBPROOF before being pasted here.
const char* const kReferenceLeaves[] = {
    "",
    "00",
    "10",
    "2021",
    "3031",
    "40414243",
    "5051525354555657",
    "606162636465666768696a6b6c6d6e6f",
};

const char* const kReferenceRoots[] = {
    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",  // size 0: SHA-256("")
    "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
    "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
    "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
    "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
    "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
    "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",  // size 8
};

struct InclusionVector {
  uint64_t index;  // 0-based (the Go test data counts leaves from 1)
  uint64_t size;
  std::vector<const char*> proof;
};

const InclusionVector kInclusionVectors[] = {
    {0, 1, {}},
    {0,
     8,
     {"96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
      "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
      "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4"}},
    {5,
     8,
     {"bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
      "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
      "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"}},
    {2, 3, {"fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125"}},
    {1,
     5,
     {"6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
      "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
      "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b"}},
};

struct ConsistencyVector {
  uint64_t old_size;
  uint64_t new_size;
  std::vector<const char*> proof;
};

const ConsistencyVector kConsistencyVectors[] = {
    {1, 1, {}},
    {1,
     8,
     {"96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
      "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
      "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4"}},
    {6,
     8,
     {"0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
      "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
      "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"}},
    {2,
     5,
     {"5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
      "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b"}},
    {6,
     7,
     {"0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
      "b08693ec2e721597130641e8211e7eedccb4c26413963eee6c1e2ed16ffb1a5f",
      "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"}},
    // Not in the Go test data; computed with python3 from RFC 9162 SUBPROOF only.
    {4, 8, {"6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4"}},
    {3,
     7,
     {"0298d122906dcfc10892cb53a73992fc5b9f493ea4c9badb27b791b4127a7fe7",
      "07506a85fd9dd2f120eb694f86011e5bb4662e5c415a62917033d4a9624487e7",
      "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
      "837dbb152e9b079010717e84e865da4ebc0fa198a806d59d31bf15accef22d0e"}},
};

Sha256Digest D(const char* hex) {
  auto digest = ParseDigestHex(hex);
  EXPECT_TRUE(digest.ok()) << hex;
  return digest.ok() ? *digest : Sha256Digest{};
}

std::vector<Sha256Digest> Digests(const std::vector<const char*>& hexes) {
  std::vector<Sha256Digest> out;
  for (const char* hex : hexes) {
    out.push_back(D(hex));
  }
  return out;
}

std::vector<Sha256Digest> ReferenceLeafHashes() {
  std::vector<Sha256Digest> out;
  for (const char* hex : kReferenceLeaves) {
    auto bytes = HexDecode(hex);
    EXPECT_TRUE(bytes.ok());
    out.push_back(MerkleLeafHash(
        std::string_view(reinterpret_cast<const char*>(bytes->data()), bytes->size())));
  }
  return out;
}

// Distinct leaves for the property tests.
std::vector<Sha256Digest> SyntheticLeafHashes(size_t n) {
  std::vector<Sha256Digest> out;
  out.reserve(n);
  for (size_t i = 0; i < n; ++i) {
    out.push_back(MerkleLeafHash("event " + std::to_string(i)));
  }
  return out;
}

std::string ErrorOf(const Status& status) { return status.ok() ? "" : status.error().message(); }

TEST(MerkleTest, LeafAndNodeHashesUseTheRfc6962Prefixes) {
  // A one-leaf tree's root is its leaf hash; a two-leaf tree's is the node hash of both.
  const std::vector<Sha256Digest> leaves = ReferenceLeafHashes();
  EXPECT_EQ(leaves[0], D(kReferenceRoots[1]));
  EXPECT_EQ(MerkleNodeHash(leaves[0], leaves[1]), D(kReferenceRoots[2]));
  EXPECT_EQ(DigestHex(MerkleLeafHash("")),
            "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d");
}

TEST(MerkleTest, RootsOfTheReferenceTree) {
  const std::vector<Sha256Digest> leaves = ReferenceLeafHashes();
  for (size_t n = 0; n <= leaves.size(); ++n) {
    EXPECT_EQ(DigestHex(MerkleRoot(std::span(leaves).first(n))), kReferenceRoots[n])
        << "size " << n;
  }
}

TEST(MerkleTest, InclusionProofsOfTheReferenceTree) {
  const std::vector<Sha256Digest> leaves = ReferenceLeafHashes();
  for (const InclusionVector& v : kInclusionVectors) {
    const auto tree = std::span(leaves).first(v.size);
    auto proof = InclusionProof(tree, v.index);
    ASSERT_TRUE(proof.ok());
    EXPECT_EQ(*proof, Digests(v.proof)) << "index " << v.index << " size " << v.size;
    EXPECT_EQ(ErrorOf(VerifyInclusion(leaves[v.index], v.index, v.size, Digests(v.proof),
                                      D(kReferenceRoots[v.size]))),
              "");
  }
}

TEST(MerkleTest, ConsistencyProofsOfTheReferenceTree) {
  const std::vector<Sha256Digest> leaves = ReferenceLeafHashes();
  for (const ConsistencyVector& v : kConsistencyVectors) {
    auto proof = ConsistencyProof(std::span(leaves).first(v.new_size), v.old_size);
    ASSERT_TRUE(proof.ok());
    EXPECT_EQ(*proof, Digests(v.proof)) << v.old_size << " -> " << v.new_size;
    EXPECT_EQ(ErrorOf(VerifyConsistency(v.old_size, v.new_size, D(kReferenceRoots[v.old_size]),
                                        D(kReferenceRoots[v.new_size]), Digests(v.proof))),
              "");
  }
}

TEST(MerkleTest, ErrorsNameTheCause) {
  const std::vector<Sha256Digest> leaves = ReferenceLeafHashes();
  const Sha256Digest root8 = D(kReferenceRoots[8]);
  const Sha256Digest root6 = D(kReferenceRoots[6]);
  const std::vector<Sha256Digest> proof68 = Digests(kConsistencyVectors[2].proof);

  auto too_far = InclusionProof(leaves, 8);
  ASSERT_FALSE(too_far.ok());
  EXPECT_EQ(too_far.error().kind(), ErrorKind::kInvalid);
  EXPECT_EQ(too_far.error().message(), "leaf index 8 is not below tree size 8");
  EXPECT_EQ(ErrorOf(VerifyInclusion(leaves[0], 8, 8, {}, root8)),
            "leaf index 8 is not below tree size 8");
  EXPECT_EQ(ErrorOf(VerifyInclusion(leaves[0], 0, 0, {}, root8)),
            "leaf index 0 is not below tree size 0");
  EXPECT_EQ(ErrorOf(VerifyInclusion(leaves[0], 0, 8, std::span(proof68).first(2), root8)),
            "proof has 2 hashes, expected 3");
  EXPECT_EQ(ErrorOf(VerifyInclusion(leaves[1], 0, 8, Digests(kInclusionVectors[1].proof), root8)),
            "inclusion proof for leaf 0 does not lead to the root of tree size 8");

  auto backwards = ConsistencyProof(std::span(leaves).first(8), 9);
  ASSERT_FALSE(backwards.ok());
  EXPECT_EQ(backwards.error().message(), "old size 9 is larger than new size 8");
  EXPECT_EQ(ErrorOf(VerifyConsistency(9, 8, root6, root8, proof68)),
            "old size 9 is larger than new size 8");
  EXPECT_EQ(ErrorOf(VerifyConsistency(6, 8, root6, root8, std::span(proof68).first(2))),
            "proof has 2 hashes, expected 3");
  EXPECT_EQ(ErrorOf(VerifyConsistency(6, 8, root6, root8, std::span(proof68).first(1))),
            "proof has 1 hash, expected 3");
  EXPECT_EQ(ErrorOf(VerifyConsistency(6, 8, root6, root6, proof68)),
            "consistency proof does not lead to the new root");
  EXPECT_EQ(ErrorOf(VerifyConsistency(6, 8, root8, root8, proof68)),
            "consistency proof does not lead to the old root");
  const Status status = VerifyConsistency(6, 8, root6, root6, proof68);
  ASSERT_FALSE(status.ok());
  EXPECT_EQ(status.error().kind(), ErrorKind::kInvalid);
}

TEST(MerkleTest, EqualSizesNeedAnEmptyProofAndEqualRoots) {
  const Sha256Digest root6 = D(kReferenceRoots[6]);
  const Sha256Digest root7 = D(kReferenceRoots[7]);
  EXPECT_EQ(ErrorOf(VerifyConsistency(6, 6, root6, root6, {})), "");
  EXPECT_EQ(ErrorOf(VerifyConsistency(6, 6, root6, root7, {})),
            "old and new roots differ at the same size 6");
  const std::vector<Sha256Digest> one = {root6};
  EXPECT_EQ(ErrorOf(VerifyConsistency(6, 6, root6, root6, one)), "proof has 1 hash, expected 0");
  auto proof = ConsistencyProof(ReferenceLeafHashes(), 8);
  ASSERT_TRUE(proof.ok());
  EXPECT_TRUE(proof->empty());
}

TEST(MerkleTest, OldSizeZeroIsAcceptedWithAnEmptyProofFromTheEmptyRoot) {
  // Every tree extends the empty tree, whose root is SHA-256(""): the first export of a log has
  // no earlier checkpoint, and this is how a verifier says so.
  const Sha256Digest empty = D(kReferenceRoots[0]);
  const Sha256Digest root8 = D(kReferenceRoots[8]);
  auto proof = ConsistencyProof(ReferenceLeafHashes(), 0);
  ASSERT_TRUE(proof.ok());
  EXPECT_TRUE(proof->empty());
  EXPECT_EQ(ErrorOf(VerifyConsistency(0, 8, empty, root8, {})), "");
  EXPECT_EQ(ErrorOf(VerifyConsistency(0, 0, empty, empty, {})), "");
  EXPECT_EQ(ErrorOf(VerifyConsistency(0, 8, root8, root8, {})),
            "old root of size 0 is not the empty tree's root");
  EXPECT_EQ(ErrorOf(VerifyConsistency(0, 0, empty, root8, {})),
            "new root of size 0 is not the empty tree's root");
  const std::vector<Sha256Digest> one = {empty};
  EXPECT_EQ(ErrorOf(VerifyConsistency(0, 8, empty, root8, one)), "proof has 1 hash, expected 0");
}

// For every tree of 1..70 leaves and every leaf: the proof verifies, and a wrong index, a wrong
// size, a flipped byte anywhere, a missing or extra hash, a wrong leaf or root each fail.
TEST(MerkleTest, EveryInclusionProofVerifiesAndEveryCorruptionFails) {
  const std::vector<Sha256Digest> all = SyntheticLeafHashes(71);
  for (uint64_t size = 1; size <= 70; ++size) {
    const auto tree = std::span(all).first(size);
    const Sha256Digest root = MerkleRoot(tree);
    const Sha256Digest bigger_root = MerkleRoot(std::span(all).first(size + 1));
    for (uint64_t index = 0; index < size; ++index) {
      SCOPED_TRACE("size " + std::to_string(size) + " index " + std::to_string(index));
      auto generated = InclusionProof(tree, index);
      ASSERT_TRUE(generated.ok());
      std::vector<Sha256Digest> proof = *generated;
      const Sha256Digest& leaf = tree[index];
      ASSERT_TRUE(VerifyInclusion(leaf, index, size, proof, root).ok());

      for (uint64_t other = 0; other < size + 2; ++other) {
        if (other != index) {
          EXPECT_FALSE(VerifyInclusion(leaf, other, size, proof, root).ok()) << "index " << other;
        }
      }
      // A wrong size fails against that size's own root. (Against this tree's root a
      // neighbouring size can pass: the root does not commit to the size, the signed checkpoint
      // does; see RootDoesNotBindTheSize.)
      EXPECT_FALSE(VerifyInclusion(leaf, index, size + 1, proof, bigger_root).ok());
      EXPECT_FALSE(VerifyInclusion(leaf, index, size * 2, proof, root).ok());
      if (index < size - 1) {
        EXPECT_FALSE(
            VerifyInclusion(leaf, index, size - 1, proof, MerkleRoot(tree.first(size - 1))).ok());
      }
      if (size > 1) {
        EXPECT_FALSE(VerifyInclusion(tree[(index + 1) % size], index, size, proof, root).ok());
      }
      for (size_t byte = 0; byte < 32; byte += 7) {
        Sha256Digest bad_leaf = leaf;
        bad_leaf[byte] ^= 0x01;
        EXPECT_FALSE(VerifyInclusion(bad_leaf, index, size, proof, root).ok());
        Sha256Digest bad_root = root;
        bad_root[byte] ^= 0x80;
        EXPECT_FALSE(VerifyInclusion(leaf, index, size, proof, bad_root).ok());
      }
      for (size_t i = 0; i < proof.size(); ++i) {
        for (size_t byte : {size_t{0}, size_t{13}, size_t{31}}) {
          proof[i][byte] ^= 0x10;
          EXPECT_FALSE(VerifyInclusion(leaf, index, size, proof, root).ok()) << "hash " << i;
          proof[i][byte] ^= 0x10;
        }
      }
      std::vector<Sha256Digest> longer = proof;
      longer.push_back(root);
      EXPECT_FALSE(VerifyInclusion(leaf, index, size, longer, root).ok());
      if (!proof.empty()) {
        EXPECT_FALSE(
            VerifyInclusion(leaf, index, size, std::span(proof).first(proof.size() - 1), root)
                .ok());
      }
    }
  }
}

// For every new size 1..70 and every old size 0..new: the proof verifies, and a flipped byte, a
// wrong size on either side, swapped or wrong roots, a missing or extra hash each fail.
TEST(MerkleTest, EveryConsistencyProofVerifiesAndEveryCorruptionFails) {
  const std::vector<Sha256Digest> all = SyntheticLeafHashes(71);
  std::vector<Sha256Digest> roots;
  for (size_t n = 0; n <= all.size(); ++n) {
    roots.push_back(MerkleRoot(std::span(all).first(n)));
  }
  for (uint64_t new_size = 1; new_size <= 70; ++new_size) {
    const auto tree = std::span(all).first(new_size);
    for (uint64_t old_size = 0; old_size <= new_size; ++old_size) {
      SCOPED_TRACE(std::to_string(old_size) + " -> " + std::to_string(new_size));
      auto generated = ConsistencyProof(tree, old_size);
      ASSERT_TRUE(generated.ok());
      std::vector<Sha256Digest> proof = *generated;
      const Sha256Digest& old_root = roots[old_size];
      const Sha256Digest& new_root = roots[new_size];
      ASSERT_EQ(ErrorOf(VerifyConsistency(old_size, new_size, old_root, new_root, proof)), "");
      if (old_size == 0 || old_size == new_size) {
        EXPECT_TRUE(proof.empty());
        continue;
      }

      EXPECT_FALSE(VerifyConsistency(old_size - 1, new_size, old_root, new_root, proof).ok());
      EXPECT_FALSE(VerifyConsistency(old_size + 1, new_size, old_root, new_root, proof).ok());
      EXPECT_FALSE(
          VerifyConsistency(old_size, new_size + 1, old_root, roots[new_size + 1], proof).ok());
      EXPECT_FALSE(
          VerifyConsistency(old_size, new_size - 1, old_root, roots[new_size - 1], proof).ok());
      EXPECT_FALSE(VerifyConsistency(old_size, new_size * 2, old_root, new_root, proof).ok());
      EXPECT_FALSE(VerifyConsistency(old_size, new_size, new_root, old_root, proof).ok());
      EXPECT_FALSE(
          VerifyConsistency(old_size, new_size, roots[old_size - 1], new_root, proof).ok());
      EXPECT_FALSE(
          VerifyConsistency(old_size, new_size, old_root, roots[new_size + 1], proof).ok());
      EXPECT_FALSE(VerifyConsistency(old_size, new_size, old_root, new_root, {}).ok());
      for (size_t i = 0; i < proof.size(); ++i) {
        for (size_t byte : {size_t{0}, size_t{17}, size_t{31}}) {
          proof[i][byte] ^= 0x04;
          EXPECT_FALSE(VerifyConsistency(old_size, new_size, old_root, new_root, proof).ok())
              << "hash " << i;
          proof[i][byte] ^= 0x04;
        }
      }
      std::vector<Sha256Digest> longer = proof;
      longer.push_back(new_root);
      EXPECT_FALSE(VerifyConsistency(old_size, new_size, old_root, new_root, longer).ok());
      longer = proof;
      longer.insert(longer.begin(), old_root);
      EXPECT_FALSE(VerifyConsistency(old_size, new_size, old_root, new_root, longer).ok());
      EXPECT_FALSE(VerifyConsistency(old_size, new_size, old_root, new_root,
                                     std::span(proof).first(proof.size() - 1))
                       .ok());
    }
  }
}

// RFC 9162 verification sees proof hashes as opaque, so the hash of leaves 68..69 of a 70-leaf tree
// can stand in for "leaf 68" of a 69-leaf tree with the very same root. Only the signature over
// (size, root) in a checkpoint binds the size: verifiers must take sizes from signed checkpoints.
TEST(MerkleTest, RootDoesNotBindTheSize) {
  const std::vector<Sha256Digest> all = SyntheticLeafHashes(70);
  const Sha256Digest root70 = MerkleRoot(all);
  const Sha256Digest root68 = MerkleRoot(std::span(all).first(68));
  auto proof = ConsistencyProof(all, 68);
  ASSERT_TRUE(proof.ok());
  EXPECT_TRUE(VerifyConsistency(68, 70, root68, root70, *proof).ok());
  EXPECT_TRUE(VerifyConsistency(68, 69, root68, root70, *proof).ok());
  EXPECT_FALSE(
      VerifyConsistency(68, 69, root68, MerkleRoot(std::span(all).first(69)), *proof).ok());
}

TEST(MerkleTest, AccumulatorMatchesMerkleRootForEverySizeUpTo300) {
  const std::vector<Sha256Digest> all = SyntheticLeafHashes(300);
  MerkleAccumulator accumulator;
  EXPECT_EQ(accumulator.Root(), D(kReferenceRoots[0]));
  for (size_t n = 1; n <= all.size(); ++n) {
    accumulator.Append(all[n - 1]);
    ASSERT_EQ(accumulator.size(), n);
    ASSERT_EQ(accumulator.Root(), MerkleRoot(std::span(all).first(n))) << "size " << n;
    ASSERT_EQ(accumulator.frontier().size(), static_cast<size_t>(std::popcount(n)));
  }
}

TEST(MerkleTest, AccumulatorOfTheReferenceTreeAndItsFrontier) {
  const std::vector<Sha256Digest> leaves = ReferenceLeafHashes();
  MerkleAccumulator accumulator;
  for (size_t n = 0; n < leaves.size(); ++n) {
    accumulator.Append(leaves[n]);
    EXPECT_EQ(DigestHex(accumulator.Root()), kReferenceRoots[n + 1]);
  }

  // Saved after 5 leaves and restored, it goes on exactly as if never interrupted.
  MerkleAccumulator first_five;
  for (size_t n = 0; n < 5; ++n) {
    first_five.Append(leaves[n]);
  }
  auto restored = MerkleAccumulator::FromFrontier(first_five.size(), first_five.frontier());
  ASSERT_TRUE(restored.ok());
  for (size_t n = 5; n < leaves.size(); ++n) {
    restored->Append(leaves[n]);
  }
  EXPECT_EQ(DigestHex(restored->Root()), kReferenceRoots[8]);

  auto wrong = MerkleAccumulator::FromFrontier(5, {leaves[0]});
  ASSERT_FALSE(wrong.ok());
  EXPECT_EQ(wrong.error().message(), "Merkle frontier for size 5 has 1 hash, expected 2");
}

TEST(MerkleTest, ProofsAcrossALargeTree) {
  // Deep, unbalanced paths: sizes around powers of two, indices at the edges.
  const std::vector<Sha256Digest> all = SyntheticLeafHashes(5000);
  for (uint64_t size :
       {uint64_t{1023}, uint64_t{1024}, uint64_t{1025}, uint64_t{4097}, uint64_t{5000}}) {
    const auto tree = std::span(all).first(size);
    const Sha256Digest root = MerkleRoot(tree);
    for (uint64_t index : {uint64_t{0}, size / 3, size - 2, size - 1}) {
      auto proof = InclusionProof(tree, index);
      ASSERT_TRUE(proof.ok());
      EXPECT_EQ(ErrorOf(VerifyInclusion(tree[index], index, size, *proof, root)), "");
    }
    for (uint64_t old_size : {uint64_t{1}, uint64_t{512}, uint64_t{1000}, size - 1}) {
      auto proof = ConsistencyProof(tree, old_size);
      ASSERT_TRUE(proof.ok());
      EXPECT_EQ(ErrorOf(VerifyConsistency(old_size, size, MerkleRoot(tree.first(old_size)), root,
                                          *proof)),
                "");
    }
  }
}

}  // namespace
}  // namespace ferry::crypto
