#include "crypto/envelope.hpp"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "common/encoding.hpp"
#include "common/json.hpp"

namespace ferry::crypto {
namespace {

SigningKey NewKey() {
  auto key = SigningKey::Generate();
  EXPECT_TRUE(key.ok());
  return std::move(key).value();
}

json::Value Manifest() {
  json::Object object;
  object["channel"] = "stable";
  object["sequence"] = 7;
  object["title"] = "caf\xc3\xa9 \"quoted\"\n";
  object["nested"] = json::Value(json::Array{1, "two", json::Value(json::Object{{"k", true}})});
  return json::Value(std::move(object));
}

std::string SignatureHex(const SigningKey& key, const std::string& bytes) {
  return HexEncode(key.Sign(bytes));
}

json::Value SignatureEntry(const std::string& keyid, const std::string& sig_hex) {
  json::Object entry;
  entry["keyid"] = keyid;
  entry["sig"] = sig_hex;
  return json::Value(std::move(entry));
}

// Builds an envelope text by hand, so tests can put in duplicates and bad signatures.
std::string EnvelopeText(const json::Value& signed_value, const std::vector<json::Value>& sigs) {
  json::Object envelope;
  envelope["signatures"] = json::Value(json::Array(sigs.begin(), sigs.end()));
  envelope["signed"] = signed_value;
  auto text = json::Canonical(json::Value(std::move(envelope)));
  EXPECT_TRUE(text.ok());
  return *text;
}

class EnvelopeTest : public ::testing::Test {
 protected:
  void SetUp() override {
    for (const SigningKey* key : {&a_, &b_, &c_, &outsider_}) {
      keys_.emplace(key->id(), key->public_key());
    }
    keys_.erase(outsider_.id());  // named by no one: an unknown key
    role_.keyids = {a_.id(), b_.id(), c_.id()};
    role_.threshold = 2;
    auto canonical = json::Canonical(Manifest());
    ASSERT_TRUE(canonical.ok());
    signed_bytes_ = *canonical;
  }

  Envelope Parse(const std::string& text) {
    auto envelope = ParseEnvelope(text, "manifest");
    EXPECT_TRUE(envelope.ok()) << envelope.error().message();
    return std::move(envelope).value();
  }

  Status Verify(const std::string& text) {
    return VerifyThreshold(Parse(text), keys_, role_, "manifest", "bundle");
  }

