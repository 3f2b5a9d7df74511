#pragma once

// A strict, streaming reader of POSIX tar archives: the edge where libarchive is used for bundles.
// It hands out regular-file members only and refuses everything else a hostile archive may hold
// (links, devices, fifos, directories, sparse files, unsafe names, trailing data).

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>

#include "common/error.hpp"

namespace ferry::bundler {

struct TarMember {
  std::string name;
  uint64_t size = 0;
};

class TarReader {
 public:
  ~TarReader();
  TarReader(TarReader&&) noexcept;
  TarReader& operator=(TarReader&&) noexcept;

  // Opens `path` for one sequential pass; `what` names the archive in errors.
  static Result<TarReader> Open(const std::string& path);

  // The next member's header, or nullopt at the end of the archive. At the end it also checks
  // that nothing follows the end-of-archive marker.
  Result<std::optional<TarMember>> Next();

  // Streams the current member's data to `consume` in the order it is stored.
  Status ReadData(const std::function<Status(std::span<const uint8_t>)>& consume);

  // Reads the current member whole; its size was already checked against the caller's cap.
  Result<std::string> ReadSmall();

  // Bytes of the archive file consumed so far, and its total size.
  uint64_t position() const;
  uint64_t file_size() const;

 private:
  struct State;
  explicit TarReader(std::unique_ptr<State> state);
  Status CheckTail();
  std::unique_ptr<State> state_;
};

}  // namespace ferry::bundler
