#pragma once

// The tar dialect of evidence packages: plain ustar, regular files only, every header in one
// canonical form (mode 0644, owner 0:0, one mtime, no user names), zero padding and exactly two
// zero blocks at the end. The reader accepts nothing else, so every byte of a package is either a
// header it re-derives, member data the manifest hashes, or padding it checks is zero: a flipped
// bit anywhere is found. (bundler's libarchive reader skips padding unread, which a bundle can
// afford because its manifest covers what matters; an evidence package promises every byte.)

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>

#include "common/error.hpp"
#include "common/file.hpp"
#include "crypto/hash.hpp"

namespace ferry::evidence {

// ustar's size field holds 11 octal digits.
inline constexpr uint64_t kUstarMaxMemberBytes = (uint64_t{1} << 33) - 1;
// Member names are short ASCII words; the 100-byte name field always ends in a NUL.
inline constexpr size_t kUstarMaxNameBytes = 99;
inline constexpr size_t kUstarBlock = 512;

// Writes a package member by member into an open file, buffering small writes.
class UstarWriter {
 public:
  UstarWriter(fs::File& file, int64_t mtime);
  ~UstarWriter();
  UstarWriter(const UstarWriter&) = delete;
  UstarWriter& operator=(const UstarWriter&) = delete;

  using WriteFn = std::function<Status(std::string_view)>;
  // Adds a member of exactly `size` bytes; `produce` writes them through the function it is given.
  Status Add(std::string_view name, uint64_t size,
             const std::function<Status(const WriteFn&)>& produce);
  Status AddSmall(std::string_view name, std::string_view data);
  // Writes the end-of-archive marker and flushes. The file is not synced or closed.
  Status Finish();

  uint64_t bytes_written() const { return written_; }
  // The SHA-256 of every byte written, once Finish() succeeded.
  const crypto::Sha256Digest& digest() const { return digest_; }

 private:
  Status Write(std::string_view bytes);
  Status Flush();

  fs::File& file_;
  int64_t mtime_;
  std::string buffer_;
  uint64_t written_ = 0;
  crypto::Sha256 hash_;
  crypto::Sha256Digest digest_{};
};

struct UstarMember {
  std::string name;
  uint64_t size = 0;
  int64_t mtime = 0;
  uint64_t header_offset = 0;  // where its header starts in the file
  int index = 0;               // 1 for the first member
};

// Reads a package sequentially from a file. Errors are ErrorKind::kInvalid for anything the
// file holds (naming the member and byte offset), ErrorKind::kIo when the file cannot be read.
class UstarReader {
 public:
  static Result<UstarReader> Open(const std::string& path);
  ~UstarReader();
  UstarReader(UstarReader&&) noexcept;
  UstarReader& operator=(UstarReader&&) noexcept;

  // The next member's header, or nullopt after a proper end-of-archive marker and end of file.
  // The previous member's data must have been read.
  Result<std::optional<UstarMember>> Next();

  // Streams the current member's data in chunks of at most 1 MiB, then checks its padding.
  Status ReadData(const std::function<Status(std::string_view)>& consume);
  // Reads the current member whole, refusing one larger than max_bytes.
  Result<std::string> ReadSmall(size_t max_bytes);

  uint64_t file_size() const;

 private:
  struct State;
  explicit UstarReader(std::unique_ptr<State> state);
  std::unique_ptr<State> state_;
};

// The 512-byte header the writer produces for a member; the reader compares against it.
std::string UstarHeader(std::string_view name, uint64_t size, int64_t mtime);

}  // namespace ferry::evidence
