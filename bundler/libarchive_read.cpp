#include "bundler/libarchive_read.hpp"

namespace ferry::bundler::libarchive {

std::string Message(archive* a) {
  const char* message = archive_error_string(a);
  return message != nullptr ? message : "unknown libarchive error";
}

Status EnableFilters(archive* a, const std::string& what,
                     std::initializer_list<std::pair<const char*, int (*)(archive*)>> filters) {
  for (const auto& [name, enable] : filters) {
    const int rc = enable(a);
    if (rc == ARCHIVE_WARN) {
      return IoError(what + ": libarchive was built without " + name + " support");
    }
    if (rc != ARCHIVE_OK) {
      return IoError(what + ": " + Message(a));
    }
  }
  return Ok();
}

}  // namespace ferry::bundler::libarchive
