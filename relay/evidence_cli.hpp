#pragma once

// The `evidence` and `exception` commands of ferry-relay (docs/ferry-relay.md), kept beside the
// main dispatcher in relay/cli.cpp, which hands them the words after the command and its way of
// finding the data directory (--data or the configuration file).

#include <functional>
#include <span>
#include <string>
#include <vector>

#include "common/cli.hpp"
#include "common/error.hpp"

namespace ferry::relay {

using DataDirResolver = std::function<Result<std::string>(const cli::Args&)>;

// `evidence export ...` and `evidence list ...`. `common` holds the options every command takes.
Status RunEvidenceCommand(std::span<char* const> argv, std::vector<cli::OptionSpec> common,
                          const DataDirResolver& data_dir);

// `exception add ...` and `exception list ...`.
Status RunExceptionCommand(std::span<char* const> argv, std::vector<cli::OptionSpec> common,
                           const DataDirResolver& data_dir);

}  // namespace ferry::relay
