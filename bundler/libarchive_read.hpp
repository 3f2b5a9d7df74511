#pragma once

// Shared pieces of the libarchive edge for reading (.deb files, APT indexes). Internal to the
// bundler's .cpp files: no public header includes it, so libarchive stays at the edge.

#include <archive.h>

#include <initializer_list>
#include <memory>
#include <string>
#include <utility>

#include "common/error.hpp"

namespace ferry::bundler::libarchive {

struct ReadDeleter {
  void operator()(archive* a) const { archive_read_free(a); }
};
using ReadPtr = std::unique_ptr<archive, ReadDeleter>;

// libarchive's own description of its last error.
std::string Message(archive* a);

// Registers exactly the given decompressors. Only ones built into libarchive belong here:
// filter_all would also register filters that run an external program (lrzip, lzop, grzip) on
// untrusted input.
Status EnableFilters(archive* a, const std::string& what,
                     std::initializer_list<std::pair<const char*, int (*)(archive*)>> filters);

}  // namespace ferry::bundler::libarchive
