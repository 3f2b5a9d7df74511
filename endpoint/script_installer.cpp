#include "endpoint/script_installer.hpp"

#include <sys/stat.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <utility>

#include "common/file.hpp"
#include "endpoint/child_process.hpp"

namespace ferry::endpoint {

namespace {

bool Contains(const std::vector<int64_t>& codes, int code) {
  return std::find(codes.begin(), codes.end(), int64_t{code}) != codes.end();
}

Result<std::string> AbsolutePath(const std::string& path) {
  std::unique_ptr<char, decltype(&std::free)> resolved(::realpath(path.c_str(), nullptr),
                                                       &std::free);
  if (resolved == nullptr) {
    return IoError(path + ": " + std::strerror(errno));
  }
  return std::string(resolved.get());
}

// The payload is stored as data (0644) by whoever downloaded it; executing it needs the owner's
// execute bit and nothing more.
Status MakeExecutable(const std::string& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) {
    return IoError(path + ": " + std::strerror(errno));
  }
  if (!S_ISREG(st.st_mode)) {
    return IoError(path + ": not a regular file");
  }
  if ((st.st_mode & S_IXUSR) == 0 && ::chmod(path.c_str(), (st.st_mode & 07777) | S_IXUSR) != 0) {
    return IoError("cannot make " + path + " executable: " + std::strerror(errno));
  }
  return Ok();
}

}  // namespace

std::vector<std::string> ScriptInstallArguments(const bundler::Installer& installer,
                                                const std::string& payload_path) {
  std::vector<std::string> args = {payload_path};
  args.insert(args.end(), installer.arguments.begin(), installer.arguments.end());
  return args;
}

Result<InstallOutcome> RunScriptInstaller(const bundler::Installer& installer,
                                          const std::string& payload_path,
                                          const std::string& work_dir) {
  return RunScriptInstaller(installer, payload_path, work_dir, ScriptInstallOptions{});
}

Result<InstallOutcome> RunScriptInstaller(const bundler::Installer& installer,
                                          const std::string& payload_path,
                                          const std::string& work_dir,
                                          const ScriptInstallOptions& options) {
  const std::string context = "cannot run installer " + payload_path;
  Result<std::string> payload = AbsolutePath(payload_path);
  if (!payload.ok()) {
    return std::move(payload).error().Context(context);
  }
  if (Status executable = MakeExecutable(*payload); !executable.ok()) {
    return std::move(executable).error().Context(context);
  }
  Result<std::string> dir = AbsolutePath(work_dir);
  if (!dir.ok() || !fs::IsDirectory(*dir)) {
    return IoError("work directory " + work_dir + " is not a directory").Context(context);
  }

  ChildSpec spec;
  spec.argv = ScriptInstallArguments(installer, *payload);
  spec.working_dir = *dir;
  // HOME and TMPDIR point at the work directory so that whatever an installer leaves behind is
  // in one place the agent cleans, not in root's home or a shared /tmp.
  spec.extra_env = {"HOME=" + *dir, "TMPDIR=" + *dir, "DEBIAN_FRONTEND=noninteractive"};
  spec.timeout = options.timeout;
  spec.kill_grace = options.kill_grace;
  FERRY_ASSIGN_OR_RETURN(const ChildResult run, RunChild(spec));

  InstallOutcome outcome;
  outcome.started = run.started;
  outcome.finished = run.finished;
  std::string note;
  if (run.ending == ChildEnding::kExited) {
    outcome.exit_code = run.exit_code;
    if (Contains(installer.success_exit_codes, run.exit_code)) {
      outcome.result = InstallResult::kInstalled;
    } else if (Contains(installer.reboot_exit_codes, run.exit_code)) {
      outcome.result = InstallResult::kRebootRequired;
      note = "exit code " + std::to_string(run.exit_code) + " means reboot required";
    } else {
      outcome.result = InstallResult::kFailed;
      note = "installer failed: exit code " + std::to_string(run.exit_code) +
             " is neither a success nor a reboot exit code";
    }
  } else {
    outcome.result = InstallResult::kFailed;
    note = "installer failed: " + DescribeEnding(run);
  }
  outcome.log_excerpt = MakeLogExcerpt(run.output_tail, note);
  return outcome;
}

}  // namespace ferry::endpoint
