#pragma once

// What an installer back end reports about one installation, whichever back end ran it.

#include <optional>
#include <string>
#include <string_view>

#include "common/time.hpp"

namespace ferry::endpoint {

enum class InstallResult { kInstalled, kRebootRequired, kFailed };

struct InstallOutcome {
  InstallResult result = InstallResult::kFailed;
  std::optional<int> exit_code;  // absent when the installer was killed or could not be executed
  std::string log_excerpt;       // the tail of its output, valid UTF-8, at most kLogTailBytes
  UnixTime started = 0;
  UnixTime finished = 0;
};

// The result as reports and `status` print it: "installed", "reboot-required" or "failed".
inline std::string_view InstallResultName(InstallResult result) {
  switch (result) {
    case InstallResult::kInstalled:
      return "installed";
    case InstallResult::kRebootRequired:
      return "reboot-required";
    case InstallResult::kFailed:
      return "failed";
  }
  return "failed";
}

}  // namespace ferry::endpoint
