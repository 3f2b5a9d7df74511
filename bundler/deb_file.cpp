#include "bundler/deb_file.hpp"

#include <archive.h>
#include <archive_entry.h>

#include <algorithm>
#include <initializer_list>
#include <memory>
#include <string_view>
#include <utility>

#include "bundler/deb822.hpp"
#include "bundler/debian_version.hpp"
#include "bundler/libarchive_read.hpp"
#include "common/file.hpp"

namespace ferry::bundler {
namespace {

// A hostile control.tar.xz could inflate without bound; these stop the walk long before that.
constexpr int kMaxControlEntries = 4096;
constexpr int64_t kMaxControlUncompressedBytes = 128 << 20;
constexpr size_t kMaxDebianBinaryBytes = 4096;

// Reads the current entry's data, refusing more than `max_bytes`.
Result<std::string> ReadEntryData(archive* a, size_t max_bytes, const std::string& what) {
  std::string out;
  char buffer[16384];
  while (true) {
    const la_ssize_t n = archive_read_data(a, buffer, sizeof buffer);
    if (n < 0) {
      return InvalidError(what + ": " + libarchive::Message(a));
    }
    if (n == 0) {
      return out;
    }
    if (out.size() + static_cast<size_t>(n) > max_bytes) {
      return InvalidError(what + ": larger than " + std::to_string(max_bytes) + " bytes");
    }
    out.append(buffer, static_cast<size_t>(n));
  }
}

bool IsControlMemberName(std::string_view name) {
  return name == "control.tar" || name == "control.tar.gz" || name == "control.tar.xz" ||
         name == "control.tar.zst";
}

// deb(5): the first line is "2.<minor>"; later lines may be added by future versions.
bool IsSupportedFormatVersion(std::string_view content) {
  const size_t newline = content.find('\n');
  if (newline == std::string_view::npos) {
    return false;
  }
  const std::string_view line = content.substr(0, newline);
  if (line.size() < 3 || line.substr(0, 2) != "2.") {
    return false;
  }
  return std::all_of(line.begin() + 2, line.end(), [](char c) { return c >= '0' && c <= '9'; });
}

// Walks the outer ar archive and returns the bytes of the control.tar member.
Result<std::string> ReadControlMember(const std::string& path) {
  FERRY_ASSIGN_OR_RETURN(fs::File file, fs::File::OpenRead(path));
  libarchive::ReadPtr ar(archive_read_new());
  if (!ar) {
    return IoError(path + ": libarchive: out of memory");
  }
  if (archive_read_support_format_ar(ar.get()) != ARCHIVE_OK ||
      archive_read_open_fd(ar.get(), file.fd(), 65536) != ARCHIVE_OK) {
    return InvalidError(path + ": not a Debian package: " + libarchive::Message(ar.get()));
  }
  archive_entry* entry = nullptr;
  int rc = archive_read_next_header(ar.get(), &entry);
  if (rc == ARCHIVE_EOF) {
    return InvalidError(path + ": not a Debian package: empty ar archive");
  }
  if (rc < ARCHIVE_WARN) {
    return InvalidError(
        path + ": not a Debian package (not an ar archive): " + libarchive::Message(ar.get()));
  }
  const char* first_name = archive_entry_pathname(entry);
  if (first_name == nullptr || std::string_view(first_name) != "debian-binary") {
    return InvalidError(path + ": not a Debian package: first member is not debian-binary");
  }
  FERRY_ASSIGN_OR_RETURN(std::string format_version,
                         ReadEntryData(ar.get(), kMaxDebianBinaryBytes, path + ": debian-binary"));
  if (!IsSupportedFormatVersion(format_version)) {
    return InvalidError(path + ": debian-binary does not hold a 2.x format version");
  }
  while (true) {
    rc = archive_read_next_header(ar.get(), &entry);
    if (rc == ARCHIVE_EOF) {
      return InvalidError(path + ": no control.tar member");
    }
    if (rc < ARCHIVE_WARN) {
      return InvalidError(path + ": " + libarchive::Message(ar.get()));
    }
    const char* raw_name = archive_entry_pathname(entry);
    const std::string_view name = raw_name != nullptr ? raw_name : "";
    if (!name.empty() && name.front() == '_') {
      continue;  // deb(5) reserves '_' members for extensions readers must skip
    }
    if (!IsControlMemberName(name)) {
      return InvalidError(path + ": no control.tar member (found \"" + std::string(name) +
                          "\" where it belongs)");
    }
    const std::string what = path + ": " + std::string(name);
    if (archive_entry_size_is_set(entry) &&
        archive_entry_size(entry) > static_cast<la_int64_t>(kMaxControlArchiveBytes)) {
      return InvalidError(what + ": larger than " + std::to_string(kMaxControlArchiveBytes) +
                          " bytes");
    }
    return ReadEntryData(ar.get(), kMaxControlArchiveBytes, what);
  }
}

// Opens the in-memory control archive (any compression) and returns ./control.
Result<std::string> ReadControlFile(const std::string& member, const std::string& what) {
  libarchive::ReadPtr tar(archive_read_new());
  if (!tar) {
    return IoError(what + ": libarchive: out of memory");
  }
  // The compressions dpkg-deb writes for control.tar (and bzip2, which older tools used).
  FERRY_RETURN_IF_ERROR(libarchive::EnableFilters(tar.get(), what,
                                             {{"gzip", archive_read_support_filter_gzip},
                                              {"xz", archive_read_support_filter_xz},
                                              {"zstd", archive_read_support_filter_zstd},
                                              {"bzip2", archive_read_support_filter_bzip2}}));
  if (archive_read_support_format_tar(tar.get()) != ARCHIVE_OK ||
      archive_read_open_memory(tar.get(), member.data(), member.size()) != ARCHIVE_OK) {
    return InvalidError(what + ": " + libarchive::Message(tar.get()));
  }
  for (int count = 0;; ++count) {
    if (count >= kMaxControlEntries) {
      return InvalidError(what + ": more than " + std::to_string(kMaxControlEntries) + " entries");
    }
    archive_entry* entry = nullptr;
    const int rc = archive_read_next_header(tar.get(), &entry);
    if (rc == ARCHIVE_EOF) {
      return InvalidError(what + ": no ./control file");
    }
    if (rc < ARCHIVE_WARN) {
      return InvalidError(what + ": " + libarchive::Message(tar.get()));
    }
    if (archive_filter_bytes(tar.get(), 0) > kMaxControlUncompressedBytes) {
      return InvalidError(what + ": expands past " + std::to_string(kMaxControlUncompressedBytes) +
                          " bytes");
    }
    const char* raw_name = archive_entry_pathname(entry);
    const std::string_view name = raw_name != nullptr ? raw_name : "";
    if (name != "./control" && name != "control") {
      continue;
    }
    if (archive_entry_filetype(entry) != AE_IFREG) {
      return InvalidError(what + ": ./control is not a regular file");
    }
    if (archive_entry_size_is_set(entry) &&
        archive_entry_size(entry) > static_cast<la_int64_t>(kMaxControlFileBytes)) {
      return InvalidError(what + ": ./control is larger than " +
                          std::to_string(kMaxControlFileBytes) + " bytes");
    }
    return ReadEntryData(tar.get(), kMaxControlFileBytes, what + ": ./control");
  }
}

}  // namespace

bool IsValidDebianPackageName(std::string_view name) {
  const auto lower_alnum = [](char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'); };
  if (name.size() < 2 || name.size() > 255 || !lower_alnum(name.front())) {
    return false;
  }
  return std::all_of(name.begin(), name.end(),
                     [&](char c) { return lower_alnum(c) || c == '+' || c == '-' || c == '.'; });
}

bool IsValidDebianArchitecture(std::string_view arch) {
  if (arch.empty() || arch.size() > 64 || arch.front() == '-') {
    return false;
  }
  return std::all_of(arch.begin(), arch.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-';
  });
}

Result<DebControl> ReadDebControl(const std::string& path) {
  FERRY_ASSIGN_OR_RETURN(std::string member, ReadControlMember(path));
  const std::string origin = path + ": ./control";
  FERRY_ASSIGN_OR_RETURN(std::string text, ReadControlFile(member, path + ": control.tar"));
  Deb822Limits limits;
  limits.max_bytes = kMaxControlFileBytes;
  FERRY_ASSIGN_OR_RETURN(std::vector<Stanza> stanzas, ParseDeb822(text, origin, limits));
  if (stanzas.size() != 1) {
    return InvalidError(origin + ": expected one stanza, found " + std::to_string(stanzas.size()));
  }
  const Stanza& stanza = stanzas.front();
  const auto required = [&](std::string_view field) -> Result<std::string> {
    const auto value = stanza.Get(field);
    if (!value.has_value() || value->empty()) {
      return InvalidError(origin + ": missing " + std::string(field) + " field");
    }
    return std::string(*value);
  };
  DebControl control;
  FERRY_ASSIGN_OR_RETURN(control.package, required("Package"));
  if (!IsValidDebianPackageName(control.package)) {
    return InvalidError(origin + ": invalid package name \"" + control.package + "\"");
  }
  FERRY_ASSIGN_OR_RETURN(control.version, required("Version"));
  if (auto parsed = ParseDebianVersion(control.version); !parsed.ok()) {
    return std::move(parsed).error().Context(origin);
  }
  FERRY_ASSIGN_OR_RETURN(control.architecture, required("Architecture"));
  if (!IsValidDebianArchitecture(control.architecture)) {
    return InvalidError(origin + ": invalid architecture \"" + control.architecture + "\"");
  }
  control.description = std::string(FirstLine(stanza.Get("Description").value_or("")));
  control.maintainer = std::string(stanza.Get("Maintainer").value_or(""));
  control.section = std::string(stanza.Get("Section").value_or(""));
  if (const auto source = stanza.Get("Source"); source.has_value() && !source->empty()) {
    control.source = std::string(*source);
  }
  return control;
}

}  // namespace ferry::bundler
