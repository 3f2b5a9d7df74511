#pragma once

// A local APT repository as apt-mirror or aptly leave it on disk:
//   ROOT/dists/<suite>/<component>/binary-<arch>/Packages[.gz|.xz]
//   ROOT/pool/...   (the .deb files, named by each stanza's Filename relative to ROOT)

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "common/error.hpp"

namespace ferry::bundler {

struct AptPackage {
  std::string package;
  std::string version;
  std::string architecture;
  std::string filename;     // relative to the repository root, checked to stay inside it
  std::string sha256;       // lower-case hex
  std::string description;  // the synopsis (first line)
  uint64_t size = 0;
  std::string suite;  // the directory under dists/ the entry was first found in
};

constexpr size_t kMaxPackagesIndexBytes = 256u << 20;

// True when `dir` has a dists/ directory.
bool LooksLikeAptRepository(const std::string& dir);

// Reads every binary-<arch> index under ROOT/dists (at most six directories deep; symbolic links
// such as dists/stable -> bookworm are not followed, so nothing is read twice or from outside).
// Where a directory holds several variants only one is read, preferring Packages, then
// Packages.xz, then Packages.gz. Each stanza needs Package, Version (valid Debian version),
// Architecture, Filename (relative, no "..", no empty component), Size and SHA256. Identical
// (package, version, architecture) entries are kept once; the same triple with a different
// SHA256 or size is refused. Results are sorted by package, then version (Debian order), then
// architecture.
Result<std::vector<AptPackage>> ReadAptRepository(const std::string& root);

// Reads a whole file through libarchive's raw format and its built-in decompressors, so plain,
// gzip, xz, bzip2, zstd and lz4 files all come back as their plain bytes (no external program is
// ever run); refuses output larger than `max_bytes`.
Result<std::string> ReadMaybeCompressedFile(const std::string& path, size_t max_bytes);

// True when `filename` is a safe relative path: non-empty, not absolute, no "." or ".." or empty
// components, no backslash or control characters.
bool IsSafeRelativePath(std::string_view filename);

}  // namespace ferry::bundler
