// The installer back ends against the real dpkg, always into a private root in a scratch
// directory, and real shell scripts for script patches.

#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "crypto/hash.hpp"
#include "endpoint/child_process.hpp"
#include "endpoint/dpkg_installer.hpp"
#include "endpoint/local_inventory.hpp"
#include "endpoint/script_installer.hpp"
#include "tests/support/testing.hpp"

namespace ferry::endpoint {
namespace {

using bundler::InstalledPackage;
using std::chrono::milliseconds;
using std::chrono::seconds;

// What a test could change on the host if it escaped its private root: dpkg's database and the
// log dpkg writes by default.
std::string HostDpkgFingerprint() {
  std::ostringstream out;
  for (const char* path : {"/var/lib/dpkg/status", "/var/log/dpkg.log"}) {
    struct stat st {};
    if (::stat(path, &st) != 0) {
      out << path << " absent\n";
      continue;
    }
    out << path << " " << st.st_size << " " << st.st_mtim.tv_sec << "." << st.st_mtim.tv_nsec;
    Result<crypto::Sha256Digest> digest = crypto::Sha256OfFile(path);
    out << " " << (digest.ok() ? crypto::DigestHex(*digest) : "unreadable") << "\n";
  }
  return out.str();
}

// Copies dash and the shared objects it loads into `root` as /bin/sh, so that maintainer
// scripts can run after dpkg chroots into the root.
void InstallShell(const std::string& root) {
  std::vector<std::string> objects;
  std::istringstream ldd(testing::Run("ldd /bin/dash").out);
  for (std::string line; std::getline(ldd, line);) {
    const size_t arrow = line.find("=> /");
    const size_t start = arrow != std::string::npos ? arrow + 3 : line.find_first_not_of(" \t");
    if (start == std::string::npos || line[start] != '/') {
      continue;
    }
    objects.push_back(line.substr(start, line.find(' ', start) - start));
  }
  ASSERT_FALSE(objects.empty());
  for (const std::string& object : objects) {
    const testing::CommandResult copied =
        testing::Run("mkdir -p \"$(dirname '" + root + object + "')\" && cp -L '" + object + "' '" +
                     root + object + "'");
    ASSERT_EQ(copied.exit_code, 0) << copied.err;
  }
  const testing::CommandResult copied =
      testing::Run("mkdir -p '" + root + "/bin' && cp /bin/dash '" + root + "/bin/sh'");
  ASSERT_EQ(copied.exit_code, 0) << copied.err;
}

// Another process holding one of dpkg's lock files with a classic fcntl() lock, as dpkg and apt
// do, until Release().
class LockHolder {
 public:
  explicit LockHolder(const std::string& path) {
    int ready[2];
    if (::pipe(ready) != 0) {
      ADD_FAILURE() << "pipe";
      return;
    }
    pid_ = ::fork();
    if (pid_ == 0) {
      ::close(ready[0]);
      const int fd = ::open(path.c_str(), O_RDWR | O_CREAT, 0640);
      struct flock lock {};
      lock.l_type = F_WRLCK;
      lock.l_whence = SEEK_SET;
      const char ok = (fd >= 0 && ::fcntl(fd, F_SETLK, &lock) == 0) ? '1' : '0';
      (void)!::write(ready[1], &ok, 1);
      while (true) {
        ::pause();
      }
    }
    ::close(ready[1]);
    char ok = '0';
    (void)!::read(ready[0], &ok, 1);
    ::close(ready[0]);
    EXPECT_EQ(ok, '1') << "could not lock " << path;
  }
  ~LockHolder() { Release(); }
  LockHolder(const LockHolder&) = delete;
  LockHolder& operator=(const LockHolder&) = delete;

  void Release() {
    if (pid_ > 0) {
      ::kill(pid_, SIGKILL);
      ::waitpid(pid_, nullptr, 0);
      pid_ = -1;
    }
  }

