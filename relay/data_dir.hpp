#pragma once

// Where everything lives inside a relay's data directory (docs/relay-data.md).

#include <string>

#include "common/file.hpp"

namespace ferry::relay {

struct DataDir {
  std::string root;

  std::string database() const { return fs::JoinPath(root, "ferry.db"); }
  std::string payloads() const { return fs::JoinPath(root, "payloads"); }
  std::string staging() const { return fs::JoinPath(root, "staging"); }
  std::string lock_file() const { return fs::JoinPath(root, "lock"); }
  std::string pinned_root() const { return fs::JoinPath(root, "root.json"); }
  std::string identity_key() const { return fs::JoinPath(root, "identity.key"); }
  std::string identity_pub() const { return fs::JoinPath(root, "identity.pub"); }
  std::string operator_token() const { return fs::JoinPath(root, "operator.token"); }
};

}  // namespace ferry::relay
