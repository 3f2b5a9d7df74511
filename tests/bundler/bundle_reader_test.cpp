// Hostile-input tests for the bundle reader: every case must be refused with ErrorKind::kInvalid
// and a message that names the cause.

#include <gtest/gtest.h>

#include <map>

#include "bundler/build.hpp"
#include "bundler/bundle_reader.hpp"
#include "bundler/tar_reader.hpp"
#include "crypto/envelope.hpp"
#include "tests/support/testing.hpp"

namespace ferry::bundler {
namespace {

using testing::MakeTar;
using testing::TarEntry;

constexpr UnixTime kNow = 1795000000;  // 2026-11-18

struct Keys {
  crypto::SigningKey root = *crypto::SigningKey::Generate();
  crypto::SigningKey a = *crypto::SigningKey::Generate();
  crypto::SigningKey b = *crypto::SigningKey::Generate();
  crypto::SigningKey c = *crypto::SigningKey::Generate();
  crypto::SigningKey stranger = *crypto::SigningKey::Generate();
};

crypto::TrustRoot MakeRoot(const Keys& keys) {
  crypto::TrustRoot root;
  root.version = 1;
  root.expires = kNow + 365 * 86400;
  for (const auto* key : {&keys.root, &keys.a, &keys.b, &keys.c}) {
    root.keys.emplace(key->id(), key->public_key());
  }
  root.root_role = {{keys.root.id()}, 1};
  root.bundle_role = {{keys.a.id(), keys.b.id(), keys.c.id()}, 2};
  root.text = *crypto::SignTrustRoot(root, {&keys.root});
  return *crypto::ParseTrustRoot(root.text);
}

// A good bundle built once, taken apart into members so each test can reassemble a variant.
class BundleReaderTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new testing::TempDir();
    keys_ = new Keys();
    root_ = new crypto::TrustRoot(MakeRoot(*keys_));
    const std::string source = *dir_ / "source";
    testing::Run("mkdir -p '" + source + "'");
    testing::MakeDeb(source, "libfoo1", "1.2-3", "amd64", 200000);
    testing::MakeDeb(source, "bar", "2:0.9~rc1-1", "all", 5000);
    BuildOptions options;
    options.roots = {*root_};
    options.keys = {&keys_->a, &keys_->b};
    options.channel = "debian-12-security";
    options.sequence = 7;
    options.source_dir = source;
    options.now = kNow;
    options.out_path = *dir_ / "good.ferry";
    auto built = BuildBundle(options);
    ASSERT_TRUE(built.ok()) << built.error().message();
    good_path_ = new std::string(options.out_path);
    members_ = new std::vector<TarEntry>();
    auto reader = TarReader::Open(*good_path_);
    ASSERT_TRUE(reader.ok());
    while (true) {
      auto member = reader->Next();
      ASSERT_TRUE(member.ok()) << member.error().message();
      if (!*member) break;
      auto data = reader->ReadSmall();
      ASSERT_TRUE(data.ok());
      members_->push_back({(*member)->name, *data});
    }
  }

  static void TearDownTestSuite() {
    delete members_;
    delete good_path_;
    delete root_;
    delete keys_;
    delete dir_;
  }

  // Writes `bytes` as a bundle file and verifies it.
  Result<VerifiedBundle> VerifyBytes(const std::string& bytes, UnixTime now = kNow) {
    const std::string path = *dir_ / "variant.ferry";
    testing::WriteAll(path, bytes);
    VerifyOptions options;
    options.now = now;
    return VerifyBundle(path, *root_, options);
  }

  Result<VerifiedBundle> VerifyMembers(const std::vector<TarEntry>& members) {
    return VerifyBytes(MakeTar(members));
  }

