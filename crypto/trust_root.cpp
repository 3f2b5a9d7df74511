#include "crypto/trust_root.hpp"

#include <set>
#include <utility>

#include "common/file.hpp"

namespace ferry::crypto {
namespace {

constexpr int kMaxTrustRootDepth = 16;

std::string Versioned(std::string_view what, int64_t version) {
  return std::string(what) + " v" + std::to_string(version);
}

json::Value RoleJson(const KeyRole& role) {
  json::Array keyids;
  for (const KeyId& id : role.keyids) {
    keyids.emplace_back(id);
  }
  json::Object object;
  object["keyids"] = json::Value(std::move(keyids));
  object["threshold"] = role.threshold;
  return json::Value(std::move(object));
}

Status ValidateRole(const KeyRole& role, const std::map<KeyId, PublicKey>& keys,
                    std::string_view what, std::string_view name) {
  const std::string where = std::string(what) + ": role " + std::string(name);
  std::set<KeyId> seen;
  for (const KeyId& id : role.keyids) {
    if (keys.count(id) == 0) {
      return InvalidError(where + " names key " + id + ", which is not in keys");
    }
    if (!seen.insert(id).second) {
      return InvalidError(where + " lists key " + id + " twice");
    }
  }
  if (role.threshold < 1 || static_cast<size_t>(role.threshold) > role.keyids.size()) {
    return InvalidError(where + ": threshold " + std::to_string(role.threshold) +
                        " must be between 1 and its " + std::to_string(role.keyids.size()) +
                        " keys");
  }
  return Ok();
}

Result<KeyRole> ParseRole(const json::Value& value, const std::string& path) {
  FERRY_ASSIGN_OR_RETURN(json::ObjectReader reader, json::ObjectReader::Open(value, path));
  KeyRole role;
  FERRY_ASSIGN_OR_RETURN(role.keyids, reader.StringArray("keyids"));
  if (role.keyids.size() > kMaxTrustRootKeys) {
    return InvalidError(reader.PathOf("keyids") + ": more than " +
                        std::to_string(kMaxTrustRootKeys) + " keys");
  }
  FERRY_ASSIGN_OR_RETURN(role.threshold, reader.Int("threshold"));
  FERRY_RETURN_IF_ERROR(reader.Finish());
  return role;
}

Result<std::map<KeyId, PublicKey>> ParseKeys(const json::Value& value, const std::string& path) {
  if (!value.is_object()) {
    return InvalidError(path + ": expected object, found " + value.type_name());
  }
  const json::Object& object = value.as_object();
  if (object.empty() || object.size() > kMaxTrustRootKeys) {
    return InvalidError(path + ": must hold 1 to " + std::to_string(kMaxTrustRootKeys) +
                        " keys, found " + std::to_string(object.size()));
  }
  std::map<KeyId, PublicKey> keys;
  for (const auto& [id, entry] : object) {
    const std::string entry_path = path + "." + id;
    if (!IsWellFormedKeyId(id)) {
      return InvalidError(path + ": key id \"" + id.substr(0, 80) +
                          "\" is not 64 lower-case hex characters");
    }
    FERRY_ASSIGN_OR_RETURN(json::ObjectReader reader, json::ObjectReader::Open(entry, entry_path));
    FERRY_ASSIGN_OR_RETURN(std::string keytype, reader.String("keytype"));
    if (keytype != "ed25519") {
      return InvalidError(reader.PathOf("keytype") + ": unsupported key type \"" + keytype + "\"");
    }
    FERRY_ASSIGN_OR_RETURN(std::string public_hex, reader.String("public"));
    FERRY_RETURN_IF_ERROR(reader.Finish());
    auto key = PublicKey::FromHex(public_hex);
    if (!key.ok()) {
      return std::move(key).error().Context(reader.PathOf("public"));
    }
    if (key->id() != id) {
      return InvalidError(entry_path + ": the key's id is " + key->id() +
                          ", not the id it is listed under");
    }
    keys.emplace(id, std::move(key).value());
  }
  return keys;
}

// Parses the envelope and the signed root and validates its structure, without checking any
// signature: callers decide which thresholds apply, in which order.
Result<std::pair<TrustRoot, Envelope>> ParseUnverified(std::string_view text,
                                                       std::string_view what) {
  json::ParseLimits limits;
  limits.max_bytes = kMaxTrustRootBytes;
  limits.max_depth = kMaxTrustRootDepth;
  FERRY_ASSIGN_OR_RETURN(Envelope envelope, ParseEnvelope(text, what, limits));

  TrustRoot root;
  auto parse_signed = [&]() -> Status {
    FERRY_ASSIGN_OR_RETURN(json::ObjectReader reader,
                           json::ObjectReader::Open(envelope.signed_value, "signed"));
    FERRY_ASSIGN_OR_RETURN(std::string type, reader.String("type"));
    if (type != kTrustRootType) {
      return InvalidError(reader.PathOf("type") + ": \"" + type.substr(0, 80) +
                          "\" is not a trust root (expected \"ferry-root\")");
    }
    FERRY_ASSIGN_OR_RETURN(int64_t spec_version, reader.Int("spec_version"));
    if (spec_version != kTrustRootSpecVersion) {
      return InvalidError(reader.PathOf("spec_version") + ": unsupported version " +
                          std::to_string(spec_version) + " (this build reads version 1)");
    }
    FERRY_ASSIGN_OR_RETURN(root.version, reader.Int("version"));
    FERRY_ASSIGN_OR_RETURN(std::string expires, reader.String("expires"));
    auto expires_time = ParseTime(expires);
    if (!expires_time.ok()) {
      return std::move(expires_time).error().Context(reader.PathOf("expires"));
    }
    root.expires = *expires_time;
    FERRY_ASSIGN_OR_RETURN(const json::Value* keys, reader.Field("keys"));
    FERRY_ASSIGN_OR_RETURN(root.keys, ParseKeys(*keys, reader.PathOf("keys")));
    FERRY_ASSIGN_OR_RETURN(const json::Value* roles, reader.Field("roles"));
    FERRY_ASSIGN_OR_RETURN(json::ObjectReader roles_reader,
                           json::ObjectReader::Open(*roles, reader.PathOf("roles")));
    FERRY_ASSIGN_OR_RETURN(const json::Value* root_role, roles_reader.Field("root"));
    FERRY_ASSIGN_OR_RETURN(root.root_role, ParseRole(*root_role, roles_reader.PathOf("root")));
    FERRY_ASSIGN_OR_RETURN(const json::Value* bundle_role, roles_reader.Field("bundle"));
    FERRY_ASSIGN_OR_RETURN(root.bundle_role,
                           ParseRole(*bundle_role, roles_reader.PathOf("bundle")));
    FERRY_RETURN_IF_ERROR(roles_reader.Finish());
    return reader.Finish();
  };
  Status status = parse_signed();
  if (!status.ok()) {
    return std::move(status).error().Context(std::string(what));
  }
  FERRY_RETURN_IF_ERROR(ValidateTrustRoot(root, Versioned(what, root.version)));
  root.text = std::string(text);
  return std::make_pair(std::move(root), std::move(envelope));
}

Status CheckOwnThreshold(const TrustRoot& root, const Envelope& envelope, std::string_view what) {
  return VerifyThreshold(envelope, root.keys, root.root_role, Versioned(what, root.version),
                         "its own root");
}

Result<TrustRoot> ParseNamed(std::string_view text, std::string_view what) {
  FERRY_ASSIGN_OR_RETURN(auto parsed, ParseUnverified(text, what));
  FERRY_RETURN_IF_ERROR(CheckOwnThreshold(parsed.first, parsed.second, what));
  return std::move(parsed.first);
}

Result<TrustRoot> VerifyUpdateParsed(const TrustRoot& trusted,
                                     std::pair<TrustRoot, Envelope> parsed, std::string_view what) {
  TrustRoot& next = parsed.first;
  const std::string name = Versioned(what, next.version);
  if (next.version != trusted.version + 1) {
    return InvalidError(name + ": expected version " + std::to_string(trusted.version + 1) +
                        " to follow trusted version " + std::to_string(trusted.version) +
                        " (versions cannot be skipped or repeated)");
  }
  FERRY_RETURN_IF_ERROR(VerifyThreshold(parsed.second, trusted.keys, trusted.root_role, name,
                                        "root v" + std::to_string(trusted.version)));
  FERRY_RETURN_IF_ERROR(CheckOwnThreshold(next, parsed.second, what));
  return std::move(next);
}

}  // namespace

json::Value TrustRoot::ToSignedJson() const {
  json::Object key_objects;
  for (const auto& [id, key] : keys) {
    json::Object entry;
    entry["keytype"] = "ed25519";
    entry["public"] = key.hex();
    key_objects[id] = json::Value(std::move(entry));
  }
  json::Object roles;
  roles["root"] = RoleJson(root_role);
  roles["bundle"] = RoleJson(bundle_role);
  json::Object object;
  object["type"] = std::string(kTrustRootType);
  object["spec_version"] = kTrustRootSpecVersion;
  object["version"] = version;
  object["expires"] = FormatTime(expires);
  object["keys"] = json::Value(std::move(key_objects));
  object["roles"] = json::Value(std::move(roles));
  return json::Value(std::move(object));
}

Status ValidateTrustRoot(const TrustRoot& root, std::string_view what) {
  if (root.version < 1) {
    return InvalidError(std::string(what) + ": version " + std::to_string(root.version) +
                        " must be at least 1");
  }
  if (root.keys.empty() || root.keys.size() > kMaxTrustRootKeys) {
    return InvalidError(std::string(what) + ": must hold 1 to " +
                        std::to_string(kMaxTrustRootKeys) + " keys, found " +
                        std::to_string(root.keys.size()));
  }
  for (const auto& [id, key] : root.keys) {
    if (id != key.id()) {
      return InvalidError(std::string(what) + ": key " + key.id() + " is listed under id " + id);
    }
  }
  FERRY_RETURN_IF_ERROR(ValidateRole(root.root_role, root.keys, what, "root"));
  FERRY_RETURN_IF_ERROR(ValidateRole(root.bundle_role, root.keys, what, "bundle"));
  return Ok();
}

Result<TrustRoot> ParseTrustRoot(std::string_view text) { return ParseNamed(text, "root.json"); }

Result<TrustRoot> LoadTrustRoot(const std::string& path) {
  FERRY_ASSIGN_OR_RETURN(std::string text, fs::ReadFile(path, kMaxTrustRootBytes));
  return ParseNamed(text, path);
}

Result<std::string> SignTrustRoot(const TrustRoot& root,
                                  const std::vector<const SigningKey*>& keys) {
  FERRY_RETURN_IF_ERROR(ValidateTrustRoot(root, Versioned("root.json", root.version)));
  return SignEnvelope(root.ToSignedJson(), keys);
}

Result<TrustRoot> VerifyRootUpdate(const TrustRoot& trusted, std::string_view next_text) {
  FERRY_ASSIGN_OR_RETURN(auto parsed, ParseUnverified(next_text, "root.json"));
  return VerifyUpdateParsed(trusted, std::move(parsed), "root.json");
}

Result<TrustRoot> VerifyRootChain(const TrustRoot& pinned,
                                  const std::vector<std::string>& chain_texts, UnixTime now) {
  // Versions whose exact text is trusted: the pinned root and every root accepted on the way.
  std::map<int64_t, std::string> known{{pinned.version, pinned.text}};
  TrustRoot current = pinned;
  int64_t previous_version = 0;
  for (size_t i = 0; i < chain_texts.size(); ++i) {
    const std::string what = "root chain[" + std::to_string(i) + "]";
    const std::string& text = chain_texts[i];
    FERRY_ASSIGN_OR_RETURN(auto parsed, ParseUnverified(text, what));
    const int64_t version = parsed.first.version;
    if (version <= previous_version) {
      return InvalidError(Versioned(what, version) +
                          ": the chain is not in ascending version "
                          "order (follows v" +
                          std::to_string(previous_version) + ")");
    }
    previous_version = version;
    if (version <= current.version) {
      auto trusted_text = known.find(version);
      if (trusted_text != known.end() && trusted_text->second != text) {
        return InvalidError(Versioned(what, version) +
                            ": differs from the already trusted root of the same version");
      }
      continue;  // older than the pinned root: carries no authority, nothing to compare against
    }
    FERRY_ASSIGN_OR_RETURN(TrustRoot next, VerifyUpdateParsed(current, std::move(parsed), what));
    current = std::move(next);
    known.emplace(current.version, current.text);
  }
  if (current.ExpiredAt(now)) {
    return InvalidError(Versioned("root.json", current.version) + ": expired at " +
                        FormatTime(current.expires) + " (now " + FormatTime(now) + ")");
  }
  return current;
}

}  // namespace ferry::crypto
