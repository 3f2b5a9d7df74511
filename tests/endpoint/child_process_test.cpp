#include "endpoint/child_process.hpp"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <csignal>
#include <cstdlib>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "common/json.hpp"
#include "tests/support/testing.hpp"

namespace ferry::endpoint {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;

ChildSpec Shell(const std::string& script) {
  ChildSpec spec;
  spec.argv = {"/bin/sh", "-c", script};
  spec.timeout = seconds(60);
  return spec;
}

ChildResult MustRun(const ChildSpec& spec) {
  Result<ChildResult> run = RunChild(spec);
  if (!run.ok()) {
    ADD_FAILURE() << run.error().message();
    return ChildResult{};
  }
  return *std::move(run);
}

// True while a process with this pid exists and is not a zombie.
bool IsRunning(pid_t pid) {
  const std::string stat = testing::ReadAll("/proc/" + std::to_string(pid) + "/stat");
  if (stat.empty()) {
    return false;
  }
  const size_t close = stat.rfind(')');
  return close != std::string::npos && close + 2 < stat.size() && stat[close + 2] != 'Z';
}

bool WaitUntilGone(pid_t pid, milliseconds limit) {
  const auto deadline = std::chrono::steady_clock::now() + limit;
  while (IsRunning(pid)) {
    if (std::chrono::steady_clock::now() >= deadline) {
      return false;
    }
    std::this_thread::sleep_for(milliseconds(20));
  }
  return true;
}

TEST(ChildProcessTest, DecodesExitCode) {
  const ChildResult run = MustRun(Shell("exit 3"));
  EXPECT_EQ(run.ending, ChildEnding::kExited);
  EXPECT_EQ(run.exit_code, 3);
  EXPECT_EQ(DescribeEnding(run), "exit code 3");
  EXPECT_LE(run.started, run.finished);
}

TEST(ChildProcessTest, DecodesDeathBySignal) {
  const ChildResult run = MustRun(Shell("kill -SEGV $$"));
  EXPECT_EQ(run.ending, ChildEnding::kSignaled);
  EXPECT_EQ(run.signal, SIGSEGV);
  EXPECT_EQ(DescribeEnding(run), "killed by signal SEGV (11)");
}

TEST(ChildProcessTest, PassesArgumentsWithoutAShell) {
  ChildSpec spec;
  spec.argv = {"/bin/echo", "$HOME; echo injected", "*", "`id`"};
  const ChildResult run = MustRun(spec);
  EXPECT_EQ(run.output_tail, "$HOME; echo injected * `id`\n");
}

TEST(ChildProcessTest, StdinIsDevNull) {
  ChildSpec spec;
  spec.argv = {"/bin/cat"};
  spec.timeout = seconds(10);
  const ChildResult run = MustRun(spec);
  EXPECT_EQ(run.ending, ChildEnding::kExited);
  EXPECT_EQ(run.exit_code, 0);
  EXPECT_EQ(run.output_bytes, 0u);
}

TEST(ChildProcessTest, EnvironmentIsCleanAndFixed) {
  ::setenv("FERRY_TEST_LEAK", "secret", 1);
  ChildSpec spec;
  spec.argv = {"/usr/bin/env"};
  spec.extra_env = {"EXTRA=1"};
  const ChildResult run = MustRun(spec);
  ::unsetenv("FERRY_TEST_LEAK");
  std::vector<std::string> lines;
  std::istringstream in(run.output_tail);
  for (std::string line; std::getline(in, line);) {
    lines.push_back(line);
  }
  std::sort(lines.begin(), lines.end());
  const std::vector<std::string> expected = {"EXTRA=1", "LC_ALL=C",
                                             "PATH=" + std::string(kChildPath)};
  EXPECT_EQ(lines, expected);
}

TEST(ChildProcessTest, MergesStdoutAndStderrInOrder) {
  const ChildResult run = MustRun(Shell("echo one; echo two >&2; echo three"));
  EXPECT_EQ(run.output_tail, "one\ntwo\nthree\n");
}

TEST(ChildProcessTest, TenMegabytesKeepOnlyTheTailWithoutDeadlock) {
  constexpr uint64_t kBytes = 10u << 20;
  ChildSpec spec = Shell("head -c " + std::to_string(kBytes) +
                         " /dev/zero | tr '\\0' x; echo; echo 'the end' >&2");
  spec.timeout = seconds(120);
  const ChildResult run = MustRun(spec);
  EXPECT_EQ(run.ending, ChildEnding::kExited);
  EXPECT_EQ(run.exit_code, 0);
  EXPECT_EQ(run.output_bytes, kBytes + 1 + 8);
  ASSERT_EQ(run.output_tail.size(), kLogTailBytes);
  EXPECT_EQ(run.output_tail.substr(kLogTailBytes - 11), "xx\nthe end\n");
  EXPECT_EQ(run.output_tail.find_first_not_of('x'), kLogTailBytes - 9);
}

TEST(ChildProcessTest, TimeoutStopsTheWholeProcessGroup) {
  testing::TempDir dir;
  const std::string pid_file = dir / "grandchild.pid";
  ChildSpec spec = Shell("sleep 60 & echo $! > '" + pid_file + "'; sleep 60");
  spec.timeout = milliseconds(500);
  const auto before = std::chrono::steady_clock::now();
  const ChildResult run = MustRun(spec);
  EXPECT_LT(std::chrono::steady_clock::now() - before, seconds(10));
  EXPECT_EQ(run.ending, ChildEnding::kTimedOut);
  EXPECT_EQ(run.signal, SIGTERM);
  EXPECT_EQ(DescribeEnding(run), "timed out after 500 ms; stopped by signal TERM (15)");
  const pid_t grandchild = std::atoi(testing::ReadAll(pid_file).c_str());
  ASSERT_GT(grandchild, 0);
  EXPECT_TRUE(WaitUntilGone(grandchild, seconds(5))) << "pid " << grandchild << " survived";
}

TEST(ChildProcessTest, TimeoutEscalatesToSigkill) {
  // The ignored SIGTERM is inherited by the sleep too, so only SIGKILL ends them.
  ChildSpec spec = Shell("trap '' TERM; sleep 60; sleep 60");
  spec.timeout = milliseconds(300);
  spec.kill_grace = milliseconds(300);
  const auto before = std::chrono::steady_clock::now();
  const ChildResult run = MustRun(spec);
  EXPECT_LT(std::chrono::steady_clock::now() - before, seconds(10));
  EXPECT_EQ(run.ending, ChildEnding::kTimedOut);
  EXPECT_EQ(run.signal, SIGKILL);
}

TEST(ChildProcessTest, LeftoverBackgroundProcessDoesNotHoldTheRunOpen) {
  ChildSpec spec = Shell("sleep 30 & echo $!");
  spec.drain_after_exit = milliseconds(300);
  const auto before = std::chrono::steady_clock::now();
  const ChildResult run = MustRun(spec);
  EXPECT_LT(std::chrono::steady_clock::now() - before, seconds(5));
  EXPECT_EQ(run.ending, ChildEnding::kExited);
  EXPECT_EQ(run.exit_code, 0);
  const pid_t leftover = std::atoi(run.output_tail.c_str());
  ASSERT_GT(leftover, 0);
  ::kill(leftover, SIGKILL);
}

TEST(ChildProcessTest, RunsInANewSessionAndProcessGroup) {
  // Fields 5 and 6 of /proc/PID/stat are the process group and the session.
  const ChildResult run =
      MustRun(Shell("read -r pid comm state ppid pgrp sid rest < /proc/$$/stat; "
                    "echo \"$pid $pgrp $sid\""));
  std::istringstream in(run.output_tail);
  long pid = 0;
  long pgrp = 0;
  long sid = 0;
  in >> pid >> pgrp >> sid;
  EXPECT_GT(pid, 0);
  EXPECT_EQ(pgrp, pid);
  EXPECT_EQ(sid, pid);
}

TEST(ChildProcessTest, SignalDispositionsAreReset) {
  struct sigaction ignore {};
  ignore.sa_handler = SIG_IGN;
  struct sigaction old {};
  ASSERT_EQ(::sigaction(SIGTERM, &ignore, &old), 0);
  const ChildResult run = MustRun(Shell("kill -TERM $$; echo survived"));
  ::sigaction(SIGTERM, &old, nullptr);
  EXPECT_EQ(run.ending, ChildEnding::kSignaled);
  EXPECT_EQ(run.signal, SIGTERM);
}

TEST(ChildProcessTest, DescriptorsOfTheAgentDoNotLeak) {
  const int leaked = ::open("/dev/null", O_RDONLY);  // deliberately without O_CLOEXEC
  ASSERT_GE(leaked, 3);
  const ChildResult run = MustRun(Shell("ls /proc/$$/fd"));
  ::close(leaked);
  std::istringstream in(run.output_tail);
  std::vector<std::string> fds;
  for (std::string fd; in >> fd;) {
    fds.push_back(fd);
  }
  EXPECT_EQ(std::count(fds.begin(), fds.end(), std::to_string(leaked)), 0) << run.output_tail;
  EXPECT_EQ(std::count(fds.begin(), fds.end(), "0"), 1);
}

TEST(ChildProcessTest, RunsInTheWorkingDirectory) {
  testing::TempDir dir;
  ChildSpec spec;
  spec.argv = {"/bin/pwd"};
  spec.working_dir = dir.path();
  const ChildResult run = MustRun(spec);
  EXPECT_EQ(run.output_tail, dir.path() + "\n");

  spec.working_dir = dir / "missing";
  Result<ChildResult> missing = RunChild(spec);
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.error().kind(), ErrorKind::kIo);
  EXPECT_NE(missing.error().message().find("not a directory"), std::string::npos);
}

