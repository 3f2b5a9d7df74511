#include "bundler/tar_reader.hpp"

#include <archive.h>
#include <archive_entry.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>

#include "common/file.hpp"

namespace ferry::bundler {
namespace {

constexpr size_t kReadBlock = 1 << 20;
constexpr uint64_t kMaxTailPadding = 10240;

struct ArchiveDeleter {
  void operator()(archive* a) const { archive_read_free(a); }
};

const char* TypeName(mode_t type) {
  switch (type) {
    case AE_IFLNK: return "a symbolic link";
    case AE_IFDIR: return "a directory";
    case AE_IFCHR: return "a character device";
    case AE_IFBLK: return "a block device";
    case AE_IFIFO: return "a fifo";
    case AE_IFSOCK: return "a socket";
    default: return "not a regular file";
  }
}

// Refuses names a bundle never uses and an extractor could be tricked by.
std::optional<std::string> UnsafeNameReason(const std::string& name) {
  if (name.empty()) return "an empty name";
  if (name.front() == '/') return "an absolute path";
  if (name.find('\0') != std::string::npos) return "a NUL byte in its name";
  size_t start = 0;
  while (start <= name.size()) {
    const size_t slash = name.find('/', start);
    const std::string part = name.substr(start, slash == std::string::npos ? std::string::npos
                                                                            : slash - start);
    if (part == "..") return "a '..' path component";
    if (slash == std::string::npos) break;
    start = slash + 1;
  }
  return std::nullopt;
}

}  // namespace

struct TarReader::State {
  fs::File file;
  uint64_t size = 0;
  std::unique_ptr<struct archive, ArchiveDeleter> handle;
  // Not zero-filled: every byte handed to libarchive was first written by read().
  std::unique_ptr<uint8_t[]> buffer = std::make_unique_for_overwrite<uint8_t[]>(kReadBlock);
  std::string path;
  Status read_status;  // an I/O failure seen inside the libarchive callback

  Error ArchiveError(const std::string& what) const {
    const char* message = archive_error_string(handle.get());
    if (!read_status.ok()) return read_status.error();
    return InvalidError(path + ": " + what + ": " + (message ? message : "unknown libarchive error"));
  }