  SigningKey a_ = NewKey();
  SigningKey b_ = NewKey();
  SigningKey c_ = NewKey();
  SigningKey outsider_ = NewKey();
  std::map<KeyId, PublicKey> keys_;
  KeyRole role_;
  std::string signed_bytes_;
};

TEST_F(EnvelopeTest, SignThenParseRoundTrip) {
  auto text = SignEnvelope(Manifest(), {&a_, &b_});
  ASSERT_TRUE(text.ok()) << text.error().message();
  ASSERT_FALSE(text->empty());
  EXPECT_EQ(text->back(), '\n');
  // The envelope itself is canonical JSON.
  auto reparsed = json::Parse(*text);
  ASSERT_TRUE(reparsed.ok());
  EXPECT_EQ(json::Canonical(*reparsed).value() + "\n", *text);

  const Envelope envelope = Parse(*text);
  EXPECT_EQ(envelope.signed_value, Manifest());
  EXPECT_EQ(envelope.signed_bytes, signed_bytes_);
  ASSERT_EQ(envelope.signatures.size(), 2u);
  EXPECT_EQ(envelope.signatures[0].keyid, a_.id());
  EXPECT_EQ(envelope.signatures[1].keyid, b_.id());
  EXPECT_TRUE(a_.public_key().Verify(envelope.signed_bytes, envelope.signatures[0].sig));
  EXPECT_TRUE(VerifyThreshold(envelope, keys_, role_, "manifest").ok());
}

TEST_F(EnvelopeTest, SignaturesCoverTheCanonicalFormNotTheText) {
  auto text = SignEnvelope(Manifest(), {&a_, &b_});
  ASSERT_TRUE(text.ok());
  auto value = json::Parse(*text);
  ASSERT_TRUE(value.ok());
  // Pretty-printed, the document still verifies: what is signed is the value.
  EXPECT_TRUE(Verify(json::Pretty(*value)).ok());
}

TEST_F(EnvelopeTest, ThresholdMet) {
  auto text = SignEnvelope(Manifest(), {&c_, &a_});
  ASSERT_TRUE(text.ok());
  EXPECT_TRUE(Verify(*text).ok());
  role_.threshold = 3;
  auto all = SignEnvelope(Manifest(), {&a_, &b_, &c_});
  ASSERT_TRUE(all.ok());
  EXPECT_TRUE(Verify(*all).ok());
}

TEST_F(EnvelopeTest, ThresholdNotMetNamesTheCounts) {
  auto text = SignEnvelope(Manifest(), {&a_});
  ASSERT_TRUE(text.ok());
  Status status = Verify(*text);
  ASSERT_FALSE(status.ok());
  EXPECT_EQ(status.error().kind(), ErrorKind::kInvalid);
  EXPECT_EQ(status.error().message(),
            "manifest: signature threshold not met (1 of 2 valid signatures from bundle keys)");
}

TEST_F(EnvelopeTest, SameKeyTwiceCountsOnce) {
  const std::string sig = SignatureHex(a_, signed_bytes_);
  const std::string text =
      EnvelopeText(Manifest(), {SignatureEntry(a_.id(), sig), SignatureEntry(a_.id(), sig)});
  EXPECT_EQ(Parse(text).signatures.size(), 2u);
  Status status = Verify(text);
  ASSERT_FALSE(status.ok());
  EXPECT_NE(status.error().message().find("(1 of 2"), std::string::npos);
}

TEST_F(EnvelopeTest, UnknownKeyIdsAreIgnored) {
  // The outsider's valid signature counts for nothing, whether or not the key is known.
  const std::string outsider_sig = SignatureHex(outsider_, signed_bytes_);
  const std::string only_outsider =
      EnvelopeText(Manifest(), {SignatureEntry(outsider_.id(), outsider_sig),
                                SignatureEntry(a_.id(), SignatureHex(a_, signed_bytes_))});
  EXPECT_FALSE(Verify(only_outsider).ok());
  keys_.emplace(outsider_.id(), outsider_.public_key());  // known, but not in the role
  EXPECT_FALSE(Verify(only_outsider).ok());

  const std::string with_two_members = EnvelopeText(
      Manifest(), {SignatureEntry(outsider_.id(), outsider_sig),
                   SignatureEntry(std::string(64, 'f'), SignatureHex(a_, signed_bytes_)),
                   SignatureEntry(a_.id(), SignatureHex(a_, signed_bytes_)),
                   SignatureEntry(b_.id(), SignatureHex(b_, signed_bytes_))});
  EXPECT_TRUE(Verify(with_two_members).ok());
}

TEST_F(EnvelopeTest, RoleKeyMissingFromKeyMapDoesNotCount) {
  auto text = SignEnvelope(Manifest(), {&a_, &b_});
  ASSERT_TRUE(text.ok());
  keys_.erase(b_.id());
  EXPECT_FALSE(Verify(*text).ok());
}

TEST_F(EnvelopeTest, KeyMapIndexedUnderTheWrongIdDoesNotCount) {
  auto text = SignEnvelope(Manifest(), {&a_, &b_});
  ASSERT_TRUE(text.ok());
  // b's id now maps to c's key: b's signature must not verify against it, nor count as c's.
  keys_.erase(b_.id());
  keys_.emplace(b_.id(), c_.public_key());
  EXPECT_FALSE(Verify(*text).ok());
}

TEST_F(EnvelopeTest, BadSignatureIgnoredButCountedAgainst) {
  std::string bad = SignatureHex(b_, signed_bytes_);
  bad[10] = bad[10] == '0' ? '1' : '0';
  const std::string text = EnvelopeText(
      Manifest(),
      {SignatureEntry(a_.id(), SignatureHex(a_, signed_bytes_)), SignatureEntry(b_.id(), bad)});
  Status status = Verify(text);
  ASSERT_FALSE(status.ok());
  EXPECT_EQ(status.error().message(),
            "manifest: signature threshold not met (1 of 2 valid signatures from bundle keys; 1 "
            "signature did not verify)");

  // A bad signature does not poison a later good one by the same key.
  const std::string recovered =
      EnvelopeText(Manifest(), {SignatureEntry(a_.id(), SignatureHex(a_, signed_bytes_)),
                                SignatureEntry(b_.id(), bad),
                                SignatureEntry(b_.id(), SignatureHex(b_, signed_bytes_))});
  EXPECT_TRUE(Verify(recovered).ok());

  // A signature by a role key over other bytes is just as bad.
  const std::string other_bytes =
      EnvelopeText(Manifest(), {SignatureEntry(a_.id(), SignatureHex(a_, signed_bytes_)),
                                SignatureEntry(b_.id(), SignatureHex(b_, signed_bytes_ + " "))});
  EXPECT_FALSE(Verify(other_bytes).ok());
}

TEST_F(EnvelopeTest, ChangedSignedValueFailsEverySignature) {
  auto text = SignEnvelope(Manifest(), {&a_, &b_, &c_});
  ASSERT_TRUE(text.ok());
  auto value = json::Parse(*text);
  ASSERT_TRUE(value.ok());
  value->as_object().at("signed").as_object()["sequence"] = 8;
  Status status = Verify(json::Canonical(*value).value());
  ASSERT_FALSE(status.ok());
  EXPECT_NE(status.error().message().find("(0 of 2"), std::string::npos);
  EXPECT_NE(status.error().message().find("3 signatures did not verify"), std::string::npos);
}

TEST_F(EnvelopeTest, ImpossibleThresholdsFailClosed) {
  auto text = SignEnvelope(Manifest(), {&a_, &b_, &c_});
  ASSERT_TRUE(text.ok());
  for (int64_t threshold : {0, -1, 4}) {
    role_.threshold = threshold;
    Status status = Verify(*text);
    ASSERT_FALSE(status.ok()) << threshold;
    EXPECT_EQ(status.error().kind(), ErrorKind::kInvalid);
  }
  // Listing a key twice does not raise the number of role keys.
  role_.keyids = {a_.id(), a_.id()};
  role_.threshold = 2;
  EXPECT_FALSE(Verify(*text).ok());
  role_.keyids.clear();
  role_.threshold = 1;
  EXPECT_FALSE(Verify(*text).ok());
}

TEST_F(EnvelopeTest, StrictParsing) {
  const std::string sig = SignatureHex(a_, signed_bytes_);
  const std::string good = EnvelopeText(Manifest(), {SignatureEntry(a_.id(), sig)});
  ASSERT_TRUE(ParseEnvelope(good, "manifest").ok());

  auto with = [&](auto edit) {
    auto value = json::Parse(good);
    EXPECT_TRUE(value.ok());
    edit(value->as_object());
    return json::Canonical(*value).value();
  };
  std::vector<std::string> bad = {
      "",
      "[]",
      good + "x",
      with([](json::Object& o) { o["extra"] = 1; }),
      with([](json::Object& o) { o.erase("signed"); }),
      with([](json::Object& o) { o.erase("signatures"); }),
      with([](json::Object& o) { o["signed"] = "text"; }),
      with([](json::Object& o) { o["signatures"] = json::Object(); }),
      with([](json::Object& o) { o["signatures"].as_array()[0].as_object()["extra"] = 1; }),
      with([](json::Object& o) { o["signatures"].as_array()[0].as_object().erase("sig"); }),
      with([&](json::Object& o) {
        o["signatures"].as_array()[0].as_object()["sig"] = sig.substr(0, 126);
      }),
      with([&](json::Object& o) {
        o["signatures"].as_array()[0].as_object()["keyid"] = a_.id().substr(1);
      }),
      with([&](json::Object& o) {
        std::string upper = a_.id();
        for (char& ch : upper) {
          ch = static_cast<char>(std::toupper(static_cast<unsigned char>(ch)));
        }
        o["signatures"].as_array()[0].as_object()["keyid"] = upper;
      }),
  };
  // A non-integer number cannot be signed (it has no canonical form).
  std::string with_float = good;
  with_float.replace(with_float.find("\"signed\":{"), 10, "\"signed\":{\"a\":1.5,");
  bad.push_back(with_float);
  for (const std::string& text : bad) {
    auto envelope = ParseEnvelope(text, "manifest");
    ASSERT_FALSE(envelope.ok()) << text;
    EXPECT_EQ(envelope.error().kind(), ErrorKind::kInvalid);
    EXPECT_EQ(envelope.error().message().rfind("manifest", 0), 0u) << envelope.error().message();
  }
}

TEST_F(EnvelopeTest, AtMost64Signatures) {
  const json::Value entry = SignatureEntry(a_.id(), SignatureHex(a_, signed_bytes_));
  EXPECT_TRUE(
      ParseEnvelope(EnvelopeText(Manifest(), std::vector<json::Value>(64, entry)), "m").ok());
  auto too_many = ParseEnvelope(EnvelopeText(Manifest(), std::vector<json::Value>(65, entry)), "m");
  ASSERT_FALSE(too_many.ok());
  EXPECT_NE(too_many.error().message().find("65"), std::string::npos);
}

TEST_F(EnvelopeTest, ParseLimitsApply) {
  auto text = SignEnvelope(Manifest(), {&a_});
  ASSERT_TRUE(text.ok());
  json::ParseLimits limits;
  limits.max_bytes = 64;
  EXPECT_FALSE(ParseEnvelope(*text, "manifest", limits).ok());
}

TEST_F(EnvelopeTest, SigningNeedsDistinctKeysAndAnObject) {
  EXPECT_EQ(SignEnvelope(Manifest(), {}).error().kind(), ErrorKind::kUsage);
  EXPECT_EQ(SignEnvelope(Manifest(), {&a_, &a_}).error().kind(), ErrorKind::kUsage);
  EXPECT_EQ(SignEnvelope(json::Value("text"), {&a_}).error().kind(), ErrorKind::kUsage);
  EXPECT_FALSE(SignEnvelope(json::Value(json::Object{{"x", 0.5}}), {&a_}).ok());
}

TEST_F(EnvelopeTest, AddSignaturesKeepsExistingAndSkipsRepeats) {
  auto first = SignEnvelope(Manifest(), {&a_});
  ASSERT_TRUE(first.ok());
  EXPECT_FALSE(Verify(*first).ok());
  auto second = AddSignatures(*first, "manifest", {&b_, &a_});
  ASSERT_TRUE(second.ok()) << second.error().message();
  const Envelope envelope = Parse(*second);
  ASSERT_EQ(envelope.signatures.size(), 2u);
  EXPECT_EQ(envelope.signatures[0].keyid, a_.id());
  EXPECT_EQ(envelope.signatures[1].keyid, b_.id());
  EXPECT_TRUE(Verify(*second).ok());
}

}  // namespace
}  // namespace ferry::crypto