TEST(ChildProcessTest, ProgramThatCannotBeExecutedIsReportedNotAnError) {
  testing::TempDir dir;
  ChildSpec spec;
  spec.argv = {dir / "missing"};
  ChildResult run = MustRun(spec);
  EXPECT_EQ(run.ending, ChildEnding::kExecFailed);
  EXPECT_EQ(DescribeEnding(run),
            "cannot execute " + dir / "missing" + ": No such file or directory");

  testing::WriteAll(dir / "data", "not a program\n");
  ::chmod((dir / "data").c_str(), 0644);
  spec.argv = {dir / "data"};
  run = MustRun(spec);
  EXPECT_EQ(run.ending, ChildEnding::kExecFailed);
  EXPECT_NE(run.exec_error.find("Permission denied"), std::string::npos);

  ::chmod((dir / "data").c_str(), 0755);
  testing::WriteAll(dir / "data", std::string("\x7f"
                                              "ELF garbage",
                                              12));
  run = MustRun(spec);
  EXPECT_EQ(run.ending, ChildEnding::kExecFailed);
  EXPECT_NE(run.exec_error.find("Exec format error"), std::string::npos);
}

TEST(ChildProcessTest, RefusesEmptyArgumentVectorAndNulBytes) {
  EXPECT_FALSE(RunChild(ChildSpec{}).ok());
  ChildSpec spec;
  spec.argv = {"/bin/echo", std::string("a\0b", 3)};
  Result<ChildResult> run = RunChild(spec);
  ASSERT_FALSE(run.ok());
  EXPECT_NE(run.error().message().find("NUL"), std::string::npos);
}