 private:
  pid_t pid_ = -1;
};

bool Contains(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

// dpkg chroots into a private root to run maintainer scripts, which needs root (CAP_SYS_CHROOT).
#define SKIP_UNLESS_ROOT()                                                                  \
  if (::geteuid() != 0) {                                                                   \
    GTEST_SKIP() << "maintainer scripts in a private root need root: dpkg chroots into it"; \
  }

class DpkgInstallerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    host_before_ = HostDpkgFingerprint();
    root_ = dir_ / "root";
    ASSERT_TRUE(CreateDpkgRoot(root_).ok());
    options_.lock_wait = seconds(5);
    options_.timeout = seconds(120);
  }

  void TearDown() override {
    EXPECT_EQ(HostDpkgFingerprint(), host_before_) << "the host's dpkg database or log changed";
  }

  InstallOutcome MustInstall(const std::string& deb) {
    Result<InstallOutcome> outcome = InstallDeb(deb, DpkgRoot{root_}, options_);
    if (!outcome.ok()) {
      ADD_FAILURE() << outcome.error().message();
      return InstallOutcome{};
    }
    return *std::move(outcome);
  }

  std::vector<InstalledPackage> Installed() {
    Result<bundler::Inventory> inventory = ReadLocalInventory(DpkgRoot{root_});
    if (!inventory.ok()) {
      ADD_FAILURE() << inventory.error().message();
      return {};
    }
    return inventory->packages;
  }

  std::string Status() { return testing::ReadAll(root_ + "/var/lib/dpkg/status"); }

