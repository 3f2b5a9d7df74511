#include "bundler/tar_writer.hpp"

#include <archive.h>
#include <archive_entry.h>

namespace ferry::bundler {
namespace {

struct ArchiveDeleter {
  void operator()(archive* a) const { archive_write_free(a); }
};
struct EntryDeleter {
  void operator()(archive_entry* e) const { archive_entry_free(e); }
};

}  // namespace

struct TarWriter::State {
  fs::File* file = nullptr;
  int64_t mtime = 0;
  std::unique_ptr<struct archive, ArchiveDeleter> handle;
  Status write_status;

  Error ArchiveError(const std::string& what) const {
    if (!write_status.ok()) return write_status.error();
    const char* message = archive_error_string(handle.get());
    return IoError(file->path() + ": " + what + ": " + (message ? message : "libarchive error"));
  }

  static la_ssize_t WriteCallback(struct archive*, void* opaque, const void* buffer, size_t length) {
    auto* self = static_cast<State*>(opaque);
    Status written = self->file->WriteAll({static_cast<const uint8_t*>(buffer), length});
    if (!written.ok()) {
      self->write_status = std::move(written);
      return -1;
    }
    return static_cast<la_ssize_t>(length);
  }
};

TarWriter::TarWriter(std::unique_ptr<State> state) : state_(std::move(state)) {}
TarWriter::~TarWriter() = default;
TarWriter::TarWriter(TarWriter&&) noexcept = default;
TarWriter& TarWriter::operator=(TarWriter&&) noexcept = default;

Result<TarWriter> TarWriter::Open(fs::File& file, int64_t mtime) {
  auto state = std::make_unique<State>();
  state->file = &file;
  state->mtime = mtime;
  state->handle.reset(archive_write_new());
  if (!state->handle) return IoError("libarchive: out of memory");
  archive* a = state->handle.get();
  // pax_restricted writes plain ustar headers and adds pax records only where ustar falls short.
  if (archive_write_set_format_pax_restricted(a) != ARCHIVE_OK ||
      archive_write_set_bytes_per_block(a, 64 * 1024) != ARCHIVE_OK ||
      archive_write_set_bytes_in_last_block(a, 1) != ARCHIVE_OK) {
    return state->ArchiveError("configuring the tar writer");
  }
  if (archive_write_open(a, state.get(), nullptr, &State::WriteCallback, nullptr) != ARCHIVE_OK) {
    return state->ArchiveError("opening the tar writer");
  }
  return TarWriter(std::move(state));
}

Status TarWriter::Add(const std::string& name, uint64_t size,
                      const std::function<Status(const WriteFn&)>& produce) {
  std::unique_ptr<archive_entry, EntryDeleter> entry(archive_entry_new());
  if (!entry) return IoError("libarchive: out of memory");
  archive_entry_set_pathname(entry.get(), name.c_str());
  archive_entry_set_filetype(entry.get(), AE_IFREG);
  archive_entry_set_perm(entry.get(), 0644);
  archive_entry_set_size(entry.get(), static_cast<la_int64_t>(size));
  archive_entry_set_mtime(entry.get(), state_->mtime, 0);
  archive_entry_set_uid(entry.get(), 0);
  archive_entry_set_gid(entry.get(), 0);
  archive* a = state_->handle.get();
  if (archive_write_header(a, entry.get()) != ARCHIVE_OK) {
    return state_->ArchiveError("writing the header of " + name);
  }
  uint64_t written = 0;
  const WriteFn write = [&](std::span<const uint8_t> bytes) -> Status {
    if (written + bytes.size() > size) {
      return IoError(name + ": more data than the " + std::to_string(size) + " bytes announced");
    }
    const la_ssize_t n = archive_write_data(a, bytes.data(), bytes.size());
    if (n < 0 || static_cast<size_t>(n) != bytes.size()) {
      return state_->ArchiveError("writing " + name);
    }
    written += bytes.size();
    return Ok();
  };
  FERRY_RETURN_IF_ERROR(produce(write));
  if (written != size) {
    return IoError(name + ": " + std::to_string(written) + " bytes written of " +
                   std::to_string(size) + " announced");
  }
  if (archive_write_finish_entry(a) != ARCHIVE_OK) {
    return state_->ArchiveError("finishing " + name);
  }
  return Ok();
}

Status TarWriter::AddSmall(const std::string& name, std::string_view data) {
  return Add(name, data.size(), [&](const WriteFn& write) {
    return write({reinterpret_cast<const uint8_t*>(data.data()), data.size()});
  });
}

Status TarWriter::Finish() {
  if (archive_write_close(state_->handle.get()) != ARCHIVE_OK) {
    return state_->ArchiveError("closing the archive");
  }
  return Ok();
}

}  // namespace ferry::bundler
