#include "crypto/trust_root.hpp"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "common/json.hpp"
#include "common/time.hpp"
#include "temp_dir.hpp"

namespace ferry::crypto {
namespace {

constexpr UnixTime kNow = 1'800'000'000;  // 2027-01-15T08:00:00Z
constexpr UnixTime kDay = 86'400;

SigningKey NewKey() {
  auto key = SigningKey::Generate();
  EXPECT_TRUE(key.ok());
  return std::move(key).value();
}

std::string Must(Result<std::string> text) {
  EXPECT_TRUE(text.ok()) << text.error().message();
  return text.ok() ? *text : std::string();
}

class TrustRootTest : public ::testing::Test {
 protected:
  // A root naming `root_keys` (threshold `threshold`) and the two bundle keys (threshold 1).
  TrustRoot Make(int64_t version, const std::vector<const SigningKey*>& root_keys,
                 int64_t threshold, UnixTime expires = kNow + 365 * kDay) {
    TrustRoot root;
    root.version = version;
    root.expires = expires;
    for (const SigningKey* key : root_keys) {
      root.keys.emplace(key->id(), key->public_key());
      root.root_role.keyids.push_back(key->id());
    }
    root.root_role.threshold = threshold;
    for (const SigningKey* key : {&bundle1_, &bundle2_}) {
      root.keys.emplace(key->id(), key->public_key());
      root.bundle_role.keyids.push_back(key->id());
    }
    root.bundle_role.threshold = 1;
    return root;
  }

  TrustRoot Parsed(const std::string& text) {
    auto root = ParseTrustRoot(text);
    EXPECT_TRUE(root.ok()) << root.error().message();
    return std::move(root).value();
  }

  // v1: old1..old3, threshold 2. v2: new1, new2, threshold 2. v3: new1..new3, threshold 2.
  void SetUp() override {
    v1_text_ = Must(SignTrustRoot(Make(1, {&old1_, &old2_, &old3_}, 2), {&old1_, &old2_}));
    v1_ = Parsed(v1_text_);
    v2_text_ = Must(SignTrustRoot(Make(2, {&new1_, &new2_}, 2), {&old1_, &old3_, &new1_, &new2_}));
    v3_text_ = Must(SignTrustRoot(Make(3, {&new1_, &new2_, &new3_}, 2), {&new1_, &new2_, &new3_}));
  }