  testing::TempDir dir_;
  std::string root_;
  std::string host_before_;
  DpkgInstallOptions options_;
};

TEST_F(DpkgInstallerTest, InstallsIntoThePrivateRootAndTheInventoryShowsIt) {
  const std::string deb = testing::MakeDeb(dir_.path(), "ferry-hello", "1.0-1");
  const UnixTime before = Now();
  const InstallOutcome outcome = MustInstall(deb);
  EXPECT_EQ(outcome.result, InstallResult::kInstalled) << outcome.log_excerpt;
  EXPECT_EQ(outcome.exit_code, 0);
  EXPECT_TRUE(Contains(outcome.log_excerpt, "Setting up ferry-hello (1.0-1) ..."))
      << outcome.log_excerpt;
  EXPECT_LE(before, outcome.started);
  EXPECT_LE(outcome.started, outcome.finished);

  const std::vector<InstalledPackage> expected = {{"ferry-hello", "amd64", "1.0-1"}};
  EXPECT_EQ(Installed(), expected);
  EXPECT_EQ(testing::ReadAll(root_ + "/usr/share/ferry-hello/data").size(), 1000u);
  EXPECT_TRUE(Contains(testing::ReadAll(root_ + "/var/log/dpkg.log"),
                       "status installed ferry-hello:amd64 1.0-1"));
}

TEST_F(DpkgInstallerTest, UpgradeRecordsTheNewVersion) {
  ASSERT_EQ(MustInstall(testing::MakeDeb(dir_.path(), "ferry-hello", "1.0-1")).result,
            InstallResult::kInstalled);
  ASSERT_EQ(MustInstall(testing::MakeDeb(dir_.path(), "ferry-other", "3")).result,
            InstallResult::kInstalled);
  const InstallOutcome upgrade =
      MustInstall(testing::MakeDeb(dir_.path(), "ferry-hello", "2.0-1", "amd64", 5000));
  EXPECT_EQ(upgrade.result, InstallResult::kInstalled) << upgrade.log_excerpt;
  EXPECT_TRUE(Contains(upgrade.log_excerpt, "Unpacking ferry-hello (2.0-1) over (1.0-1)"))
      << upgrade.log_excerpt;

  EXPECT_TRUE(Contains(Status(), "Package: ferry-hello\nStatus: install ok installed\n"));
  EXPECT_TRUE(Contains(Status(), "Version: 2.0-1\n"));
  EXPECT_FALSE(Contains(Status(), "Version: 1.0-1\n"));
  const std::vector<InstalledPackage> expected = {{"ferry-hello", "amd64", "2.0-1"},
                                                  {"ferry-other", "amd64", "3"}};
  EXPECT_EQ(Installed(), expected);
  EXPECT_EQ(testing::ReadAll(root_ + "/usr/share/ferry-hello/data").size(), 5000u);
}

TEST_F(DpkgInstallerTest, CorruptDebFailsWithDpkgsMessageAndChangesNothing) {
  ASSERT_EQ(MustInstall(testing::MakeDeb(dir_.path(), "ferry-hello", "1.0-1")).result,
            InstallResult::kInstalled);
  const std::string status_before = Status();
  const std::vector<InstalledPackage> installed_before = Installed();

  std::string bytes =
      testing::ReadAll(testing::MakeDeb(dir_.path(), "ferry-hello", "2.0-1", "amd64", 200000));
  ASSERT_GT(bytes.size(), 2000u);
  for (size_t i = bytes.size() - 600; i < bytes.size() - 500; ++i) {
    bytes[i] = static_cast<char>(bytes[i] ^ 0x5a);
  }
  testing::WriteAll(dir_ / "flipped.deb", bytes);
  testing::WriteAll(dir_ / "truncated.deb", bytes.substr(0, bytes.size() * 2 / 3));
  testing::WriteAll(dir_ / "garbage.deb", "this is not an ar archive\n");

  for (const char* name : {"flipped.deb", "truncated.deb", "garbage.deb"}) {
    SCOPED_TRACE(name);
    const InstallOutcome outcome = MustInstall(dir_ / name);
    EXPECT_EQ(outcome.result, InstallResult::kFailed);
    EXPECT_EQ(outcome.exit_code, 1);
    EXPECT_TRUE(Contains(outcome.log_excerpt, "dpkg: error processing archive " + dir_ / name))
        << outcome.log_excerpt;
    EXPECT_TRUE(outcome.log_excerpt.ends_with("ferry: dpkg failed: exit code 1\n"))
        << outcome.log_excerpt;
    EXPECT_EQ(Status(), status_before);
    EXPECT_EQ(Installed(), installed_before);
    EXPECT_EQ(testing::ReadAll(root_ + "/usr/share/ferry-hello/data").size(), 1000u);
  }
}

TEST_F(DpkgInstallerTest, MaintainerScriptsRunChrootedInsideTheRoot) {
  SKIP_UNLESS_ROOT();
  InstallShell(root_);
  const std::string deb = testing::MakeDeb(
      dir_.path(), "ferry-scripted", "1", "amd64", 100,
      {{"postinst", "#!/bin/sh\necho \"postinst $1 in [$DPKG_ROOT]\" > /ferry-postinst-ran\n"}});
  const InstallOutcome outcome = MustInstall(deb);
  ASSERT_EQ(outcome.result, InstallResult::kInstalled) << outcome.log_excerpt;
  EXPECT_EQ(testing::ReadAll(root_ + "/ferry-postinst-ran"), "postinst configure in []\n");
  EXPECT_NE(::access("/ferry-postinst-ran", F_OK), 0);
}

TEST_F(DpkgInstallerTest, FailingPreinstFailsAndInstallsNothing) {
  SKIP_UNLESS_ROOT();
  InstallShell(root_);
  const std::string deb = testing::MakeDeb(
      dir_.path(), "ferry-refuses", "1", "amd64", 100,
      {{"preinst", "#!/bin/sh\necho 'preinst: refusing to install' >&2\nexit 7\n"}});
  const InstallOutcome outcome = MustInstall(deb);
  EXPECT_EQ(outcome.result, InstallResult::kFailed);
  EXPECT_EQ(outcome.exit_code, 1);
  EXPECT_TRUE(Contains(outcome.log_excerpt, "preinst: refusing to install")) << outcome.log_excerpt;
  EXPECT_TRUE(Contains(outcome.log_excerpt,
                       "new ferry-refuses package pre-installation script subprocess returned "
                       "error exit status 7"))
      << outcome.log_excerpt;
  EXPECT_TRUE(Installed().empty());
  EXPECT_NE(::access((root_ + "/usr/share/ferry-refuses/data").c_str(), F_OK), 0);
}

TEST_F(DpkgInstallerTest, MaintainerScriptsFailInARootWithoutAShell) {
  const std::string deb = testing::MakeDeb(dir_.path(), "ferry-scripted", "1", "amd64", 100,
                                           {{"preinst", "#!/bin/sh\nexit 0\n"}});
  const InstallOutcome outcome = MustInstall(deb);
  EXPECT_EQ(outcome.result, InstallResult::kFailed);
  // Without root, dpkg cannot even chroot; with root, it finds no /bin/sh after the chroot.
  const std::string cause = ::geteuid() == 0
                                ? "unable to execute new ferry-scripted package pre-installation"
                                : "not enough privileges to change root directory";
  EXPECT_TRUE(Contains(outcome.log_excerpt, cause)) << outcome.log_excerpt;
  EXPECT_TRUE(Installed().empty());
}

TEST_F(DpkgInstallerTest, RebootMarkerWrittenDuringTheInstallMeansRebootRequired) {
  SKIP_UNLESS_ROOT();
  InstallShell(root_);
  ASSERT_EQ(::mkdir((root_ + "/run").c_str(), 0755), 0);
  const std::string postinst =
      "#!/bin/sh\necho \"$DPKG_MAINTSCRIPT_PACKAGE\" >> /run/reboot-required.pkgs\n"
      ": > /run/reboot-required\n";
  const InstallOutcome kernel = MustInstall(
      testing::MakeDeb(dir_.path(), "ferry-kernel", "1", "amd64", 100, {{"postinst", postinst}}));
  EXPECT_EQ(kernel.result, InstallResult::kRebootRequired) << kernel.log_excerpt;
  EXPECT_EQ(kernel.exit_code, 0);
  EXPECT_TRUE(Contains(kernel.log_excerpt,
                       "ferry: reboot required: " + root_ + "/run/reboot-required was written"))
      << kernel.log_excerpt;

  // The marker is still there, but this package did not write it.
  const InstallOutcome plain = MustInstall(testing::MakeDeb(dir_.path(), "ferry-plain", "1"));
  EXPECT_EQ(plain.result, InstallResult::kInstalled) << plain.log_excerpt;
}

TEST_F(DpkgInstallerTest, WaitsForTheLockThenGivesUp) {
  const std::string deb = testing::MakeDeb(dir_.path(), "ferry-hello", "1.0-1");
  for (const char* lock : {"lock", "lock-frontend"}) {
    SCOPED_TRACE(lock);
    LockHolder holder(root_ + "/var/lib/dpkg/" + lock);
    options_.lock_wait = seconds(1);
    const auto before = std::chrono::steady_clock::now();
    Result<InstallOutcome> outcome = InstallDeb(deb, DpkgRoot{root_}, options_);
    EXPECT_GE(std::chrono::steady_clock::now() - before, seconds(1));
    ASSERT_FALSE(outcome.ok());
    EXPECT_EQ(outcome.error().kind(), ErrorKind::kIo);
    EXPECT_EQ(outcome.error().message(),
              root_ + "/var/lib/dpkg: dpkg database is locked by another process (waited 1 s)");
  }
  EXPECT_TRUE(Installed().empty());
}

TEST_F(DpkgInstallerTest, InstallsOnceTheLockIsReleased) {
  const std::string deb = testing::MakeDeb(dir_.path(), "ferry-hello", "1.0-1");
  LockHolder holder(root_ + "/var/lib/dpkg/lock");
  std::thread release([&holder] {
    std::this_thread::sleep_for(milliseconds(700));
    holder.Release();
  });
  options_.lock_wait = seconds(30);
  const auto before = std::chrono::steady_clock::now();
  const InstallOutcome outcome = MustInstall(deb);
  release.join();
  EXPECT_GE(std::chrono::steady_clock::now() - before, milliseconds(700));
  EXPECT_EQ(outcome.result, InstallResult::kInstalled) << outcome.log_excerpt;
  EXPECT_EQ(Installed().size(), 1u);
}

TEST_F(DpkgInstallerTest, RefusesWhatItCannotStart) {
  const std::string deb = testing::MakeDeb(dir_.path(), "ferry-hello", "1.0-1");
  Result<InstallOutcome> missing_deb = InstallDeb(dir_ / "missing.deb", DpkgRoot{root_}, options_);
  ASSERT_FALSE(missing_deb.ok());
  EXPECT_EQ(missing_deb.error().kind(), ErrorKind::kIo);
  EXPECT_TRUE(Contains(missing_deb.error().message(), "missing.deb"));

  Result<InstallOutcome> directory = InstallDeb(dir_.path(), DpkgRoot{root_}, options_);
  EXPECT_FALSE(directory.ok());

  ASSERT_EQ(::mkdir((dir_ / "empty").c_str(), 0755), 0);
  Result<InstallOutcome> bare_root = InstallDeb(deb, DpkgRoot{dir_ / "empty"}, options_);
  ASSERT_FALSE(bare_root.ok());
  EXPECT_TRUE(Contains(bare_root.error().message(), "no dpkg database"))
      << bare_root.error().message();
  EXPECT_FALSE(InstallDeb(deb, DpkgRoot{dir_ / "nowhere"}, options_).ok());
}

TEST_F(DpkgInstallerTest, InvocationKeepsEverythingInsideTheRoot) {
  const std::vector<std::string> args =
      DpkgInstallArguments("/usr/bin/dpkg", "/tmp/x.deb", "/srv/root");
  std::vector<std::string> expected = {"/usr/bin/dpkg", "--root=/srv/root",
                                       "--log=/srv/root/var/log/dpkg.log"};
  if (::geteuid() != 0) {
    expected.push_back("--force-not-root");
  }
  for (const char* rest : {"--force-confdef", "--force-confold", "--install", "/tmp/x.deb"}) {
    expected.push_back(rest);
  }
  EXPECT_EQ(args, expected);
  const std::vector<std::string> host = {"/usr/bin/dpkg", "--force-confdef", "--force-confold",
                                         "--install", "/tmp/x.deb"};
  EXPECT_EQ(DpkgInstallArguments("/usr/bin/dpkg", "/tmp/x.deb", ""), host);
}

class ScriptInstallerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    work_ = dir_ / "work";
    ASSERT_EQ(::mkdir(work_.c_str(), 0700), 0);
    installer_.success_exit_codes = {0};
    installer_.reboot_exit_codes = {3};
  }

  // Writes the payload as a download would leave it: data, not executable.
  std::string Payload(const std::string& body) {
    const std::string path = dir_ / "payload.sh";
    testing::WriteAll(path, "#!/bin/sh\n" + body);
    ::chmod(path.c_str(), 0644);
    return path;
  }

  InstallOutcome MustRun(const std::string& payload) {
    Result<InstallOutcome> outcome = RunScriptInstaller(installer_, payload, work_, options_);
    if (!outcome.ok()) {
      ADD_FAILURE() << outcome.error().message();
      return InstallOutcome{};
    }
    return *std::move(outcome);
  }

  testing::TempDir dir_;
  std::string work_;
  bundler::Installer installer_;
  ScriptInstallOptions options_;
};