  // Expects refusal as invalid input with `cause` in the message.
  static void ExpectRefused(const Result<VerifiedBundle>& result, const std::string& cause) {
    ASSERT_FALSE(result.ok()) << "accepted a bundle that should fail with: " << cause;
    EXPECT_EQ(result.error().kind(), ErrorKind::kInvalid) << result.error().message();
    EXPECT_NE(result.error().message().find(cause), std::string::npos)
        << "message \"" << result.error().message() << "\" does not name \"" << cause << "\"";
  }

  static std::string Good() { return testing::ReadAll(*good_path_); }

  static size_t IndexOf(const std::string& name_prefix) {
    for (size_t i = 0; i < members_->size(); ++i) {
      if ((*members_)[i].name.starts_with(name_prefix)) return i;
    }
    return members_->size();
  }

  // A manifest re-signed after `edit` changed its signed value, as a compromised builder might.
  static std::string Resigned(const std::function<void(json::Object&)>& edit,
                              std::vector<const crypto::SigningKey*> signers = {}) {
    auto envelope = crypto::ParseEnvelope((*members_)[IndexOf("manifest.json")].data, "manifest");
    json::Value value = envelope->signed_value;
    edit(value.as_object());
    if (signers.empty()) signers = {&keys_->a, &keys_->b};
    return *crypto::SignEnvelope(value, signers);
  }

  static std::vector<TarEntry> WithManifest(const std::string& manifest_text) {
    std::vector<TarEntry> members = *members_;
    members[IndexOf("manifest.json")].data = manifest_text;
    return members;
  }

  static inline testing::TempDir* dir_ = nullptr;
  static inline Keys* keys_ = nullptr;
  static inline crypto::TrustRoot* root_ = nullptr;
  static inline std::string* good_path_ = nullptr;
  static inline std::vector<TarEntry>* members_ = nullptr;
};

TEST_F(BundleReaderTest, AcceptsTheGoodBundle) {
  auto result = VerifyBytes(Good());
  ASSERT_TRUE(result.ok()) << result.error().message();
  EXPECT_EQ(result->head.manifest.channel, "debian-12-security");
  EXPECT_EQ(result->head.manifest.sequence, 7);
  EXPECT_EQ(result->payload_count, 2u);
  ASSERT_EQ(result->head.manifest.patches.size(), 2u);
  // Names and versions come from the control files, epoch and tilde included.
  std::map<std::string, std::string> versions;
  for (const Patch& patch : result->head.manifest.patches) versions[patch.package] = patch.version;
  EXPECT_EQ(versions["bar"], "2:0.9~rc1-1");
  EXPECT_EQ(versions["libfoo1"], "1.2-3");
}

TEST_F(BundleReaderTest, TheReassembledGoodBundleIsAcceptedToo) {
  // Guards the variants below: a refusal must come from the one change each makes.
  auto result = VerifyMembers(*members_);
  ASSERT_TRUE(result.ok()) << result.error().message();
}

TEST_F(BundleReaderTest, SinkSeesExactlyTheVerifiedBytes) {
  struct Collect : PayloadSink {
    std::map<std::string, std::string> payloads;
    std::string current;
    Status BeginPayload(const PayloadRef&) override {
      current.clear();
      return Ok();
    }
    Status WritePayload(std::span<const uint8_t> bytes) override {
      current.append(reinterpret_cast<const char*>(bytes.data()), bytes.size());
      return Ok();
    }
    Status EndPayload(const PayloadRef& payload) override {
      payloads[crypto::DigestHex(payload.sha256)] = current;
      return Ok();
    }
  } sink;
  VerifyOptions options;
  options.now = kNow;
  auto result = VerifyBundle(*good_path_, *root_, options, &sink);
  ASSERT_TRUE(result.ok()) << result.error().message();
  ASSERT_EQ(sink.payloads.size(), 2u);
  for (const auto& [hex, bytes] : sink.payloads) {
    EXPECT_EQ(crypto::DigestHex(crypto::Sha256Of(bytes)), hex);
  }
}

TEST_F(BundleReaderTest, ByteFlipInManifestIsRefused) {
  std::string manifest = (*members_)[IndexOf("manifest.json")].data;
  const size_t at = manifest.find("debian-12-security");
  manifest[at] = 'D';
  ExpectRefused(VerifyMembers(WithManifest(manifest)), "manifest: signature threshold not met");
}