  static la_ssize_t ReadCallback(struct archive*, void* opaque, const void** out) {
    auto* self = static_cast<State*>(opaque);
    auto n = self->file.Read({self->buffer.get(), kReadBlock});
    if (!n.ok()) {
      self->read_status = std::move(n).error();
      return -1;
    }
    *out = self->buffer.get();
    return static_cast<la_ssize_t>(*n);
  }
};

TarReader::TarReader(std::unique_ptr<State> state) : state_(std::move(state)) {}
TarReader::~TarReader() = default;
TarReader::TarReader(TarReader&&) noexcept = default;
TarReader& TarReader::operator=(TarReader&&) noexcept = default;

Result<TarReader> TarReader::Open(const std::string& path) {
  auto state = std::make_unique<State>();
  state->path = path;
  FERRY_ASSIGN_OR_RETURN(state->file, fs::File::OpenRead(path));
  FERRY_ASSIGN_OR_RETURN(state->size, state->file.Size());
  ::posix_fadvise(state->file.fd(), 0, 0, POSIX_FADV_SEQUENTIAL);
  state->handle.reset(archive_read_new());
  if (!state->handle) return IoError("libarchive: out of memory");
  // Only tar: a bundle is never compressed and never another archive format.
  if (archive_read_support_format_tar(state->handle.get()) != ARCHIVE_OK) {
    return IoError(state->ArchiveError("enabling tar support").message());
  }
  if (archive_read_open(state->handle.get(), state.get(), nullptr, &State::ReadCallback,
                        nullptr) != ARCHIVE_OK) {
    return state->ArchiveError("not a readable tar archive");
  }
  return TarReader(std::move(state));
}

Result<std::optional<TarMember>> TarReader::Next() {
  archive_entry* entry = nullptr;
  const int rc = archive_read_next_header(state_->handle.get(), &entry);
  if (rc == ARCHIVE_EOF) {
    FERRY_RETURN_IF_ERROR(CheckTail());
    return std::optional<TarMember>();
  }
  if (rc != ARCHIVE_OK) {
    return state_->ArchiveError("corrupt or truncated archive");
  }
  const char* raw_name = archive_entry_pathname(entry);
  TarMember member;
  member.name = raw_name ? raw_name : "";
  if (const auto reason = UnsafeNameReason(member.name)) {
    return InvalidError(state_->path + ": member \"" + member.name + "\" has " + *reason);
  }
  if (archive_entry_hardlink(entry) != nullptr) {
    return InvalidError(state_->path + ": member \"" + member.name + "\" is a hard link");
  }
  const mode_t type = archive_entry_filetype(entry);
  if (type != AE_IFREG) {
    return InvalidError(state_->path + ": member \"" + member.name + "\" is " + TypeName(type) +
                        "; only regular files are allowed");
  }
  if (archive_entry_sparse_count(entry) > 0) {
    return InvalidError(state_->path + ": member \"" + member.name + "\" is a sparse file");
  }
  if (!archive_entry_size_is_set(entry) || archive_entry_size(entry) < 0) {
    return InvalidError(state_->path + ": member \"" + member.name + "\" has no valid size");
  }
  member.size = static_cast<uint64_t>(archive_entry_size(entry));
  if (member.size > state_->size) {
    return InvalidError(state_->path + ": member \"" + member.name + "\" declares " +
                        std::to_string(member.size) + " bytes, more than the whole file holds");
  }
  return std::optional<TarMember>(std::move(member));
}

Status TarReader::ReadData(const std::function<Status(std::span<const uint8_t>)>& consume) {
  uint64_t expected_offset = 0;
  while (true) {
    const void* block = nullptr;
    size_t length = 0;
    la_int64_t offset = 0;
    const int rc = archive_read_data_block(state_->handle.get(), &block, &length, &offset);
    if (rc == ARCHIVE_EOF) return Ok();
    if (rc != ARCHIVE_OK) return state_->ArchiveError("reading member data");
    if (static_cast<uint64_t>(offset) != expected_offset) {
      return InvalidError(state_->path + ": member data has a hole");
    }
    expected_offset += length;
    FERRY_RETURN_IF_ERROR(consume({static_cast<const uint8_t*>(block), length}));
  }
}

Result<std::string> TarReader::ReadSmall() {
  std::string out;
  FERRY_RETURN_IF_ERROR(ReadData([&](std::span<const uint8_t> bytes) {
    out.append(reinterpret_cast<const char*>(bytes.data()), bytes.size());
    return Ok();
  }));
  return out;
}

uint64_t TarReader::position() const {
  return static_cast<uint64_t>(archive_filter_bytes(state_->handle.get(), -1));
}

uint64_t TarReader::file_size() const { return state_->size; }

Status TarReader::CheckTail() {
  // libarchive stops at the end-of-archive marker. Tar tools pad the last record with zeros (GNU
  // tar up to 10240 bytes), which is harmless; any other byte after the marker was not signed for.
  const uint64_t consumed = position();
  const uint64_t rest = state_->size - std::min(consumed, state_->size);
  const auto trailing = [&] {
    return InvalidError(state_->path + ": " + std::to_string(rest) +
                        " bytes of trailing data after the end of the archive");
  };
  if (rest > kMaxTailPadding) return trailing();
  // The two zero blocks of the end-of-archive marker must be whole: an archive cut inside them
  // is truncated, even if every member before it was complete.
  if (consumed < 1024 || consumed % 512 != 0) {
    return InvalidError(state_->path + ": truncated end-of-archive marker");
  }
  std::vector<uint8_t> tail(1024 + rest);
  const ssize_t n = ::pread(state_->file.fd(), tail.data(), tail.size(),
                            static_cast<off_t>(consumed - 1024));
  if (n != static_cast<ssize_t>(tail.size())) {
    return IoError(state_->path + ": cannot read the end of the file");
  }
  if (std::any_of(tail.begin(), tail.begin() + 1024, [](uint8_t b) { return b != 0; })) {
    return InvalidError(state_->path + ": truncated end-of-archive marker");
  }
  if (std::any_of(tail.begin() + 1024, tail.end(), [](uint8_t b) { return b != 0; })) {
    return trailing();
  }
  return Ok();
}

}  // namespace ferry::bundler
