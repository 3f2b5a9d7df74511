// `ferry-relay serve` as a process: the one "listening on" line, a real answer over TLS, SIGTERM
// ending it with exit 0, and the refusals (exit 2 for a missing or uninitialised data directory
// or a bad address, exit 3 for a port in use or a second server on the same data directory).
// Every wait has a deadline.

#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <optional>
#include <string>
#include <thread>

#include "tests/support/testing.hpp"

namespace ferry::relay {
namespace {

using Clock = std::chrono::steady_clock;
using testing::CommandResult;
using testing::TempDir;

class ServeCommandTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new TempDir();
    const TempDir& d = *dir_;
    ASSERT_EQ(Bundle("keygen --out " + (d / "root") + " --unencrypted").exit_code, 0);
    ASSERT_EQ(Bundle("keygen --out " + (d / "b1") + " --unencrypted").exit_code, 0);
    const CommandResult root =
        Bundle("root init --root-key " + (d / "root.key") + " --threshold 1 --bundle-key " +
               (d / "b1.pub") + " --bundle-threshold 1 --expires 30d --out " + (d / "root.json"));
    ASSERT_EQ(root.exit_code, 0) << root.err;
    const CommandResult init =
        Relay("init --data " + (d / "relay") + " --root " + (d / "root.json"));
    ASSERT_EQ(init.exit_code, 0) << init.err;
  }

  static void TearDownTestSuite() {
    delete dir_;
    dir_ = nullptr;
  }

  void TearDown() override {
    for (pid_t pid : children_) {
      ::kill(pid, SIGKILL);
      ::waitpid(pid, nullptr, 0);
    }
  }

  static CommandResult Bundle(const std::string& args) {
    return testing::Run(testing::BuildPath("bundler/ferry-bundle") + " " + args);
  }
  static CommandResult Relay(const std::string& args) {
    return testing::Run(testing::BuildPath("relay/ferry-relay") + " " + args);
  }
  static std::string Path(const std::string& name) { return *dir_ / name; }