  SigningKey old1_ = NewKey(), old2_ = NewKey(), old3_ = NewKey();
  SigningKey new1_ = NewKey(), new2_ = NewKey(), new3_ = NewKey();
  SigningKey bundle1_ = NewKey(), bundle2_ = NewKey();
  std::string v1_text_, v2_text_, v3_text_;
  TrustRoot v1_;
};

TEST_F(TrustRootTest, InitSelfSignedRoundTrip) {
  const TrustRoot root = Parsed(v1_text_);
  EXPECT_EQ(root.version, 1);
  EXPECT_EQ(root.expires, kNow + 365 * kDay);
  EXPECT_EQ(root.keys.size(), 5u);
  EXPECT_EQ(root.root_role.keyids, (std::vector<KeyId>{old1_.id(), old2_.id(), old3_.id()}));
  EXPECT_EQ(root.root_role.threshold, 2);
  EXPECT_EQ(root.bundle_role.keyids, (std::vector<KeyId>{bundle1_.id(), bundle2_.id()}));
  EXPECT_EQ(root.bundle_role.threshold, 1);
  EXPECT_EQ(root.text, v1_text_);
  EXPECT_EQ(root.keys.at(old1_.id()), old1_.public_key());
  // The document is what docs/trust-root.md describes.
  auto signed_value = json::Parse(v1_text_)->as_object().at("signed");
  EXPECT_EQ(signed_value.as_object().at("type").as_string(), "ferry-root");
  EXPECT_EQ(signed_value.as_object().at("spec_version").as_int(), 1);
  EXPECT_EQ(signed_value.as_object().at("expires").as_string(), FormatTime(kNow + 365 * kDay));
  EXPECT_EQ(root.ToSignedJson(), signed_value);
}

TEST_F(TrustRootTest, BundleSignaturesVerifyAgainstTheBundleRole) {
  auto manifest = SignEnvelope(json::Value(json::Object{{"sequence", 1}}), {&bundle2_});
  ASSERT_TRUE(manifest.ok());
  auto envelope = ParseEnvelope(*manifest, "manifest");
  ASSERT_TRUE(envelope.ok());
  EXPECT_TRUE(VerifyThreshold(*envelope, v1_.keys, v1_.bundle_role, "manifest", "bundle").ok());
  // Root keys are not bundle keys.
  auto by_root = SignEnvelope(json::Value(json::Object{{"sequence", 1}}), {&old1_, &old2_});
  ASSERT_TRUE(by_root.ok());
  EXPECT_FALSE(VerifyThreshold(*ParseEnvelope(*by_root, "manifest"), v1_.keys, v1_.bundle_role,
                               "manifest", "bundle")
                   .ok());
}

TEST_F(TrustRootTest, SelfSignatureBelowThresholdRefused) {
  const std::string text = Must(SignTrustRoot(Make(1, {&old1_, &old2_, &old3_}, 2), {&old1_}));
  auto root = ParseTrustRoot(text);
  ASSERT_FALSE(root.ok());
  EXPECT_EQ(root.error().kind(), ErrorKind::kInvalid);
  EXPECT_EQ(root.error().message(),
            "root.json v1: signature threshold not met (1 of 2 valid signatures from its own root "
            "keys)");
  // Bundle keys cannot stand in for root keys.
  EXPECT_FALSE(ParseTrustRoot(Must(SignTrustRoot(Make(1, {&old1_, &old2_, &old3_}, 2),
                                                 {&old1_, &bundle1_, &bundle2_})))
                   .ok());
}

TEST_F(TrustRootTest, StructuralRulesOnSigning) {
  TrustRoot root = Make(1, {&old1_, &old2_}, 2);
  EXPECT_TRUE(SignTrustRoot(root, {&old1_}).ok());

  TrustRoot zero_version = root;
  zero_version.version = 0;
  EXPECT_FALSE(SignTrustRoot(zero_version, {&old1_}).ok());

  TrustRoot zero_threshold = root;
  zero_threshold.bundle_role.threshold = 0;
  EXPECT_FALSE(SignTrustRoot(zero_threshold, {&old1_}).ok());

  TrustRoot high_threshold = root;
  high_threshold.root_role.threshold = 3;
  EXPECT_FALSE(SignTrustRoot(high_threshold, {&old1_}).ok());

  TrustRoot duplicate = root;
  duplicate.root_role.keyids.push_back(old1_.id());
  EXPECT_FALSE(SignTrustRoot(duplicate, {&old1_}).ok());

  TrustRoot unknown = root;
  unknown.bundle_role.keyids.push_back(new1_.id());
  auto status = SignTrustRoot(unknown, {&old1_});
  ASSERT_FALSE(status.ok());
  EXPECT_NE(status.error().message().find("not in keys"), std::string::npos);

  TrustRoot misfiled = root;
  misfiled.keys.erase(old2_.id());
  misfiled.keys.emplace(old2_.id(), new1_.public_key());
  EXPECT_FALSE(SignTrustRoot(misfiled, {&old1_}).ok());
}

TEST_F(TrustRootTest, StructuralRulesOnParsing) {
  auto signed_edit = [&](auto edit) {
    auto value = json::Parse(v1_text_);
    EXPECT_TRUE(value.ok());
    json::Object& signed_object = value->as_object().at("signed").as_object();
    edit(signed_object);
    // Re-sign so that only the structure, not the signatures, is wrong.
    auto envelope = SignEnvelope(json::Value(signed_object), {&old1_, &old2_, &old3_});
    EXPECT_TRUE(envelope.ok());
    return envelope.ok() ? *envelope : std::string();
  };
  struct Case {
    const char* name;
    std::string text;
  };
  const std::vector<Case> cases = {
      {"wrong type", signed_edit([](json::Object& o) { o["type"] = "ferry-manifest"; })},
      {"future spec", signed_edit([](json::Object& o) { o["spec_version"] = 2; })},
      {"version 0", signed_edit([](json::Object& o) { o["version"] = 0; })},
      {"bad expiry", signed_edit([](json::Object& o) { o["expires"] = "tomorrow"; })},
      {"unknown field", signed_edit([](json::Object& o) { o["mirrors"] = json::Array(); })},
      {"unknown role", signed_edit([](json::Object& o) {
         o["roles"].as_object()["timestamp"] = o["roles"].as_object()["bundle"];
       })},
      {"missing role",
       signed_edit([](json::Object& o) { o["roles"].as_object().erase("bundle"); })},
      {"threshold 0", signed_edit([](json::Object& o) {
         o["roles"].as_object()["bundle"].as_object()["threshold"] = 0;
       })},
      {"key under another id", signed_edit([&](json::Object& o) {
         json::Object& keys = o["keys"].as_object();
         keys[old1_.id()].as_object()["public"] = bundle1_.public_key().hex();
       })},
      {"unknown key type", signed_edit([&](json::Object& o) {
         o["keys"].as_object()[old3_.id()].as_object()["keytype"] = "rsa";
       })},
      {"no keys", signed_edit([](json::Object& o) { o["keys"] = json::Object(); })},
  };
  for (const Case& c : cases) {
    auto root = ParseTrustRoot(c.text);
    ASSERT_FALSE(root.ok()) << c.name;
    EXPECT_EQ(root.error().kind(), ErrorKind::kInvalid) << c.name;
    EXPECT_EQ(root.error().message().rfind("root.json", 0), 0u) << root.error().message();
  }
}

TEST_F(TrustRootTest, RotationWithBothThresholds) {
  auto v2 = VerifyRootUpdate(v1_, v2_text_);
  ASSERT_TRUE(v2.ok()) << v2.error().message();
  EXPECT_EQ(v2->version, 2);
  EXPECT_EQ(v2->root_role.keyids, (std::vector<KeyId>{new1_.id(), new2_.id()}));
  EXPECT_EQ(v2->text, v2_text_);
  auto v3 = VerifyRootUpdate(*v2, v3_text_);
  ASSERT_TRUE(v3.ok()) << v3.error().message();
  EXPECT_EQ(v3->version, 3);
}

TEST_F(TrustRootTest, RotationSignedOnlyByNewKeysRefused) {
  const std::string text = Must(SignTrustRoot(Make(2, {&new1_, &new2_}, 2), {&new1_, &new2_}));
  EXPECT_TRUE(ParseTrustRoot(text).ok());  // valid on its own...
  auto v2 = VerifyRootUpdate(v1_, text);   // ...but not a successor of v1
  ASSERT_FALSE(v2.ok());
  EXPECT_EQ(v2.error().kind(), ErrorKind::kInvalid);
  EXPECT_EQ(v2.error().message(),
            "root.json v2: signature threshold not met (0 of 2 valid signatures from root v1 "
            "keys)");
}

TEST_F(TrustRootTest, RotationSignedOnlyByOldKeysRefused) {
  const std::string text =
      Must(SignTrustRoot(Make(2, {&new1_, &new2_}, 2), {&old1_, &old2_, &old3_}));
  auto v2 = VerifyRootUpdate(v1_, text);
  ASSERT_FALSE(v2.ok());
  EXPECT_NE(v2.error().message().find("from its own root keys"), std::string::npos)
      << v2.error().message();
}

TEST_F(TrustRootTest, RotationBelowOldThresholdRefused) {
  const std::string text =
      Must(SignTrustRoot(Make(2, {&new1_, &new2_}, 2), {&old1_, &new1_, &new2_}));
  auto v2 = VerifyRootUpdate(v1_, text);
  ASSERT_FALSE(v2.ok());
  EXPECT_NE(v2.error().message().find("(1 of 2 valid signatures from root v1 keys)"),
            std::string::npos)
      << v2.error().message();
}

TEST_F(TrustRootTest, SkippedOrRepeatedVersionRefused) {
  const std::string v3_by_everyone =
      Must(SignTrustRoot(Make(3, {&new1_, &new2_}, 2), {&old1_, &old2_, &new1_, &new2_}));
  auto skipped = VerifyRootUpdate(v1_, v3_by_everyone);
  ASSERT_FALSE(skipped.ok());
  EXPECT_NE(skipped.error().message().find("expected version 2"), std::string::npos);

  EXPECT_FALSE(VerifyRootUpdate(v1_, v1_text_).ok());
  const std::string another_v1 =
      Must(SignTrustRoot(Make(1, {&old1_, &old2_}, 1), {&old1_, &old2_}));
  EXPECT_FALSE(VerifyRootUpdate(v1_, another_v1).ok());
}

TEST_F(TrustRootTest, ChainWalksToTheNewest) {
  auto newest = VerifyRootChain(v1_, {v1_text_, v2_text_, v3_text_}, kNow);
  ASSERT_TRUE(newest.ok()) << newest.error().message();
  EXPECT_EQ(newest->version, 3);
  EXPECT_EQ(newest->text, v3_text_);

  // The chain may start after the pinned version, or be empty.
  auto from_v2 = VerifyRootChain(v1_, {v2_text_}, kNow);
  ASSERT_TRUE(from_v2.ok());
  EXPECT_EQ(from_v2->version, 2);
  auto empty = VerifyRootChain(v1_, {}, kNow);
  ASSERT_TRUE(empty.ok());
  EXPECT_EQ(empty->version, 1);
}

TEST_F(TrustRootTest, ChainFromALaterPinnedRootSkipsOlderEntries) {
  auto v2 = VerifyRootUpdate(v1_, v2_text_);
  ASSERT_TRUE(v2.ok());
  auto newest = VerifyRootChain(*v2, {v1_text_, v2_text_, v3_text_}, kNow);
  ASSERT_TRUE(newest.ok()) << newest.error().message();
  EXPECT_EQ(newest->version, 3);
}

TEST_F(TrustRootTest, ChainWithADifferentDocumentForATrustedVersionRefused) {
  const std::string other_v1 = Must(
      SignTrustRoot(Make(1, {&old1_, &old2_, &old3_}, 2, kNow + 700 * kDay), {&old1_, &old2_}));
  auto chain = VerifyRootChain(v1_, {other_v1, v2_text_}, kNow);
  ASSERT_FALSE(chain.ok());
  EXPECT_EQ(chain.error().kind(), ErrorKind::kInvalid);
  EXPECT_NE(chain.error().message().find("differs from the already trusted root"),
            std::string::npos);
}

TEST_F(TrustRootTest, ChainSkippingAVersionRefused) {
  auto chain = VerifyRootChain(v1_, {v1_text_, v3_text_}, kNow);
  ASSERT_FALSE(chain.ok());
  EXPECT_NE(chain.error().message().find("root chain[1] v3"), std::string::npos)
      << chain.error().message();
}

TEST_F(TrustRootTest, ChainOutOfOrderRefused) {
  EXPECT_FALSE(VerifyRootChain(v1_, {v2_text_, v1_text_}, kNow).ok());
  EXPECT_FALSE(VerifyRootChain(v1_, {v2_text_, v2_text_}, kNow).ok());
}

TEST_F(TrustRootTest, ChainWithATamperedEntryRefused) {
  // A later expiry, well-formed, so only the signatures can catch it.
  std::string tampered = v2_text_;
  const size_t year_digit = tampered.find("\"expires\":\"") + 14;
  tampered[year_digit] = tampered[year_digit] == '9' ? '8' : '9';
  ASSERT_TRUE(json::Parse(tampered).ok());
  auto chain = VerifyRootChain(v1_, {tampered}, kNow);
  ASSERT_FALSE(chain.ok());
  EXPECT_NE(chain.error().message().find("signature threshold not met (0 of 2"), std::string::npos)
      << chain.error().message();
  EXPECT_FALSE(VerifyRootChain(v1_, {v2_text_.substr(0, v2_text_.size() / 2)}, kNow).ok());
}

TEST_F(TrustRootTest, ExpiredFinalRootRefused) {
  const std::string v2_expired = Must(
      SignTrustRoot(Make(2, {&new1_, &new2_}, 2, kNow - kDay), {&old1_, &old2_, &new1_, &new2_}));
  auto chain = VerifyRootChain(v1_, {v2_expired}, kNow);
  ASSERT_FALSE(chain.ok());
  EXPECT_EQ(chain.error().kind(), ErrorKind::kInvalid);
  EXPECT_EQ(chain.error().message(), "root.json v2: expired at " + FormatTime(kNow - kDay) +
                                         " (now " + FormatTime(kNow) + ")");
  // Expiry is exclusive: a root is no longer valid at its expiry instant.
  EXPECT_FALSE(VerifyRootChain(v1_, {}, kNow + 365 * kDay).ok());
  EXPECT_TRUE(VerifyRootChain(v1_, {}, kNow + 365 * kDay - 1).ok());
}

TEST_F(TrustRootTest, ExpiredIntermediateRootAccepted) {
  const std::string v2_expired = Must(
      SignTrustRoot(Make(2, {&new1_, &new2_}, 2, kNow - kDay), {&old1_, &old2_, &new1_, &new2_}));
  auto chain = VerifyRootChain(v1_, {v1_text_, v2_expired, v3_text_}, kNow);
  ASSERT_TRUE(chain.ok()) << chain.error().message();
  EXPECT_EQ(chain->version, 3);
  // Even an expired pinned root can be rotated away from.
  TrustRoot expired_pinned = Parsed(
      Must(SignTrustRoot(Make(1, {&old1_, &old2_, &old3_}, 2, kNow - kDay), {&old1_, &old2_})));
  auto rotated = VerifyRootChain(expired_pinned, {v2_text_}, kNow);
  ASSERT_TRUE(rotated.ok()) << rotated.error().message();
  EXPECT_FALSE(VerifyRootChain(expired_pinned, {}, kNow).ok());
}

TEST_F(TrustRootTest, LoadFromFile) {
  testing::TempDir dir;
  const std::string path = dir.File("root.json");
  testing::WriteAll(path, v1_text_);
  auto root = LoadTrustRoot(path);
  ASSERT_TRUE(root.ok()) << root.error().message();
  EXPECT_EQ(root->text, v1_text_);

  testing::WriteAll(path, v1_text_ + std::string(kMaxTrustRootBytes, ' '));
  EXPECT_FALSE(LoadTrustRoot(path).ok());

  testing::WriteAll(path, v1_text_.substr(0, 100));
  auto truncated = LoadTrustRoot(path);
  ASSERT_FALSE(truncated.ok());
  EXPECT_NE(truncated.error().message().find(path), std::string::npos);
  EXPECT_FALSE(LoadTrustRoot(dir.File("missing.json")).ok());
}

}  // namespace
}  // namespace ferry::crypto
