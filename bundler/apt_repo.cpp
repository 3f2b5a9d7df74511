#include "bundler/apt_repo.hpp"

#include <archive.h>
#include <archive_entry.h>

#include <algorithm>
#include <filesystem>
#include <initializer_list>
#include <map>
#include <memory>
#include <string_view>
#include <tuple>
#include <utility>

#include "bundler/deb822.hpp"
#include "bundler/deb_file.hpp"
#include "bundler/debian_version.hpp"
#include "bundler/libarchive_read.hpp"
#include "common/file.hpp"

namespace ferry::bundler {
namespace {

namespace stdfs = std::filesystem;

constexpr int kMaxDistsDepth = 6;
constexpr size_t kMaxIndexFiles = 4096;

bool IsHex(char c) {
  return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

char AsciiLower(char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c; }

bool ParseSize(std::string_view text, uint64_t& out) {
  if (text.empty() || text.size() > 20) {
    return false;
  }
  out = 0;
  for (const char c : text) {
    if (c < '0' || c > '9') {
      return false;
    }
    const auto digit = static_cast<uint64_t>(c - '0');
    if (out > (UINT64_MAX - digit) / 10) {
      return false;
    }
    out = out * 10 + digit;
  }
  return true;
}

// One index to read: its path relative to the root (for messages) and the suite it belongs to.
struct IndexFile {
  std::string relative;
  std::string suite;
};

bool IsRealDirectory(const stdfs::path& path) {
  std::error_code ec;
  const stdfs::file_status status = stdfs::symlink_status(path, ec);
  return !ec && stdfs::is_directory(status);
}

bool IsRealFile(const stdfs::path& path) {
  std::error_code ec;
  const stdfs::file_status status = stdfs::symlink_status(path, ec);
  return !ec && stdfs::is_regular_file(status);
}

Result<std::vector<std::string>> SortedSubdirectories(const stdfs::path& dir) {
  std::vector<std::string> names;
  std::error_code ec;
  stdfs::directory_iterator it(dir, ec);
  if (ec) {
    return IoError(dir.string() + ": " + ec.message());
  }
  for (; it != stdfs::directory_iterator(); it.increment(ec)) {
    if (ec) {
      return IoError(dir.string() + ": " + ec.message());
    }
    if (IsRealDirectory(it->path())) {
      names.push_back(it->path().filename().string());
    }
  }
  std::sort(names.begin(), names.end());
  return names;
}

Status FindIndexes(const stdfs::path& root, const std::string& relative, const std::string& suite,
                   int depth, std::vector<IndexFile>& out) {
  FERRY_ASSIGN_OR_RETURN(std::vector<std::string> children, SortedSubdirectories(root / relative));
  for (const std::string& child : children) {
    // Installer udebs are not packages an endpoint installs.
    if (child == "debian-installer") {
      continue;
    }
    const std::string child_relative = relative + "/" + child;
    const std::string child_suite = suite.empty() ? child : suite;
    if (child.rfind("binary-", 0) == 0) {
      for (const char* variant : {"Packages", "Packages.xz", "Packages.gz"}) {
        if (IsRealFile(root / child_relative / variant)) {
          if (out.size() >= kMaxIndexFiles) {
            return InvalidError(root.string() + ": more than " + std::to_string(kMaxIndexFiles) +
                                " package indexes");
          }
          out.push_back({child_relative + "/" + variant, child_suite});
          break;
        }
      }
    } else if (depth < kMaxDistsDepth) {
      FERRY_RETURN_IF_ERROR(FindIndexes(root, child_relative, child_suite, depth + 1, out));
    }
  }
  return Ok();
}

Result<AptPackage> PackageFromStanza(const Stanza& stanza, const std::string& origin,
                                     const std::string& suite) {
  const std::string where = origin + ":" + std::to_string(stanza.line());
  const auto required = [&](std::string_view field) -> Result<std::string> {
    const auto value = stanza.Get(field);
    if (!value.has_value() || value->empty()) {
      return InvalidError(where + ": missing " + std::string(field) + " field");
    }
    return std::string(*value);
  };
  AptPackage package;
  package.suite = suite;
  FERRY_ASSIGN_OR_RETURN(package.package, required("Package"));
  if (!IsValidDebianPackageName(package.package)) {
    return InvalidError(where + ": invalid package name \"" + package.package + "\"");
  }
  FERRY_ASSIGN_OR_RETURN(package.version, required("Version"));
  if (auto parsed = ParseDebianVersion(package.version); !parsed.ok()) {
    return std::move(parsed).error().Context(where);
  }
  FERRY_ASSIGN_OR_RETURN(package.architecture, required("Architecture"));
  if (!IsValidDebianArchitecture(package.architecture)) {
    return InvalidError(where + ": invalid architecture \"" + package.architecture + "\"");
  }
  FERRY_ASSIGN_OR_RETURN(package.filename, required("Filename"));
  if (!IsSafeRelativePath(package.filename)) {
    return InvalidError(where + ": Filename \"" + package.filename +
                        "\" is not a safe path inside the repository");
  }
  FERRY_ASSIGN_OR_RETURN(const std::string size, required("Size"));
  if (!ParseSize(size, package.size)) {
    return InvalidError(where + ": Size \"" + size + "\" is not a decimal byte count");
  }
  FERRY_ASSIGN_OR_RETURN(package.sha256, required("SHA256"));
  if (package.sha256.size() != 64 ||
      !std::all_of(package.sha256.begin(), package.sha256.end(), IsHex)) {
    return InvalidError(where + ": SHA256 is not 64 hexadecimal digits");
  }
  std::transform(package.sha256.begin(), package.sha256.end(), package.sha256.begin(), AsciiLower);
  package.description = std::string(FirstLine(stanza.Get("Description").value_or("")));
  return package;
}

}  // namespace

bool IsSafeRelativePath(std::string_view filename) {
  if (filename.empty() || filename.size() > 4096 || filename.front() == '/') {
    return false;
  }
  for (const char c : filename) {
    if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f || c == '\\') {
      return false;
    }
  }
  size_t start = 0;
  while (start <= filename.size()) {
    size_t slash = filename.find('/', start);
    if (slash == std::string_view::npos) {
      slash = filename.size();
    }
    const std::string_view component = filename.substr(start, slash - start);
    if (component.empty() || component == "." || component == "..") {
      return false;
    }
    start = slash + 1;
  }
  return true;
}

bool LooksLikeAptRepository(const std::string& dir) {
  return fs::IsDirectory(fs::JoinPath(dir, "dists"));
}

Result<std::string> ReadMaybeCompressedFile(const std::string& path, size_t max_bytes) {
  FERRY_ASSIGN_OR_RETURN(fs::File file, fs::File::OpenRead(path));
  FERRY_ASSIGN_OR_RETURN(const uint64_t file_size, file.Size());
  if (file_size == 0) {
    return std::string();
  }
  libarchive::ReadPtr reader(archive_read_new());
  if (!reader) {
    return IoError(path + ": libarchive: out of memory");
  }
  FERRY_RETURN_IF_ERROR(libarchive::EnableFilters(reader.get(), path,
                                             {{"gzip", archive_read_support_filter_gzip},
                                              {"xz", archive_read_support_filter_xz},
                                              {"bzip2", archive_read_support_filter_bzip2},
                                              {"zstd", archive_read_support_filter_zstd},
                                              {"lz4", archive_read_support_filter_lz4}}));
  if (archive_read_support_format_raw(reader.get()) != ARCHIVE_OK ||
      archive_read_open_fd(reader.get(), file.fd(), 65536) != ARCHIVE_OK) {
    return InvalidError(path + ": " + libarchive::Message(reader.get()));
  }
  archive_entry* entry = nullptr;
  const int rc = archive_read_next_header(reader.get(), &entry);
  if (rc == ARCHIVE_EOF) {
    return std::string();
  }
  if (rc < ARCHIVE_WARN) {
    return InvalidError(path + ": " + libarchive::Message(reader.get()));
  }
  std::string out;
  std::vector<char> buffer(1 << 16);
  while (true) {
    const la_ssize_t n = archive_read_data(reader.get(), buffer.data(), buffer.size());
    if (n < 0) {
      return InvalidError(path + ": " + libarchive::Message(reader.get()));
    }
    if (n == 0) {
      return out;
    }
    if (out.size() + static_cast<size_t>(n) > max_bytes) {
      return InvalidError(path + ": decompresses to more than " + std::to_string(max_bytes) +
                          " bytes");
    }
    out.append(buffer.data(), static_cast<size_t>(n));
  }
}

Result<std::vector<AptPackage>> ReadAptRepository(const std::string& root) {
  if (!LooksLikeAptRepository(root)) {
    return InvalidError(root + ": not an APT repository (no dists/ directory)");
  }
  std::vector<IndexFile> indexes;
  FERRY_RETURN_IF_ERROR(FindIndexes(stdfs::path(root), "dists", "", 0, indexes));

  std::vector<AptPackage> packages;
  // (package, version, architecture) -> index in `packages`, for duplicates across indexes.
  std::map<std::tuple<std::string, std::string, std::string>, size_t> seen;
  for (const IndexFile& index : indexes) {
    FERRY_ASSIGN_OR_RETURN(
        const std::string text,
        ReadMaybeCompressedFile(fs::JoinPath(root, index.relative), kMaxPackagesIndexBytes));
    FERRY_RETURN_IF_ERROR(ForEachDeb822Stanza(text, index.relative, [&](Stanza&& stanza) -> Status {
      FERRY_ASSIGN_OR_RETURN(AptPackage package,
                             PackageFromStanza(stanza, index.relative, index.suite));
      auto key = std::make_tuple(package.package, package.version, package.architecture);
      const auto [it, inserted] = seen.try_emplace(std::move(key), packages.size());
      if (!inserted) {
        const AptPackage& earlier = packages[it->second];
        if (earlier.sha256 != package.sha256 || earlier.size != package.size) {
          return InvalidError(index.relative + ":" + std::to_string(stanza.line()) + ": " +
                              package.package + " " + package.version + " " + package.architecture +
                              " is listed earlier with a different SHA256 or Size");
        }
        return Ok();
      }
      packages.push_back(std::move(package));
      return Ok();
    }));
  }
  std::sort(packages.begin(), packages.end(), [](const AptPackage& a, const AptPackage& b) {
    if (a.package != b.package) {
      return a.package < b.package;
    }
    if (const int c = CompareDebianVersions(a.version, b.version); c != 0) {
      return c < 0;
    }
    if (a.version != b.version) {
      return a.version < b.version;  // equal by dpkg ("1.0" and "0:1.0"): keep a total order
    }
    return a.architecture < b.architecture;
  });
  return packages;
}

}  // namespace ferry::bundler
