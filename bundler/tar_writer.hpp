#pragma once

// Writes a POSIX (pax) tar archive member by member: the edge where libarchive writes bundles.

#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string>

#include "common/error.hpp"
#include "common/file.hpp"

namespace ferry::bundler {

class TarWriter {
 public:
  ~TarWriter();
  TarWriter(TarWriter&&) noexcept;
  TarWriter& operator=(TarWriter&&) noexcept;

  // Writes into an already open file; every member gets mode 0644, owner 0:0 and `mtime`, so the
  // same inputs give the same bytes.
  static Result<TarWriter> Open(fs::File& file, int64_t mtime);

  // Adds a regular file of exactly `size` bytes; `produce` is called with a writer function until
  // it has written them all.
  using WriteFn = std::function<Status(std::span<const uint8_t>)>;
  Status Add(const std::string& name, uint64_t size, const std::function<Status(const WriteFn&)>& produce);
  Status AddSmall(const std::string& name, std::string_view data);

  // Writes the end-of-archive marker. The file is not synced or closed.
  Status Finish();

 private:
  struct State;
  explicit TarWriter(std::unique_ptr<State> state);
  std::unique_ptr<State> state_;
};

}  // namespace ferry::bundler
