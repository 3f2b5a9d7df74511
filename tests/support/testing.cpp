#include "tests/support/testing.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <thread>

namespace ferry::testing {

TempDir::TempDir() {
  const char* base = std::getenv("TMPDIR");
  std::string pattern = std::string(base ? base : "/tmp") + "/ferry-test-XXXXXX";
  if (::mkdtemp(pattern.data()) == nullptr) throw std::runtime_error("mkdtemp failed");
  path_ = pattern;
}

TempDir::~TempDir() { Run("rm -rf '" + path_ + "'"); }

std::string ReadAll(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream buffer;
  buffer << in.rdbuf();
  return buffer.str();
}

void WriteAll(const std::string& path, const std::string& data) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(data.data(), static_cast<std::streamsize>(data.size()));
  if (!out) throw std::runtime_error("cannot write " + path);
}

CommandResult Run(const std::string& command_line) {
  char out_path[] = "/tmp/ferry-run-out-XXXXXX";
  char err_path[] = "/tmp/ferry-run-err-XXXXXX";
  const int out_fd = ::mkstemp(out_path);
  const int err_fd = ::mkstemp(err_path);
  ::close(out_fd);
  ::close(err_fd);
  const std::string full = "(" + command_line + ") >" + out_path + " 2>" + err_path + " </dev/null";
  const int status = std::system(full.c_str());
  CommandResult result;
  result.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  result.out = ReadAll(out_path);
  result.err = ReadAll(err_path);
  ::unlink(out_path);
  ::unlink(err_path);
  return result;
}

pid_t Spawn(const std::vector<std::string>& args, const std::string& out, const std::string& err) {
  std::vector<char*> argv;
  for (const std::string& arg : args) argv.push_back(const_cast<char*>(arg.c_str()));
  argv.push_back(nullptr);
  const pid_t pid = ::fork();
  if (pid == 0) {
    // Only async-signal-safe calls between fork and exec.
    const int in_fd = ::open("/dev/null", O_RDONLY);
    const int out_fd = ::open(out.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    const int err_fd = ::open(err.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (in_fd < 0 || out_fd < 0 || err_fd < 0) ::_exit(126);
    ::dup2(in_fd, 0);
    ::dup2(out_fd, 1);
    ::dup2(err_fd, 2);
    ::execv(argv[0], argv.data());
    ::_exit(127);
  }
  return pid;
}

std::optional<int> WaitForExit(pid_t pid, std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (true) {
    int status = 0;
    const pid_t done = ::waitpid(pid, &status, WNOHANG);
    if (done == pid) return status;
    if (done < 0 || std::chrono::steady_clock::now() >= deadline) return std::nullopt;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
}

std::string BuildPath(const std::string& relative) {
  const char* dir = std::getenv("FERRY_BUILD_DIR");
  return std::string(dir ? dir : FERRY_BUILD_DIR_DEFAULT) + "/" + relative;
}

std::string MakeDeb(const std::string& dir, const std::string& package, const std::string& version,
                    const std::string& architecture, size_t payload_bytes,
                    const std::map<std::string, std::string>& maintainer_scripts) {
  const std::string tree = dir + "/" + package + "-" + version + "-tree";
  Run("rm -rf '" + tree + "'");
  ::mkdir(tree.c_str(), 0755);
  ::mkdir((tree + "/DEBIAN").c_str(), 0755);
  ::mkdir((tree + "/usr").c_str(), 0755);
  ::mkdir((tree + "/usr/share").c_str(), 0755);
  ::mkdir((tree + "/usr/share/" + package).c_str(), 0755);
  WriteAll(tree + "/DEBIAN/control",
           "Package: " + package + "\nVersion: " + version + "\nArchitecture: " + architecture +
               "\nMaintainer: Ferry Tests <tests@ferry.invalid>\nSection: misc\nPriority: optional\n"
               "Description: test package " + package + "\n long description line\n");
  std::string filler(payload_bytes, '\0');
  uint32_t state = 2166136261u;
  for (char& c : filler) {
    state = state * 16777619u ^ 0x5bu;
    c = static_cast<char>(state >> 24);
  }
  WriteAll(tree + "/usr/share/" + package + "/data", filler);
  for (const auto& [name, text] : maintainer_scripts) {
    WriteAll(tree + "/DEBIAN/" + name, text);
    ::chmod((tree + "/DEBIAN/" + name).c_str(), 0755);
  }
  const std::string out = dir + "/" + package + "_" + version + "_" + architecture + ".deb";
  const CommandResult built =
      Run("dpkg-deb --root-owner-group -Zxz --build '" + tree + "' '" + out + "'");
  Run("rm -rf '" + tree + "'");
  if (built.exit_code != 0) throw std::runtime_error("dpkg-deb failed: " + built.err);
  return out;
}

namespace {

void PutOctal(char* field, size_t width, uint64_t value) {
  // width includes the terminating NUL.
  std::snprintf(field, width, "%0*llo", static_cast<int>(width - 1),
                static_cast<unsigned long long>(value));
}

std::string Header(const TarEntry& entry, uint64_t size) {
  std::array<char, 512> h{};
  std::strncpy(h.data(), entry.name.c_str(), 100);
  PutOctal(h.data() + 100, 8, entry.type == "dir" ? 0755 : 0644);
  PutOctal(h.data() + 108, 8, 0);
  PutOctal(h.data() + 116, 8, 0);
  PutOctal(h.data() + 124, 12, size);
  PutOctal(h.data() + 136, 12, 1700000000);
  char type = '0';
  if (entry.type == "hardlink") type = '1';
  if (entry.type == "symlink") type = '2';
  if (entry.type == "chardev") type = '3';
  if (entry.type == "dir") type = '5';
  if (entry.type == "fifo") type = '6';
  h[156] = type;
  std::strncpy(h.data() + 157, entry.link_target.c_str(), 100);
  std::memcpy(h.data() + 257, "ustar\0" "00", 8);
  std::memset(h.data() + 148, ' ', 8);
  unsigned sum = 0;
  for (const char c : h) sum += static_cast<unsigned char>(c);
  std::snprintf(h.data() + 148, 8, "%06o", sum);
  h[155] = ' ';
  return std::string(h.data(), h.size());
}

}  // namespace

std::string MakeTar(const std::vector<TarEntry>& entries, bool end_marker) {
  std::string out;
  for (const TarEntry& entry : entries) {
    if (entry.declared_size >= 0) {
      out += Header(entry, static_cast<uint64_t>(entry.declared_size));
      continue;
    }
    const bool has_data = entry.type == "file";
    out += Header(entry, has_data ? entry.data.size() : 0);
    if (has_data) {
      out += entry.data;
      out.append((512 - entry.data.size() % 512) % 512, '\0');
    }
  }
  if (end_marker) out.append(1024, '\0');
  return out;
}

}  // namespace ferry::testing