TEST(ChildProcessTest, FindsProgramsOnlyInTheFixedPath) {
  Result<std::string> sh = FindProgram("sh");
  ASSERT_TRUE(sh.ok()) << sh.error().message();
  EXPECT_TRUE(sh->ends_with("/sh"));
  EXPECT_EQ(sh->front(), '/');
  EXPECT_FALSE(FindProgram("ferry-no-such-program").ok());
  EXPECT_FALSE(FindProgram("bin/sh").ok());
  EXPECT_FALSE(FindProgram("").ok());
}

TEST(ChildProcessTest, LogExcerptIsBoundedValidUtf8WithTheNoteLast) {
  const std::string big = std::string(20000, 'a') + "tail";
  std::string excerpt = MakeLogExcerpt(big, "exit code 1");
  EXPECT_EQ(excerpt.size(), kLogTailBytes);
  EXPECT_TRUE(excerpt.ends_with("atail\nferry: exit code 1\n"));

  // A three-byte character cut at the front, a stray continuation byte and an invalid lead byte.
  const std::string euro = "\xe2\x82\xac";
  const std::string mixed = std::string(kLogTailBytes - 2, 'b') + euro + "\x80" + "ok\xff" + "done";
  excerpt = MakeLogExcerpt(mixed, "");
  EXPECT_TRUE(json::IsValidUtf8(excerpt));
  EXPECT_LE(excerpt.size(), kLogTailBytes);
  EXPECT_TRUE(excerpt.ends_with(euro + "?ok?done")) << excerpt.substr(excerpt.size() - 20);

  const std::string front_cut = "\xe2\x82\xac" + std::string(kLogTailBytes - 1, 'c');
  excerpt = MakeLogExcerpt(front_cut, "");
  EXPECT_TRUE(json::IsValidUtf8(excerpt));
  EXPECT_EQ(excerpt, std::string(kLogTailBytes - 1, 'c'));

  EXPECT_EQ(MakeLogExcerpt("", ""), "");
  EXPECT_EQ(MakeLogExcerpt("", "note"), "ferry: note\n");
}

}  // namespace
}  // namespace ferry::endpoint