TEST_F(BundleReaderTest, ByteFlipInSignatureIsRefused) {
  std::string manifest = (*members_)[IndexOf("manifest.json")].data;
  const size_t at = manifest.find("\"sig\":\"") + 10;
  manifest[at] = manifest[at] == 'a' ? 'b' : 'a';
  ExpectRefused(VerifyMembers(WithManifest(manifest)), "signature threshold not met");
}

TEST_F(BundleReaderTest, ByteFlipInPayloadIsRefused) {
  std::vector<TarEntry> members = *members_;
  TarEntry& payload = members[IndexOf("payloads/")];
  payload.data[payload.data.size() / 2] ^= 0x01;
  ExpectRefused(VerifyMembers(members), "does not match its SHA-256");
}

TEST_F(BundleReaderTest, ByteFlipAnywhereInTheFileIsRefused) {
  const std::string good = Good();
  // Every 509th byte (prime, so the flips walk across header, data and padding positions)...
  int refused = 0;
  int flips = 0;
  for (size_t at = 0; at < good.size(); at += 509) {
    std::string bad = good;
    bad[at] = static_cast<char>(bad[at] ^ 0x20);
    ++flips;
    auto result = VerifyBytes(bad);
    if (!result.ok()) {
      EXPECT_EQ(result.error().kind(), ErrorKind::kInvalid) << result.error().message();
      ++refused;
    }
  }
  // ...is refused unless it landed in bytes no reader interprets (tar padding, header fields
  // such as mtime that the format does not sign). Those must be a small minority.
  EXPECT_GT(refused, flips * 2 / 3) << refused << " of " << flips;
}

TEST_F(BundleReaderTest, TruncationAtSeveralPointsIsRefused) {
  const std::string good = Good();
  const size_t manifest_offset = good.find("{\"signatures\"");
  for (const size_t keep : {size_t{0}, size_t{100}, size_t{512}, manifest_offset + 50,
                            good.size() / 2, good.size() - 1024 - 1, good.size() - 600,
                            good.size() - 1}) {
    auto result = VerifyBytes(good.substr(0, keep));
    ASSERT_FALSE(result.ok()) << "truncated to " << keep << " bytes was accepted";
    EXPECT_EQ(result.error().kind(), ErrorKind::kInvalid) << result.error().message();
  }
}

TEST_F(BundleReaderTest, TrailingGarbageIsRefused) {
  ExpectRefused(VerifyBytes(Good() + "garbage"), "trailing data");
  ExpectRefused(VerifyBytes(Good() + std::string(512, '\0') + "x"), "trailing data");
  ExpectRefused(VerifyBytes(Good() + std::string(20480, '\0')), "trailing data");
}

TEST_F(BundleReaderTest, TarRecordPaddingIsAccepted) {
  // GNU tar pads the last record with zeros; a bundle copied through tar keeps verifying.
  auto result = VerifyBytes(Good() + std::string(3072, '\0'));
  EXPECT_TRUE(result.ok()) << result.error().message();
}

TEST_F(BundleReaderTest, RepackedWithGnuTarStillVerifies) {
  const std::string unpacked = *dir_ / "unpacked";
  ASSERT_EQ(testing::Run("mkdir -p '" + unpacked + "' && tar -xf '" + *good_path_ + "' -C '" +
                         unpacked + "' && cd '" + unpacked + "' && tar --format=pax -cf ../repacked.ferry " +
                         "root/* manifest.json payloads/*").exit_code,
            0);
  VerifyOptions options;
  options.now = kNow;
  auto result = VerifyBundle(*dir_ / "repacked.ferry", *root_, options);
  EXPECT_TRUE(result.ok()) << result.error().message();
}