  // Starts `ferry-relay serve ARGS...` and waits for its "listening on" line; returns the pid.
  pid_t StartServe(const std::vector<std::string>& args, const std::string& name) {
    std::vector<std::string> argv = {testing::BuildPath("relay/ferry-relay"), "serve"};
    argv.insert(argv.end(), args.begin(), args.end());
    const pid_t pid = testing::Spawn(argv, Path(name + ".out"), Path(name + ".err"));
    children_.push_back(pid);
    const auto deadline = Clock::now() + std::chrono::seconds(15);
    while (Clock::now() < deadline &&
           testing::ReadAll(Path(name + ".out")).find('\n') == std::string::npos) {
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    return pid;
  }

  // The exit code once the child has exited (-1 for a signal or a timeout).
  int ExitCodeOf(pid_t pid) {
    const std::optional<int> status = testing::WaitForExit(pid, std::chrono::seconds(15));
    if (!status) return -1;
    std::erase(children_, pid);
    return WIFEXITED(*status) ? WEXITSTATUS(*status) : -1;
  }

  static TempDir* dir_;
  std::vector<pid_t> children_;
};

TempDir* ServeCommandTest::dir_ = nullptr;

TEST_F(ServeCommandTest, PrintsOneLineServesOverTlsAndStopsOnSigterm) {
  const pid_t pid =
      StartServe({"--data", Path("relay"), "--listen", "127.0.0.1:0", "--threads", "2"}, "a");
  const std::string out = testing::ReadAll(Path("a.out"));
  ASSERT_EQ(out.rfind("listening on 127.0.0.1:", 0), 0u) << out << testing::ReadAll(Path("a.err"));
  ASSERT_EQ(out.back(), '\n');
  const std::string port = out.substr(23, out.size() - 24);
  ASSERT_NE(port, "0");

  const CommandResult curl =
      testing::Run("curl -sS -i --max-time 20 --cacert " + Path("relay/tls/ca.pem") +
                   " https://127.0.0.1:" + port + "/v1/endpoints/ep-0123456789abcdef");
  ASSERT_EQ(curl.exit_code, 0) << curl.err;
  EXPECT_NE(curl.out.find("\r\nServer: ferry-relay\r\n"), std::string::npos) << curl.out;
  EXPECT_NE(curl.out.find("\r\n\r\n{\"error\":"), std::string::npos) << curl.out;
  // Serving leaves the data directory readable by the other commands.
  EXPECT_EQ(Relay("status --data " + Path("relay")).exit_code, 0);

  ASSERT_EQ(::kill(pid, SIGTERM), 0);
  EXPECT_EQ(ExitCodeOf(pid), 0) << testing::ReadAll(Path("a.err"));
  EXPECT_EQ(testing::ReadAll(Path("a.out")), out);  // still the one line
  const std::string log = testing::ReadAll(Path("a.err"));
  EXPECT_NE(log.find("GET /v1/endpoints/ep-0123456789abcdef 401 "), std::string::npos) << log;
  EXPECT_NE(log.find("stopped"), std::string::npos) << log;
}

TEST_F(ServeCommandTest, QuietServesWithoutRequestLines) {
  const pid_t pid =
      StartServe({"--data", Path("relay"), "--listen", "127.0.0.1:0", "--quiet"}, "q");
  const std::string out = testing::ReadAll(Path("q.out"));
  ASSERT_EQ(out.rfind("listening on 127.0.0.1:", 0), 0u) << out;
  const std::string port = out.substr(23, out.size() - 24);
  const CommandResult curl =
      testing::Run("curl -sS --max-time 20 --cacert " + Path("relay/tls/ca.pem") +
                   " https://127.0.0.1:" + port + "/v1/endpoints/ep-0123456789abcdef");
  ASSERT_EQ(curl.exit_code, 0) << curl.err;
  ASSERT_EQ(::kill(pid, SIGINT), 0);
  EXPECT_EQ(ExitCodeOf(pid), 0);
  EXPECT_EQ(testing::ReadAll(Path("q.err")).find("GET "), std::string::npos);
}

TEST_F(ServeCommandTest, ListenComesFromTheConfigurationFile) {
  testing::WriteAll(Path("relay.conf"),
                    "# test\ndata_dir = " + Path("relay") + "\nlisten = 127.0.0.1:0\n");
  const pid_t pid = StartServe({"--config", Path("relay.conf")}, "c");
  EXPECT_EQ(testing::ReadAll(Path("c.out")).rfind("listening on 127.0.0.1:", 0), 0u)
      << testing::ReadAll(Path("c.err"));
  ::kill(pid, SIGTERM);
  EXPECT_EQ(ExitCodeOf(pid), 0);
  // The other commands accept the listen setting too.
  EXPECT_EQ(Relay("status --config " + Path("relay.conf")).exit_code, 0);
}

TEST_F(ServeCommandTest, RefusesWhatItCannotServe) {
  struct Case {
    std::string args;
    int exit_code;
    std::string message;
  };
  testing::Run("mkdir -p " + Path("empty"));
  const std::vector<Case> cases = {
      {"--data " + Path("absent") + " --listen 127.0.0.1:0", 2, "no such directory"},
      {"--data " + Path("empty") + " --listen 127.0.0.1:0", 2, "not an initialised relay"},
      {"--data " + Path("relay"), 2, "--listen"},
      {"--data " + Path("relay") + " --listen 127.0.0.1", 2, "expected ADDRESS:PORT"},
      {"--data " + Path("relay") + " --listen 127.0.0.1:0 --threads 0", 2, "threads"},
      {"--data " + Path("relay") + " --listen 127.0.0.1:0 extra", 2, "unexpected argument"},
  };
  for (const Case& c : cases) {
    const CommandResult result = Relay("serve " + c.args);
    EXPECT_EQ(result.exit_code, c.exit_code) << c.args << ": " << result.err;
    EXPECT_NE(result.err.find(c.message), std::string::npos) << c.args << ": " << result.err;
    EXPECT_EQ(std::count(result.err.begin(), result.err.end(), '\n'), 1) << result.err;
    EXPECT_EQ(result.out, "");
  }
}

TEST_F(ServeCommandTest, BusyPortAndSecondServerAreRefusedWithExit3) {
  const pid_t pid = StartServe({"--data", Path("relay"), "--listen", "127.0.0.1:0"}, "b");
  const std::string out = testing::ReadAll(Path("b.out"));
  ASSERT_EQ(out.rfind("listening on ", 0), 0u) << out;
  const std::string address = out.substr(13, out.size() - 14);

  // Another data directory on the same port.
  testing::Run("cp -a " + Path("relay") + " " + Path("relay-copy") + " && rm -f " +
               Path("relay-copy/serve.lock"));
  CommandResult result = Relay("serve --data " + Path("relay-copy") + " --listen " + address);
  EXPECT_EQ(result.exit_code, 3) << result.err;
  EXPECT_NE(result.err.find("in use"), std::string::npos) << result.err;

  // The same data directory on another port.
  result = Relay("serve --data " + Path("relay") + " --listen 127.0.0.1:0");
  EXPECT_EQ(result.exit_code, 3) << result.err;
  EXPECT_NE(result.err.find("another ferry-relay serve"), std::string::npos) << result.err;

  ::kill(pid, SIGTERM);
  EXPECT_EQ(ExitCodeOf(pid), 0);
}

}  // namespace
}  // namespace ferry::relay