TEST_F(ScriptInstallerTest, SuccessExitCodeIsInstalled) {
  const std::string payload = Payload(
      "printf '%s|' \"$0\" \"$@\"; echo; echo \"cwd=$(pwd) home=$HOME lang=$LC_ALL\"\n"
      "touch installed-marker\nexit 0\n");
  installer_.arguments = {"--quiet", "two words", "$HOME", "{payload}"};
  const InstallOutcome outcome = MustRun(payload);
  EXPECT_EQ(outcome.result, InstallResult::kInstalled) << outcome.log_excerpt;
  EXPECT_EQ(outcome.exit_code, 0);
  EXPECT_EQ(outcome.log_excerpt, payload + "|--quiet|two words|$HOME|{payload}|\ncwd=" + work_ +
                                     " home=" + work_ + " lang=C\n");
  EXPECT_EQ(::access((work_ + "/installed-marker").c_str(), F_OK), 0);
  struct stat st {};
  ASSERT_EQ(::stat(payload.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0744u);
}

TEST_F(ScriptInstallerTest, RebootExitCodeIsRebootRequired) {
  const InstallOutcome outcome = MustRun(Payload("echo staged\nexit 3\n"));
  EXPECT_EQ(outcome.result, InstallResult::kRebootRequired);
  EXPECT_EQ(outcome.exit_code, 3);
  EXPECT_EQ(outcome.log_excerpt, "staged\nferry: exit code 3 means reboot required\n");
}

TEST_F(ScriptInstallerTest, OtherExitCodeIsFailed) {
  installer_.success_exit_codes = {0, 10};
  const InstallOutcome outcome = MustRun(Payload("echo 'disk full' >&2\nexit 5\n"));
  EXPECT_EQ(outcome.result, InstallResult::kFailed);
  EXPECT_EQ(outcome.exit_code, 5);
  EXPECT_EQ(outcome.log_excerpt,
            "disk full\nferry: installer failed: exit code 5 is neither a success nor a reboot "
            "exit code\n");
  EXPECT_EQ(MustRun(Payload("exit 10\n")).result, InstallResult::kInstalled);
}

TEST_F(ScriptInstallerTest, TimeoutKillsTheInstaller) {
  options_.timeout = milliseconds(500);
  options_.kill_grace = milliseconds(500);
  const auto before = std::chrono::steady_clock::now();
  const InstallOutcome outcome = MustRun(Payload("echo waiting\nsleep 60\n"));
  EXPECT_LT(std::chrono::steady_clock::now() - before, seconds(10));
  EXPECT_EQ(outcome.result, InstallResult::kFailed);
  EXPECT_FALSE(outcome.exit_code.has_value());
  EXPECT_EQ(outcome.log_excerpt,
            "waiting\nferry: installer failed: timed out after 500 ms; stopped by signal TERM "
            "(15)\n");
}

TEST_F(ScriptInstallerTest, DeathBySignalIsFailed) {
  const InstallOutcome outcome = MustRun(Payload("kill -KILL $$\n"));
  EXPECT_EQ(outcome.result, InstallResult::kFailed);
  EXPECT_FALSE(outcome.exit_code.has_value());
  EXPECT_EQ(outcome.log_excerpt, "ferry: installer failed: killed by signal KILL (9)\n");
}

TEST_F(ScriptInstallerTest, PayloadThatCannotBeExecutedIsFailed) {
  const std::string payload = dir_ / "no-shebang";
  testing::WriteAll(payload, std::string("\x7f"
                                         "ELF not really",
                                         15));
  const InstallOutcome outcome = MustRun(payload);
  EXPECT_EQ(outcome.result, InstallResult::kFailed);
  EXPECT_FALSE(outcome.exit_code.has_value());
  EXPECT_TRUE(Contains(outcome.log_excerpt, "cannot execute " + payload + ": Exec format error"))
      << outcome.log_excerpt;
}

TEST_F(ScriptInstallerTest, LongOutputKeepsTheTail) {
  const InstallOutcome outcome =
      MustRun(Payload("i=0; while [ $i -lt 5000 ]; do echo \"line $i\"; i=$((i+1)); done\n"));
  EXPECT_EQ(outcome.result, InstallResult::kInstalled);
  EXPECT_EQ(outcome.log_excerpt.size(), kLogTailBytes);
  EXPECT_TRUE(outcome.log_excerpt.ends_with("line 4998\nline 4999\n"));
}

TEST_F(ScriptInstallerTest, MissingPayloadOrWorkDirIsAnError) {
  Result<InstallOutcome> missing =
      RunScriptInstaller(installer_, dir_ / "missing", work_, options_);
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.error().kind(), ErrorKind::kIo);
  EXPECT_TRUE(Contains(missing.error().message(), dir_ / "missing"));
  Result<InstallOutcome> no_work =
      RunScriptInstaller(installer_, Payload("exit 0\n"), dir_ / "nowork", options_);
  ASSERT_FALSE(no_work.ok());
  EXPECT_TRUE(Contains(no_work.error().message(), "not a directory"));
}

}  // namespace
}  // namespace ferry::endpoint
