#include "crypto/envelope.hpp"

#include <set>

#include "common/encoding.hpp"

namespace ferry::crypto {
namespace {

std::string Prefix(std::string_view what) { return std::string(what) + ": "; }

Result<Signature> ParseSignature(const json::Value& value, const std::string& path) {
  FERRY_ASSIGN_OR_RETURN(json::ObjectReader reader, json::ObjectReader::Open(value, path));
  Signature signature;
  FERRY_ASSIGN_OR_RETURN(signature.keyid, reader.String("keyid"));
  if (!IsWellFormedKeyId(signature.keyid)) {
    return InvalidError(reader.PathOf("keyid") + ": expected 64 lower-case hex characters");
  }
  FERRY_ASSIGN_OR_RETURN(std::string sig_hex, reader.String("sig"));
  if (sig_hex.size() != 2 * signature.sig.size() || !HexDecodeInto(sig_hex, signature.sig)) {
    return InvalidError(reader.PathOf("sig") + ": expected 128 hex characters");
  }
  FERRY_RETURN_IF_ERROR(reader.Finish());
  return signature;
}

Result<std::string> EncodeEnvelope(const json::Value& signed_value,
                                   const std::vector<Signature>& signatures) {
  json::Array list;
  list.reserve(signatures.size());
  for (const Signature& signature : signatures) {
    json::Object entry;
    entry["keyid"] = signature.keyid;
    entry["sig"] = HexEncode(signature.sig);
    list.emplace_back(std::move(entry));
  }
  json::Object envelope;
  envelope["signatures"] = json::Value(std::move(list));
  envelope["signed"] = signed_value;
  FERRY_ASSIGN_OR_RETURN(std::string text, json::Canonical(json::Value(std::move(envelope))));
  text.push_back('\n');
  return text;
}

// Appends signatures by `keys` over `signed_bytes`, refusing null keys and a key given twice.
Status AppendSignatures(const std::string& signed_bytes, const std::vector<const SigningKey*>& keys,
                        std::vector<Signature>& signatures) {
  std::set<KeyId> given;
  for (const SigningKey* key : keys) {
    if (key == nullptr) {
      return UsageError("null signing key");
    }
    if (!given.insert(key->id()).second) {
      return UsageError("signing key " + key->id() + " given twice");
    }
  }
  std::set<KeyId> present;
  for (const Signature& signature : signatures) {
    present.insert(signature.keyid);
  }
  for (const SigningKey* key : keys) {
    if (present.count(key->id()) != 0) {
      continue;
    }
    signatures.push_back(Signature{key->id(), key->Sign(signed_bytes)});
  }
  return Ok();
}

}  // namespace

Result<Envelope> ParseEnvelope(std::string_view text, std::string_view what,
                               const json::ParseLimits& limits) {
  auto parsed = json::Parse(text, limits);
  if (!parsed.ok()) {
    return std::move(parsed).error().Context(std::string(what));
  }
  const json::Value& document = parsed.value();
  FERRY_ASSIGN_OR_RETURN(json::ObjectReader reader,
                         json::ObjectReader::Open(document, std::string(what)));
  FERRY_ASSIGN_OR_RETURN(const json::Array* list, reader.ArrayField("signatures"));
  if (list->size() > kMaxSignatures) {
    return InvalidError(reader.PathOf("signatures") + ": " + std::to_string(list->size()) +
                        " signatures, more than the limit of " + std::to_string(kMaxSignatures));
  }
  FERRY_ASSIGN_OR_RETURN(const json::Value* signed_value, reader.Field("signed"));
  if (!signed_value->is_object()) {
    return InvalidError(reader.PathOf("signed") + ": expected object, found " +
                        signed_value->type_name());
  }
  FERRY_RETURN_IF_ERROR(reader.Finish());

  Envelope envelope;
  envelope.signatures.reserve(list->size());
  for (size_t i = 0; i < list->size(); ++i) {
    FERRY_ASSIGN_OR_RETURN(
        Signature signature,
        ParseSignature((*list)[i], reader.PathOf("signatures") + "[" + std::to_string(i) + "]"));
    envelope.signatures.push_back(std::move(signature));
  }
  auto canonical = json::Canonical(*signed_value);
  if (!canonical.ok()) {
    return std::move(canonical).error().Context(reader.PathOf("signed"));
  }
  envelope.signed_bytes = std::move(canonical).value();
  envelope.signed_value = *signed_value;
  return envelope;
}

Result<std::string> SignEnvelope(const json::Value& signed_value,
                                 const std::vector<const SigningKey*>& keys) {
  if (!signed_value.is_object()) {
    return UsageError(std::string("only a JSON object can be signed, not ") +
                      signed_value.type_name());
  }
  if (keys.empty()) {
    return UsageError("no signing keys given");
  }
  FERRY_ASSIGN_OR_RETURN(std::string signed_bytes, json::Canonical(signed_value));
  std::vector<Signature> signatures;
  FERRY_RETURN_IF_ERROR(AppendSignatures(signed_bytes, keys, signatures));
  return EncodeEnvelope(signed_value, signatures);
}

Result<std::string> AddSignatures(std::string_view envelope_text, std::string_view what,
                                  const std::vector<const SigningKey*>& keys) {
  if (keys.empty()) {
    return UsageError("no signing keys given");
  }
  FERRY_ASSIGN_OR_RETURN(Envelope envelope, ParseEnvelope(envelope_text, what));
  FERRY_RETURN_IF_ERROR(AppendSignatures(envelope.signed_bytes, keys, envelope.signatures));
  if (envelope.signatures.size() > kMaxSignatures) {
    return UsageError(Prefix(what) + "more than " + std::to_string(kMaxSignatures) + " signatures");
  }
  return EncodeEnvelope(envelope.signed_value, envelope.signatures);
}

Status VerifyThreshold(const Envelope& envelope, const std::map<KeyId, PublicKey>& keys,
                       const KeyRole& role, std::string_view what, std::string_view role_name) {
  const std::set<KeyId> role_keys(role.keyids.begin(), role.keyids.end());
  if (role.threshold < 1 || static_cast<uint64_t>(role.threshold) > role_keys.size()) {
    return InvalidError(Prefix(what) + "invalid " + std::string(role_name) + " threshold " +
                        std::to_string(role.threshold) + " for " +
                        std::to_string(role_keys.size()) + " keys; refusing to verify");
  }
  std::set<KeyId> valid;
  size_t invalid = 0;
  for (const Signature& signature : envelope.signatures) {
    if (role_keys.count(signature.keyid) == 0 || valid.count(signature.keyid) != 0) {
      continue;
    }
    auto key = keys.find(signature.keyid);
    if (key == keys.end()) {
      continue;
    }
    if (key->second.id() != signature.keyid) {
      // A key map whose index disagrees with the key is a caller bug; trust neither.
      continue;
    }
    if (key->second.Verify(envelope.signed_bytes, signature.sig)) {
      valid.insert(signature.keyid);
    } else {
      ++invalid;
    }
  }
  if (valid.size() >= static_cast<uint64_t>(role.threshold)) {
    return Ok();
  }
  std::string message = Prefix(what) + "signature threshold not met (" +
                        std::to_string(valid.size()) + " of " + std::to_string(role.threshold) +
                        " valid signatures from " + std::string(role_name) + " keys";
  if (invalid > 0) {
    message += "; " + std::to_string(invalid) + " signature" + (invalid == 1 ? "" : "s") +
               " did not verify";
  }
  message += ")";
  return InvalidError(std::move(message));
}

}  // namespace ferry::crypto
