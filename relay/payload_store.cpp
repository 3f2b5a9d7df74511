#include "relay/payload_store.hpp"

#include <fcntl.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "common/encoding.hpp"

namespace ferry::relay {
namespace {

Error SystemError(const std::string& path, const char* what) {
  return IoError(path + ": " + what + ": " + std::strerror(errno));
}

Status MakeDirectory(const std::string& path) {
  if (::mkdir(path.c_str(), 0755) != 0 && errno != EEXIST) return SystemError(path, "mkdir");
  return Ok();
}

bool IsDigestName(const std::string& name) {
  crypto::Sha256Digest digest{};
  return name.size() == 64 && HexDecodeInto(name, digest) && HexEncode(digest) == name;
}

class StagingSinkImpl : public bundler::PayloadSink {
 public:
  StagingSinkImpl(const PayloadStore& store, std::string dir) : store_(store), dir_(std::move(dir)) {}

  Status BeginPayload(const bundler::PayloadRef& payload) override {
    // The bytes are still hashed by the reader; only the write is skipped for a known payload.
    if (store_.Has(payload.sha256)) return Ok();
    FERRY_ASSIGN_OR_RETURN(file_,
                           fs::File::CreateNew(fs::JoinPath(dir_, crypto::DigestHex(payload.sha256)), 0644));
    writing_ = true;
    return Ok();
  }

  Status WritePayload(std::span<const uint8_t> bytes) override {
    if (!writing_) return Ok();
    FERRY_RETURN_IF_ERROR(file_.WriteAll(bytes));
    written_ += bytes.size();
    // Start the disk on what is written so far while the reader goes on hashing, so the fsync at
    // the end waits for the last stretch only: disk and CPU work side by side in one thread.
    if (written_ - flushed_ >= kWritebackStep) {
      ::sync_file_range(file_.fd(), static_cast<off_t>(flushed_),
                        static_cast<off_t>(written_ - flushed_), SYNC_FILE_RANGE_WRITE);
      flushed_ = written_;
    }
    return Ok();
  }

  Status EndPayload(const bundler::PayloadRef&) override {
    if (!writing_) return Ok();
    writing_ = false;
    written_ = 0;
    flushed_ = 0;
    FERRY_RETURN_IF_ERROR(file_.Sync());
    return file_.Close();
  }

 private:
  const PayloadStore& store_;
  std::string dir_;
  static constexpr uint64_t kWritebackStep = 2 << 20;
  fs::File file_;
  bool writing_ = false;
  uint64_t written_ = 0;
  uint64_t flushed_ = 0;
};

}  // namespace

std::string NewImportId() {
  uint8_t bytes[16];
  size_t done = 0;
  while (done < sizeof bytes) {
    const ssize_t n = ::getrandom(bytes + done, sizeof bytes - done, 0);
    if (n > 0) done += static_cast<size_t>(n);
  }
  return HexEncode(bytes);
}

Status PayloadStore::CreateLayout() const {
  FERRY_RETURN_IF_ERROR(MakeDirectory(dir_.payloads()));
  FERRY_RETURN_IF_ERROR(MakeDirectory(dir_.staging()));
  for (int i = 0; i < 256; ++i) {
    const uint8_t prefix = static_cast<uint8_t>(i);
    FERRY_RETURN_IF_ERROR(MakeDirectory(fs::JoinPath(dir_.payloads(), HexEncode({&prefix, 1}))));
  }
  return fs::SyncDirectory(dir_.payloads());
}

std::string PayloadStore::PathOf(const crypto::Sha256Digest& sha256) const {
  const std::string hex = crypto::DigestHex(sha256);
  return fs::JoinPath(fs::JoinPath(dir_.payloads(), hex.substr(0, 2)), hex);
}

bool PayloadStore::Has(const crypto::Sha256Digest& sha256) const {
  return fs::Exists(PathOf(sha256));
}

std::string PayloadStore::StagingDir(const std::string& import_id) const {
  return fs::JoinPath(dir_.staging(), import_id);
}

Result<std::unique_ptr<bundler::PayloadSink>> PayloadStore::StagingSink(
    const std::string& import_id) const {
  const std::string dir = StagingDir(import_id);
  if (::mkdir(dir.c_str(), 0755) != 0) return SystemError(dir, "mkdir");
  return std::unique_ptr<bundler::PayloadSink>(new StagingSinkImpl(*this, dir));
}

Result<size_t> PayloadStore::Publish(const std::string& import_id) const {
  const std::string dir = StagingDir(import_id);
  if (!fs::IsDirectory(dir)) return size_t{0};  // already published before a crash
  size_t moved = 0;
  FERRY_ASSIGN_OR_RETURN(const std::vector<std::string> names, fs::ListDirectory(dir));
  for (const std::string& name : names) {
    const std::string staged = fs::JoinPath(dir, name);
    crypto::Sha256Digest digest{};
    if (!IsDigestName(name) || !HexDecodeInto(name, digest)) {
      ::unlink(staged.c_str());
      continue;
    }
    const std::string target = PathOf(digest);
    if (fs::Exists(target)) {
      ::unlink(staged.c_str());
      continue;
    }
    if (::rename(staged.c_str(), target.c_str()) != 0) return SystemError(target, "rename");
    FERRY_RETURN_IF_ERROR(fs::SyncDirectory(fs::JoinPath(dir_.payloads(), name.substr(0, 2))));
    ++moved;
  }
  FERRY_RETURN_IF_ERROR(Discard(import_id));
  return moved;
}

Status PayloadStore::SyncStaging(const std::string& import_id) const {
  FERRY_RETURN_IF_ERROR(fs::SyncDirectory(StagingDir(import_id)));
  return fs::SyncDirectory(dir_.staging());
}

Status PayloadStore::Discard(const std::string& import_id) const {
  const std::string dir = StagingDir(import_id);
  if (!fs::IsDirectory(dir)) return Ok();
  FERRY_ASSIGN_OR_RETURN(const std::vector<std::string> names, fs::ListDirectory(dir));
  for (const std::string& name : names) {
    const std::string path = fs::JoinPath(dir, name);
    if (::unlink(path.c_str()) != 0 && errno != ENOENT) return SystemError(path, "unlink");
  }
  if (::rmdir(dir.c_str()) != 0 && errno != ENOENT) return SystemError(dir, "rmdir");
  return fs::SyncDirectory(dir_.staging());
}

Result<std::vector<std::string>> PayloadStore::StagedImports() const {
  return fs::ListDirectory(dir_.staging());
}

Result<std::vector<std::string>> PayloadStore::ListStored() const {
  std::vector<std::string> out;
  FERRY_ASSIGN_OR_RETURN(const std::vector<std::string> prefixes, fs::ListDirectory(dir_.payloads()));
  for (const std::string& prefix : prefixes) {
    FERRY_ASSIGN_OR_RETURN(const std::vector<std::string> names,
                           fs::ListDirectory(fs::JoinPath(dir_.payloads(), prefix)));
    for (const std::string& name : names) out.push_back(prefix + "/" + name);
  }
  return out;
}

}  // namespace ferry::relay