TEST_F(BundleReaderTest, SignatureByAKeyTheRootDoesNotNameIsRefused) {
  const std::string manifest = Resigned([](json::Object&) {}, {&keys_->a, &keys_->stranger});
  ExpectRefused(VerifyMembers(WithManifest(manifest)), "signature threshold not met");
}

TEST_F(BundleReaderTest, ThresholdNotMetIsRefused) {
  const std::string manifest = Resigned([](json::Object&) {}, {&keys_->a});
  ExpectRefused(VerifyMembers(WithManifest(manifest)), "signature threshold not met");
}

TEST_F(BundleReaderTest, OneKeySigningTwiceCountsOnce) {
  // The same signature entry listed twice, as a forger holding one key would try.
  const std::string once = Resigned([](json::Object&) {}, {&keys_->a});
  json::Value envelope = *json::Parse(once);
  json::Array& signatures = envelope.as_object()["signatures"].as_array();
  signatures.push_back(signatures.front());
  const std::string manifest = *json::Canonical(envelope);
  ExpectRefused(VerifyMembers(WithManifest(manifest)), "signature threshold not met");
}

TEST_F(BundleReaderTest, ExpiredManifestIsRefused) {
  auto envelope = crypto::ParseEnvelope((*members_)[IndexOf("manifest.json")].data, "m");
  auto manifest = ManifestFromJson(envelope->signed_value);
  ExpectRefused(VerifyBytes(Good(), manifest->expires), "manifest expired at");
  EXPECT_TRUE(VerifyBytes(Good(), manifest->expires - 1).ok());
}

TEST_F(BundleReaderTest, UnknownFormatMajorVersionIsRefused) {
  const std::string manifest = Resigned([](json::Object& m) { m["format"] = "2.0"; });
  ExpectRefused(VerifyMembers(WithManifest(manifest)), "major version 2 is not supported");
  // A newer minor version of the same major is read.
  const std::string minor = Resigned([](json::Object& m) { m["format"] = "1.7"; });
  EXPECT_TRUE(VerifyMembers(WithManifest(minor)).ok());
}

TEST_F(BundleReaderTest, UnknownManifestFieldIsRefused) {
  const std::string manifest = Resigned([](json::Object& m) { m["surprise"] = true; });
  ExpectRefused(VerifyMembers(WithManifest(manifest)), "manifest.surprise: unknown field");
}

TEST_F(BundleReaderTest, PayloadSizeDifferingFromManifestIsRefused) {
  std::vector<TarEntry> members = *members_;
  members[IndexOf("payloads/")].data += "x";
  ExpectRefused(VerifyMembers(members), "the manifest says");
}

TEST_F(BundleReaderTest, MemberNotInManifestIsRefused) {
  std::vector<TarEntry> members = *members_;
  members.push_back({"payloads/" + std::string(64, 'a'), "extra"});
  ExpectRefused(VerifyMembers(members), "is not in the manifest");
  members.back().name = "README";
  ExpectRefused(VerifyMembers(members), "\"README\" is not in the manifest");
}

TEST_F(BundleReaderTest, ManifestEntryWithoutMemberIsRefused) {
  std::vector<TarEntry> members = *members_;
  members.erase(members.begin() + static_cast<long>(IndexOf("payloads/")));
  ExpectRefused(VerifyMembers(members), "missing from the bundle");
}

TEST_F(BundleReaderTest, DuplicateMemberNamesAreRefused) {
  std::vector<TarEntry> members = *members_;
  members.push_back(members[IndexOf("payloads/")]);
  ExpectRefused(VerifyMembers(members), "duplicate member");
  members = *members_;
  members.push_back(members[IndexOf("manifest.json")]);
  ExpectRefused(VerifyMembers(members), "duplicate or misplaced member \"manifest.json\"");
}

TEST_F(BundleReaderTest, PayloadBeforeManifestIsRefused) {
  std::vector<TarEntry> members = *members_;
  std::swap(members[IndexOf("manifest.json")], members[IndexOf("payloads/")]);
  ExpectRefused(VerifyMembers(members), "comes before manifest.json");
}

