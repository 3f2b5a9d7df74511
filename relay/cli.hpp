#pragma once

#include <optional>
#include <span>
#include <string>

#include "common/cli.hpp"
#include "common/error.hpp"

namespace ferry::relay {

// Runs `ferry-relay` and returns the process exit code: 0 success, 1 the input failed
// verification (or fsck found a fault), 2 usage, 3 I/O or environment (docs/ferry-relay.md).
int RunRelayCli(int argc, char** argv);

// The data directory: --data, else data_dir from the configuration file (--config FILE, else
// $FERRY_RELAY_CONFIG, else /etc/ferry/relay.conf).
Result<std::string> DataDirectory(const cli::Args& args);
// A setting of that configuration file; nullopt when it is not set or the default file is absent.
Result<std::optional<std::string>> ConfigSetting(const cli::Args& args, const std::string& key);

// `ferry-relay serve` (relay/serve_command.cpp): returns the exit code.
int RunServe(std::span<char* const> argv);

// `ferry-relay token create|list` (relay/token_command.cpp): returns the exit code.
int RunTokenCommand(std::span<char* const> argv);
// `ferry-relay endpoints` and `ferry-relay endpoint revoke` (relay/endpoint_command.cpp).
int RunEndpointsCommand(std::span<char* const> argv);
int RunEndpointCommand(std::span<char* const> argv);

}  // namespace ferry::relay
