// libFuzzer target for the bundle reader: every input is written to a file (the reader takes a
// path) and read twice, by VerifyBundle against the fixture's pinned root and by ReadBundleHead.
// Refusal is the normal outcome; besides memory errors, leaks and undefined behaviour, the target
// aborts only when the two readers disagree about a bundle that verified, when the sink saw
// something VerifyBundle did not promise, or when a refusal is not ErrorKind::kInvalid.

#include <fcntl.h>
#include <unistd.h>

#include <cstdint>
#include <cstdlib>
#include <memory>
#include <optional>
#include <span>
#include <string>

#include "bundler/bundle_reader.hpp"
#include "tests/fuzz/fuzz_fixture.hpp"

namespace ferry::fuzz {
namespace {

// Checks the sink protocol: Begin, bytes, End, one payload at a time, sizes as declared.
class CheckingSink : public bundler::PayloadSink {
 public:
  Status BeginPayload(const bundler::PayloadRef& payload) override {
    if (open_) {
      __builtin_trap();
    }
    open_ = true;
    expected_ = payload.size;
    written_ = 0;
    return Ok();
  }
  Status WritePayload(std::span<const uint8_t> bytes) override {
    if (!open_) {
      __builtin_trap();
    }
    written_ += bytes.size();
    if (written_ > expected_) {
      __builtin_trap();  // the reader handed out more bytes than the manifest allows
    }
    return Ok();
  }
  Status EndPayload(const bundler::PayloadRef& payload) override {
    if (!open_ || written_ != payload.size || payload.size != expected_) {
      __builtin_trap();
    }
    open_ = false;
    ++ended_;
    total_ += written_;
    return Ok();
  }

  size_t ended() const { return ended_; }
  uint64_t total() const { return total_; }

 private:
  bool open_ = false;
  uint64_t expected_ = 0;
  uint64_t written_ = 0;
  size_t ended_ = 0;
  uint64_t total_ = 0;
};

struct Context {
  FuzzKeys keys = MakeFuzzKeys();
  FuzzRoots roots = MakeFuzzRoots(keys);
  std::string dir;
  std::string input_path;
};

Context* g_context = nullptr;

void RemoveScratch() {
  if (g_context == nullptr) {
    return;
  }
  ::unlink(g_context->input_path.c_str());
  ::rmdir(g_context->dir.c_str());
}

// Writes the whole input; a failure here is the machine's, not the reader's, so it aborts loudly.
void WriteInput(const std::string& path, const uint8_t* data, size_t size) {
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) {
    std::abort();
  }
  size_t done = 0;
  while (done < size) {
    const ssize_t n = ::write(fd, data + done, size - done);
    if (n <= 0) {
      std::abort();
    }
    done += static_cast<size_t>(n);
  }
  ::close(fd);
}

}  // namespace
}  // namespace ferry::fuzz

extern "C" int LLVMFuzzerInitialize(int* /*argc*/, char*** /*argv*/) {
  using ferry::fuzz::g_context;
  g_context = new ferry::fuzz::Context();
  // One scratch directory per process, so parallel jobs never share an input file.
  const char* base = std::getenv("TMPDIR");
  std::string pattern = std::string(base != nullptr ? base : "/tmp") + "/ferry-fuzz-XXXXXX";
  if (::mkdtemp(pattern.data()) == nullptr) {
    std::abort();
  }
  g_context->dir = pattern;
  g_context->input_path = pattern + "/input.ferry";
  std::atexit(ferry::fuzz::RemoveScratch);
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace ferry;
  using fuzz::g_context;
  fuzz::WriteInput(g_context->input_path, data, size);

  bundler::VerifyOptions options;
  options.now = fuzz::kFuzzNow;
  options.site = fuzz::kFuzzSite;
  uint64_t last_done = 0;
  options.progress = [&](uint64_t done, uint64_t /*total*/) {
    if (done < last_done) {
      __builtin_trap();  // progress must only move forward
    }
    last_done = done;
  };
  fuzz::CheckingSink sink;
  auto verified = bundler::VerifyBundle(g_context->input_path, g_context->roots.v1, options, &sink);
  auto head = bundler::ReadBundleHead(g_context->input_path);

  if (verified.ok()) {
    // What verified must also read, identically, without the signature checks.
    if (!head.ok() || head->manifest_text != verified->head.manifest_text ||
        head->root_chain != verified->head.root_chain) {
      __builtin_trap();
    }
    if (sink.ended() != verified->payload_count || sink.total() != verified->payload_bytes) {
      __builtin_trap();
    }
  } else {
    // The input file is readable, so whatever is wrong lies in its bytes: that is kInvalid (exit
    // code 1), never an I/O or usage error, and the message is never empty.
    if (verified.error().kind() != ErrorKind::kInvalid || verified.error().message().empty()) {
      __builtin_trap();
    }
  }
  return 0;
}