TEST_F(BundleReaderTest, UnsafeNamesAreRefused) {
  const std::pair<const char*, const char*> cases[] = {
      {"/etc/passwd", "an absolute path"},
      {"../escape", "a '..' path component"},
      {"payloads/../../escape", "a '..' path component"},
  };
  for (const auto& [name, cause] : cases) {
    std::vector<TarEntry> members = *members_;
    members.insert(members.begin(), TarEntry{name, "x"});
    ExpectRefused(VerifyMembers(members), cause);
  }
}

TEST_F(BundleReaderTest, LinksDevicesFifosAndDirectoriesAreRefused) {
  const std::pair<TarEntry, const char*> cases[] = {
      {{"payloads/link", "", "symlink", "/etc/shadow"}, "a symbolic link"},
      {{"payloads/hard", "", "hardlink", "manifest.json"}, "a hard link"},
      {{"payloads/dev", "", "chardev"}, "a character device"},
      {{"payloads/fifo", "", "fifo"}, "a fifo"},
      {{"payloads/", "", "dir"}, "a directory"},
  };
  for (const auto& [entry, cause] : cases) {
    std::vector<TarEntry> members = *members_;
    members.push_back(entry);
    ExpectRefused(VerifyMembers(members), cause);
  }
}

TEST_F(BundleReaderTest, ManifestOverTheSizeCapIsRefusedBeforeReading) {
  std::vector<TarEntry> members = *members_;
  members[IndexOf("manifest.json")].data = std::string(size_t{17} << 20, ' ');
  ExpectRefused(VerifyMembers(members), "exceeds the 16 MiB cap");
}

TEST_F(BundleReaderTest, DeeplyNestedManifestJsonIsRefused) {
  const std::string nested = std::string(100, '[') + std::string(100, ']');
  ExpectRefused(VerifyMembers(WithManifest(nested)), "nesting deeper");
}

TEST_F(BundleReaderTest, InvalidUtf8ManifestIsRefused) {
  std::string manifest = (*members_)[IndexOf("manifest.json")].data;
  manifest.replace(manifest.find("debian-12-security"), 1, "\xC3\x28");
  ExpectRefused(VerifyMembers(WithManifest(manifest)), "invalid UTF-8");
}

TEST_F(BundleReaderTest, SizesPastFourGibInHeadersAreRefused) {
  std::vector<TarEntry> members = *members_;
  TarEntry& payload = members[IndexOf("payloads/")];
  payload.declared_size = int64_t{5} << 30;
  members.resize(IndexOf("payloads/") + 1);
  ExpectRefused(VerifyBytes(MakeTar(members, false)), "more than the whole file holds");
  // And a manifest that declares such a payload is refused before any payload is read.
  const std::string manifest = Resigned([](json::Object& m) {
    m["patches"].as_array()[0].as_object()["payload"].as_object()["size"] = int64_t{5} << 30;
  });
  ExpectRefused(VerifyMembers(WithManifest(manifest)), "is outside 0..4 GiB");
}

TEST_F(BundleReaderTest, SiteBindingIsEnforcedWhenTheReaderHasASite) {
  const std::string manifest = Resigned([](json::Object& m) { m["site"] = "st-mary"; });
  const std::string path = *dir_ / "bound.ferry";
  testing::WriteAll(path, MakeTar(WithManifest(manifest)));
  VerifyOptions options;
  options.now = kNow;
  options.site = "st-mary";
  EXPECT_TRUE(VerifyBundle(path, *root_, options).ok());
  options.site = "general-hospital";
  ExpectRefused(VerifyBundle(path, *root_, options), "bound to site \"st-mary\"");
}

TEST_F(BundleReaderTest, NotATarFileIsRefused) {
  ExpectRefused(VerifyBytes(std::string(4096, 'x')), "");
  ExpectRefused(VerifyBytes(""), "");
}

}  // namespace
}  // namespace ferry::bundler
