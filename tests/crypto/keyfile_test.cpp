#include "crypto/keyfile.hpp"

#include <gtest/gtest.h>

#include <string>

#include "common/encoding.hpp"
#include "common/file.hpp"
#include "common/json.hpp"
#include "temp_dir.hpp"

namespace ferry::crypto {
namespace {

using testing::PermissionBits;
using testing::ReadAll;
using testing::TempDir;
using testing::WriteAll;

// The cheapest Argon2id cost libsodium accepts keeps the suite fast; one test uses the defaults.
constexpr KdfLimits kFastKdf{1, 8192};

SigningKey NewKey() {
  auto key = SigningKey::Generate();
  EXPECT_TRUE(key.ok());
  return std::move(key).value();
}

PassphraseProvider FixedPassphrase(const std::string& text, int* calls = nullptr) {
  return [text, calls](const std::string&) -> Result<SecureBuffer> {
    if (calls != nullptr) {
      ++*calls;
    }
    return SecureBuffer::CopyOf(std::string_view(text));
  };
}

PassphraseProvider NeverCalled(int* calls) {
  return [calls](const std::string&) -> Result<SecureBuffer> {
    ++*calls;
    return UsageError("the provider should not have been called");
  };
}

// Parses a key file, lets `edit` change its object, and writes it back.
template <typename Edit>
void EditJsonFile(const std::string& path, Edit edit) {
  auto value = json::Parse(ReadAll(path));
  ASSERT_TRUE(value.ok());
  edit(value->as_object());
  auto text = json::Canonical(*value);
  ASSERT_TRUE(text.ok());
  WriteAll(path, *text + "\n");
}

void ExpectInvalid(const Result<SigningKey>& result, const std::string& fragment) {
  ASSERT_FALSE(result.ok());
  EXPECT_EQ(result.error().kind(), ErrorKind::kInvalid) << result.error().message();
  EXPECT_NE(result.error().message().find(fragment), std::string::npos) << result.error().message();
}

class KeyFileTest : public ::testing::Test {
 protected:
  TempDir dir_;
  SigningKey key_ = NewKey();
  SecureBuffer passphrase_ = SecureBuffer::CopyOf(std::string_view("correct horse battery"));
};

TEST_F(KeyFileTest, PublicKeyRoundTripIsCanonical) {
  const std::string path = dir_.File("k.pub");
  ASSERT_TRUE(WritePublicKeyFile(path, key_.public_key()).ok());
  EXPECT_EQ(ReadAll(path), "{\"keyid\":\"" + key_.id() +
                               "\",\"keytype\":\"ed25519\",\"public\":\"" +
                               key_.public_key().hex() + "\"}\n");
  auto read = ReadPublicKeyFile(path);
  ASSERT_TRUE(read.ok()) << read.error().message();
  EXPECT_EQ(*read, key_.public_key());
  EXPECT_EQ(read->id(), key_.id());
}

TEST_F(KeyFileTest, UnencryptedRoundTripNeverAsksForAPassphrase) {
  const std::string path = dir_.File("k.key");
  ASSERT_TRUE(WriteSecretKeyFile(path, key_, nullptr).ok());
  const std::string text = ReadAll(path);
  EXPECT_NE(text.find("\"encryption\":\"none\""), std::string::npos);
  EXPECT_NE(text.find(HexEncode(key_.seed())), std::string::npos);
  EXPECT_TRUE(json::Parse(text).ok());

  int calls = 0;
  auto read = ReadSecretKeyFile(path, NeverCalled(&calls));
  ASSERT_TRUE(read.ok()) << read.error().message();
  EXPECT_EQ(calls, 0);
  EXPECT_EQ(read->public_key(), key_.public_key());
  EXPECT_EQ(HexEncode(read->seed()), HexEncode(key_.seed()));
}

TEST_F(KeyFileTest, EncryptedRoundTrip) {
  const std::string path = dir_.File("k.key");
  ASSERT_TRUE(WriteSecretKeyFile(path, key_, &passphrase_, kFastKdf).ok());
  const std::string text = ReadAll(path);
  // The seed must not be in the file in any recognisable form.
  EXPECT_EQ(text.find(HexEncode(key_.seed())), std::string::npos);
  EXPECT_EQ(text.find("\"seed\""), std::string::npos);

  int calls = 0;
  auto read = ReadSecretKeyFile(path, FixedPassphrase("correct horse battery", &calls));
  ASSERT_TRUE(read.ok()) << read.error().message();
  EXPECT_EQ(calls, 1);
  EXPECT_EQ(read->public_key(), key_.public_key());
  EXPECT_EQ(HexEncode(read->seed()), HexEncode(key_.seed()));
  const std::string message = "sign me";
  EXPECT_TRUE(key_.public_key().Verify(message, read->Sign(message)));
}

TEST_F(KeyFileTest, EncryptedWithDefaultLimitsRecordsThem) {
  const std::string path = dir_.File("k.key");
  ASSERT_TRUE(WriteSecretKeyFile(path, key_, &passphrase_).ok());
  auto value = json::Parse(ReadAll(path));
  ASSERT_TRUE(value.ok());
  const json::Value& kdf = value->as_object().at("kdf");
  EXPECT_EQ(kdf.as_object().at("opslimit").as_int(), 2);
  EXPECT_EQ(kdf.as_object().at("memlimit").as_int(), 64 << 20);
  auto read = ReadSecretKeyFile(path, FixedPassphrase("correct horse battery"));
  ASSERT_TRUE(read.ok()) << read.error().message();
  EXPECT_EQ(read->id(), key_.id());
}

TEST_F(KeyFileTest, TwoEncryptionsOfTheSameKeyDiffer) {
  ASSERT_TRUE(WriteSecretKeyFile(dir_.File("a.key"), key_, &passphrase_, kFastKdf).ok());
  ASSERT_TRUE(WriteSecretKeyFile(dir_.File("b.key"), key_, &passphrase_, kFastKdf).ok());
  // Fresh salt and nonce each time.
  EXPECT_NE(ReadAll(dir_.File("a.key")), ReadAll(dir_.File("b.key")));
}

TEST_F(KeyFileTest, WrongPassphraseRefused) {
  const std::string path = dir_.File("k.key");
  ASSERT_TRUE(WriteSecretKeyFile(path, key_, &passphrase_, kFastKdf).ok());
  auto read = ReadSecretKeyFile(path, FixedPassphrase("correct horse batterY"));
  ASSERT_FALSE(read.ok());
  EXPECT_EQ(read.error().kind(), ErrorKind::kInvalid);
  EXPECT_EQ(read.error().message(), path + ": wrong passphrase or corrupted key file");
}

TEST_F(KeyFileTest, ProviderErrorPassesThrough) {
  const std::string path = dir_.File("k.key");
  ASSERT_TRUE(WriteSecretKeyFile(path, key_, &passphrase_, kFastKdf).ok());
  int calls = 0;
  auto read = ReadSecretKeyFile(path, NeverCalled(&calls));
  ASSERT_FALSE(read.ok());
  EXPECT_EQ(calls, 1);
  EXPECT_EQ(read.error().kind(), ErrorKind::kUsage);

  auto without = ReadSecretKeyFile(path, PassphraseProvider());
  ASSERT_FALSE(without.ok());
  EXPECT_EQ(without.error().kind(), ErrorKind::kUsage);
}

TEST_F(KeyFileTest, SecretFileIsMode0600AndPublicIsNotWritableByOthers) {
  ASSERT_TRUE(WriteSecretKeyFile(dir_.File("enc.key"), key_, &passphrase_, kFastKdf).ok());
  ASSERT_TRUE(WriteSecretKeyFile(dir_.File("plain.key"), key_, nullptr).ok());
  ASSERT_TRUE(WritePublicKeyFile(dir_.File("k.pub"), key_.public_key()).ok());
  EXPECT_EQ(PermissionBits(dir_.File("enc.key")), 0600u);
  EXPECT_EQ(PermissionBits(dir_.File("plain.key")), 0600u);
  EXPECT_EQ(PermissionBits(dir_.File("k.pub")) & 0022u, 0u);
}

TEST_F(KeyFileTest, OverwriteRefused) {
  const std::string key_path = dir_.File("k.key");
  const std::string pub_path = dir_.File("k.pub");
  WriteAll(key_path, "precious");
  WriteAll(pub_path, "precious");
  const SigningKey other = NewKey();
  EXPECT_FALSE(WriteSecretKeyFile(key_path, other, &passphrase_, kFastKdf).ok());
  EXPECT_FALSE(WriteSecretKeyFile(key_path, other, nullptr).ok());
  EXPECT_FALSE(WritePublicKeyFile(pub_path, other.public_key()).ok());
  EXPECT_EQ(ReadAll(key_path), "precious");
  EXPECT_EQ(ReadAll(pub_path), "precious");
}

TEST_F(KeyFileTest, EmptyPassphraseRefusedOnWrite) {
  SecureBuffer empty;
  auto status = WriteSecretKeyFile(dir_.File("k.key"), key_, &empty, kFastKdf);
  ASSERT_FALSE(status.ok());
  EXPECT_EQ(status.error().kind(), ErrorKind::kUsage);
  EXPECT_FALSE(fs::Exists(dir_.File("k.key")));
}

TEST_F(KeyFileTest, TamperedCiphertextNonceOrSaltRefused) {
  const std::string path = dir_.File("k.key");
  ASSERT_TRUE(WriteSecretKeyFile(path, key_, &passphrase_, kFastKdf).ok());
  const std::string original = ReadAll(path);
  auto flip_hex = [](std::string hex, size_t at) {
    hex[at] = hex[at] == '0' ? '1' : '0';
    return hex;
  };
  struct Case {
    const char* field;
    bool in_kdf;
  };
  for (const Case& c : {Case{"sealed_seed", false}, Case{"nonce", false}, Case{"salt", true}}) {
    SCOPED_TRACE(c.field);
    for (size_t at : {size_t{0}, size_t{17}}) {
      WriteAll(path, original);
      EditJsonFile(path, [&](json::Object& object) {
        json::Object& target = c.in_kdf ? object.at("kdf").as_object() : object;
        target[c.field] = flip_hex(target.at(c.field).as_string(), at);
      });
      ExpectInvalid(ReadSecretKeyFile(path, FixedPassphrase("correct horse battery")),
                    "wrong passphrase or corrupted key file");
    }
  }
  // The last bytes of sealed_seed are the Poly1305 tag.
  WriteAll(path, original);
  EditJsonFile(path, [&](json::Object& object) {
    std::string sealed = object.at("sealed_seed").as_string();
    object["sealed_seed"] = flip_hex(sealed, sealed.size() - 1);
  });
  ExpectInvalid(ReadSecretKeyFile(path, FixedPassphrase("correct horse battery")),
                "wrong passphrase or corrupted key file");
}

TEST_F(KeyFileTest, SealedSeedMovedToAnotherKeyFileRefused) {
  // The key id is the associated data: another key's sealed seed does not open under this id.
  const SigningKey other = NewKey();
  const std::string mine = dir_.File("mine.key");
  const std::string theirs = dir_.File("theirs.key");
  ASSERT_TRUE(WriteSecretKeyFile(mine, key_, &passphrase_, kFastKdf).ok());
  ASSERT_TRUE(WriteSecretKeyFile(theirs, other, &passphrase_, kFastKdf).ok());
  auto their_value = json::Parse(ReadAll(theirs));
  ASSERT_TRUE(their_value.ok());
  EditJsonFile(mine, [&](json::Object& object) {
    for (const char* field : {"sealed_seed", "nonce", "kdf"}) {
      object[field] = their_value->as_object().at(field);
    }
  });
  ExpectInvalid(ReadSecretKeyFile(mine, FixedPassphrase("correct horse battery")),
                "wrong passphrase or corrupted key file");
}

TEST_F(KeyFileTest, KeyIdMismatchRefusedBeforeAnyCrypto) {
  const SigningKey other = NewKey();
  const std::string pub = dir_.File("k.pub");
  ASSERT_TRUE(WritePublicKeyFile(pub, key_.public_key()).ok());
  EditJsonFile(pub, [&](json::Object& object) { object["keyid"] = other.id(); });
  auto read_pub = ReadPublicKeyFile(pub);
  ASSERT_FALSE(read_pub.ok());
  EXPECT_EQ(read_pub.error().kind(), ErrorKind::kInvalid);
  EXPECT_NE(read_pub.error().message().find("does not match"), std::string::npos);

  const std::string secret = dir_.File("k.key");
  ASSERT_TRUE(WriteSecretKeyFile(secret, key_, &passphrase_, kFastKdf).ok());
  EditJsonFile(secret, [&](json::Object& object) { object["keyid"] = other.id(); });
  int calls = 0;
  ExpectInvalid(ReadSecretKeyFile(secret, FixedPassphrase("correct horse battery", &calls)),
                "does not match");
  EXPECT_EQ(calls, 0);
}

TEST_F(KeyFileTest, UnencryptedSeedOfAnotherKeyRefused) {
  const SigningKey other = NewKey();
  const std::string path = dir_.File("k.key");
  ASSERT_TRUE(WriteSecretKeyFile(path, key_, nullptr).ok());
  EditJsonFile(path, [&](json::Object& object) { object["seed"] = HexEncode(other.seed()); });
  ExpectInvalid(ReadSecretKeyFile(path, PassphraseProvider()), "does not belong");
}

TEST_F(KeyFileTest, AbsurdKdfLimitsRefusedBeforeDerivation) {
  const std::string path = dir_.File("k.key");
  ASSERT_TRUE(WriteSecretKeyFile(path, key_, &passphrase_, kFastKdf).ok());
  const std::string original = ReadAll(path);
  struct Case {
    const char* field;
    int64_t value;
  };
  for (const Case& c : {Case{"memlimit", (1ll << 30) + 1}, Case{"memlimit", 1024},
                        Case{"memlimit", -1}, Case{"opslimit", 17}, Case{"opslimit", 0}}) {
    SCOPED_TRACE(std::string(c.field) + "=" + std::to_string(c.value));
    WriteAll(path, original);
    EditJsonFile(path,
                 [&](json::Object& object) { object.at("kdf").as_object()[c.field] = c.value; });
    int calls = 0;
    ExpectInvalid(ReadSecretKeyFile(path, FixedPassphrase("correct horse battery", &calls)),
                  c.field);
    EXPECT_EQ(calls, 0);
  }
  EXPECT_FALSE(
      WriteSecretKeyFile(dir_.File("big.key"), key_, &passphrase_, KdfLimits{17, 8192}).ok());
}

TEST_F(KeyFileTest, UnknownFieldsAndEncryptionsRefused) {
  const std::string path = dir_.File("k.key");
  ASSERT_TRUE(WriteSecretKeyFile(path, key_, &passphrase_, kFastKdf).ok());
  const std::string original = ReadAll(path);

  EditJsonFile(path, [](json::Object& object) { object["comment"] = "hi"; });
  ExpectInvalid(ReadSecretKeyFile(path, FixedPassphrase("x")), "comment");

  WriteAll(path, original);
  EditJsonFile(path, [](json::Object& object) { object["encryption"] = "rot13"; });
  ExpectInvalid(ReadSecretKeyFile(path, FixedPassphrase("x")), "rot13");

  WriteAll(path, original);
  EditJsonFile(path, [](json::Object& object) { object["keytype"] = "rsa"; });
  ExpectInvalid(ReadSecretKeyFile(path, FixedPassphrase("x")), "rsa");

  WriteAll(path, original);
  EditJsonFile(path, [](json::Object& object) { object.at("kdf").as_object()["p"] = 4; });
  ExpectInvalid(ReadSecretKeyFile(path, FixedPassphrase("x")), "kdf.p");

  WriteAll(path, original);
  EditJsonFile(path, [](json::Object& object) { object.erase("nonce"); });
  ExpectInvalid(ReadSecretKeyFile(path, FixedPassphrase("x")), "nonce");

  WriteAll(path, original);
  EditJsonFile(path, [](json::Object& object) {
    std::string sealed = object.at("sealed_seed").as_string();
    object["sealed_seed"] = sealed.substr(0, sealed.size() - 2);
  });
  ExpectInvalid(ReadSecretKeyFile(path, FixedPassphrase("x")), "sealed_seed");
}

TEST_F(KeyFileTest, OversizedAndMalformedFilesRefused) {
  const std::string path = dir_.File("k.pub");
  WriteAll(path, std::string(kKeyFileMaxBytes + 1, ' '));
  EXPECT_FALSE(ReadPublicKeyFile(path).ok());
  WriteAll(path, "{\"keyid\":");
  auto truncated = ReadPublicKeyFile(path);
  ASSERT_FALSE(truncated.ok());
  EXPECT_EQ(truncated.error().kind(), ErrorKind::kInvalid);
  EXPECT_NE(truncated.error().message().find(path), std::string::npos);
  EXPECT_FALSE(ReadPublicKeyFile(dir_.File("missing.pub")).ok());
}

TEST_F(KeyFileTest, PublicAndSecretFilesAreNotInterchangeable) {
  const std::string pub = dir_.File("k.pub");
  const std::string secret = dir_.File("k.key");
  ASSERT_TRUE(WritePublicKeyFile(pub, key_.public_key()).ok());
  ASSERT_TRUE(WriteSecretKeyFile(secret, key_, nullptr).ok());
  EXPECT_FALSE(ReadPublicKeyFile(secret).ok());
  ExpectInvalid(ReadSecretKeyFile(pub, PassphraseProvider()), "public key file");
}

TEST_F(KeyFileTest, ReadAnyPublicKeyReadsAllThreeKinds) {
  ASSERT_TRUE(WritePublicKeyFile(dir_.File("k.pub"), key_.public_key()).ok());
  ASSERT_TRUE(WriteSecretKeyFile(dir_.File("enc.key"), key_, &passphrase_, kFastKdf).ok());
  ASSERT_TRUE(WriteSecretKeyFile(dir_.File("plain.key"), key_, nullptr).ok());
  for (const char* name : {"k.pub", "enc.key", "plain.key"}) {
    SCOPED_TRACE(name);
    auto read = ReadAnyPublicKey(dir_.File(name));
    ASSERT_TRUE(read.ok()) << read.error().message();
    EXPECT_EQ(*read, key_.public_key());
  }
  // Still strict about the secret part's shape.
  EditJsonFile(dir_.File("plain.key"), [](json::Object& object) { object["seed"] = "00"; });
  EXPECT_FALSE(ReadAnyPublicKey(dir_.File("plain.key")).ok());
}

TEST(PassphraseFileTest, FirstLineWithoutLineEnding) {
  TempDir dir;
  const std::string path = dir.File("pass");
  struct Case {
    std::string content;
    std::string expected;
  };
  for (const Case& c :
       {Case{"hunter2\n", "hunter2"}, Case{"hunter2", "hunter2"},
        Case{"hunter2\r\nsecond line\n", "hunter2"}, Case{"with spaces \t\n", "with spaces \t"}}) {
    WriteAll(path, c.content);
    auto passphrase = ReadPassphraseFile(path);
    ASSERT_TRUE(passphrase.ok()) << passphrase.error().message();
    EXPECT_EQ(passphrase->view(), c.expected);
  }
}

TEST(PassphraseFileTest, EmptyOrOverlongRefused) {
  TempDir dir;
  const std::string path = dir.File("pass");
  for (const std::string& content :
       {std::string(), std::string("\n"), std::string("\r\n"), std::string("\nsecond"),
        std::string(kMaxPassphraseBytes + 1, 'x'), std::string(kMaxPassphraseBytes + 1, 'x') + "\n",
        std::string(100000, 'x')}) {
    WriteAll(path, content);
    auto passphrase = ReadPassphraseFile(path);
    EXPECT_FALSE(passphrase.ok()) << content.size();
  }
  WriteAll(path, std::string(kMaxPassphraseBytes, 'x') + "\r\n");
  auto longest = ReadPassphraseFile(path);
  ASSERT_TRUE(longest.ok());
  EXPECT_EQ(longest->size(), kMaxPassphraseBytes);
  EXPECT_FALSE(ReadPassphraseFile(dir.File("missing")).ok());
}

}  // namespace
}  // namespace ferry::crypto
