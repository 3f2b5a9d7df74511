#pragma once

// Running a script patch: the payload itself is executed with the installer's arguments, and its
// exit status is read against the manifest's success and reboot exit codes. docs/installers.md.

#include <chrono>
#include <string>
#include <vector>

#include "bundler/manifest.hpp"
#include "common/error.hpp"
#include "endpoint/install_outcome.hpp"

namespace ferry::endpoint {

struct ScriptInstallOptions {
  // The manifest has no timeout field; an installer still running after this is stopped.
  std::chrono::milliseconds timeout{std::chrono::minutes(30)};
  std::chrono::milliseconds kill_grace{std::chrono::seconds(10)};
};

// The argument vector RunScriptInstaller runs: the payload's absolute path, then every entry of
// installer.arguments as one argument each, unchanged (no placeholders, no word splitting).
std::vector<std::string> ScriptInstallArguments(const bundler::Installer& installer,
                                                const std::string& payload_path);

// Runs the payload in `work_dir` with a clean environment. An exit code in success_exit_codes is
// kInstalled, one in reboot_exit_codes kRebootRequired; any other code, a signal, the timeout or
// a payload that cannot be executed (no #! line, missing interpreter) is kFailed. Errors only when
// the payload or work_dir is missing or the process cannot be created. The payload is made
// executable by its owner first if it is not.
Result<InstallOutcome> RunScriptInstaller(const bundler::Installer& installer,
                                          const std::string& payload_path,
                                          const std::string& work_dir,
                                          const ScriptInstallOptions& options);
Result<InstallOutcome> RunScriptInstaller(const bundler::Installer& installer,
                                          const std::string& payload_path,
                                          const std::string& work_dir);

}  // namespace ferry::endpoint
