// Applicability at site scale: a catalog the size of Debian 12's security archive, many endpoints
// built from a few images. Prints one "applicability.<figure> <value>" line per figure.
//
// Catalog and inventories come from the APT lists on this machine when there are any: patches are
// the bookworm-security entries (real names and fixed versions), installed versions are the
// bookworm release's, so the patches apply the way they did on real machines. Without lists the
// same shapes are synthesised. Everything is seeded, so runs are comparable.
//
// Usage: ferry-bench-applicability [--lists DIR] [--patches N] [--images N] [--packages N]
//                                  [--endpoints N] [--seed N]

#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <map>
#include <random>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "bundler/apt_repo.hpp"
#include "bundler/debian_version.hpp"
#include "bundler/manifest.hpp"
#include "relay/applicability.hpp"
#include "bundler/dpkg_status.hpp"
#include "bundler/inventory.hpp"

namespace {

using ferry::bundler::Patch;
using ferry::relay::ApplicabilityCache;
using ferry::relay::ApplicabilityIndex;
using ferry::bundler::InstalledPackage;
using ferry::bundler::Inventory;

constexpr const char* kAptHelper = "/usr/lib/apt/apt-helper";
constexpr const char* kTargetOs = "debian-12";
constexpr size_t kMaxListLine = 1u << 20;

struct Options {
  std::string lists = "/var/lib/apt/lists";
  size_t patches = 3000;
  size_t images = 50;
  size_t packages = 2000;
  size_t endpoints = 100000;
  uint32_t seed = 20240601;
};

struct PoolEntry {
  std::string name;
  std::string architecture;
  std::string version;
};

using Clock = std::chrono::steady_clock;

double SecondsSince(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

long PeakRssKib() {
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  return usage.ru_maxrss;  // KiB on Linux
}

void Print(const char* figure, double value) {
  std::printf("applicability.%s %.6g\n", figure, value);
}
void Print(const char* figure, size_t value) {
  std::printf("applicability.%s %zu\n", figure, value);
}
void Print(const char* figure, const std::string& value) {
  std::printf("applicability.%s %s\n", figure, value.c_str());
}

// Calls `emit` for the (Package, Architecture, Version) of every stanza of a Packages text read
// line by line from `in`, so a 100 MB list never sits in memory.
template <typename Emit>
void ScanPackages(std::FILE* in, Emit emit) {
  std::vector<char> line(kMaxListLine);
  PoolEntry entry;
  auto flush = [&] {
    if (!entry.name.empty() && !entry.version.empty() && !entry.architecture.empty()) {
      emit(entry);
    }
    entry = PoolEntry{};
  };
  while (std::fgets(line.data(), static_cast<int>(line.size()), in) != nullptr) {
    std::string_view text(line.data());
    while (!text.empty() && (text.back() == '\n' || text.back() == '\r')) {
      text.remove_suffix(1);
    }
    if (text.empty()) {
      flush();
    } else if (text.starts_with("Package: ")) {
      entry.name.assign(text.substr(9));
    } else if (text.starts_with("Version: ")) {
      entry.version.assign(text.substr(9));
    } else if (text.starts_with("Architecture: ")) {
      entry.architecture.assign(text.substr(14));
    }
  }
  flush();
}

// Reads one (possibly compressed) Packages list. apt-helper streams any compression APT uses;
// without it the whole file is decompressed in memory, which then shows in the peak RSS.
template <typename Emit>
bool ReadPackagesList(const std::string& path, Emit emit) {
  if (path.find('\'') == std::string::npos && access(kAptHelper, X_OK) == 0) {
    const std::string command = std::string(kAptHelper) + " cat-file '" + path + "'";
    std::FILE* pipe = popen(command.c_str(), "r");
    if (pipe != nullptr) {
      ScanPackages(pipe, emit);
      return pclose(pipe) == 0;
    }
  }
  auto text = ferry::bundler::ReadMaybeCompressedFile(path, ferry::bundler::kMaxPackagesIndexBytes);
  if (!text.ok()) {
    return false;
  }
  std::FILE* in = fmemopen(text->data(), text->size(), "r");
  if (in == nullptr) {
    return false;
  }
  ScanPackages(in, emit);
  std::fclose(in);
  return true;
}

bool Usable(const PoolEntry& e) {
  return ferry::bundler::CheckInstalledPackage({e.name, e.architecture, e.version}).ok() &&
         ferry::bundler::IsSafeIdentifier(e.name + "_" + e.version + "_" + e.architecture);
}

// release: the lowest version of each (name, arch) in the non-security lists, as an image made
// at release time has it. security: every entry of the security lists.
void LoadAptLists(const std::string& dir, std::vector<PoolEntry>& release,
                  std::vector<PoolEntry>& security) {
  std::map<std::pair<std::string, std::string>, std::string> lowest;
  std::error_code ec;
  std::vector<std::string> files;
  for (const auto& item : std::filesystem::directory_iterator(dir, ec)) {
    const std::string name = item.path().filename().string();
    if (item.is_regular_file() && name.find("_binary-") != std::string::npos &&
        name.find("_Packages") != std::string::npos && name.find(".diff") == std::string::npos) {
      files.push_back(item.path().string());
    }
  }
  std::sort(files.begin(), files.end());
  for (const std::string& file : files) {
    const bool is_security = file.find("security") != std::string::npos;
    const bool ok = ReadPackagesList(file, [&](const PoolEntry& e) {
      if (!Usable(e)) {
        return;
      }
      if (is_security) {
        security.push_back(e);
        return;
      }
      auto [it, inserted] = lowest.emplace(std::make_pair(e.name, e.architecture), e.version);
      if (!inserted && ferry::bundler::CompareDebianVersions(e.version, it->second) < 0) {
        it->second = e.version;
      }
    });
    if (!ok) {
      std::fprintf(stderr, "warning: could not read %s\n", file.c_str());
    }
  }
  for (auto& [key, version] : lowest) {
    release.push_back({key.first, key.second, version});
  }
}

// Stand-ins shaped like Debian's when the machine has no APT lists.
void Synthesise(size_t count, std::mt19937& random, std::vector<PoolEntry>& release,
                std::vector<PoolEntry>& security) {
  for (size_t i = 0; i < count; ++i) {
    const std::string name = "libsynth" + std::to_string(i);
    const std::string architecture = i % 5 == 0 ? "all" : "amd64";
    const std::string upstream = std::to_string(1 + random() % 9) + "." +
                                 std::to_string(random() % 30) + "." +
                                 std::to_string(random() % 12);
    const std::string version =
        (i % 17 == 0 ? "1:" : "") + upstream + "-" + std::to_string(1 + random() % 4);
    release.push_back({name, architecture, version});
    if (i % 4 == 0) {
      security.push_back({name, architecture, version + "+deb12u" + std::to_string(1 + i % 3)});
    }
  }
  release.push_back({"dpkg", "amd64", "1.21.22"});
}

std::vector<Patch> MakeCatalog(const Options& options, std::vector<PoolEntry> security,
                               const std::vector<PoolEntry>& release, std::mt19937& random) {
  static constexpr const char* kSeverities[] = {"critical", "high",   "high", "medium",
                                                "medium",   "medium", "low",  "unknown"};
  std::sort(security.begin(), security.end(), [](const PoolEntry& a, const PoolEntry& b) {
    return std::tie(a.name, a.architecture, a.version) <
           std::tie(b.name, b.architecture, b.version);
  });
  std::shuffle(security.begin(), security.end(), random);
  if (security.size() > options.patches) {
    security.resize(options.patches);
  }
  // Top up from release packages with a made-up security revision when the lists are short.
  for (size_t i = 0; security.size() < options.patches && i < release.size(); ++i) {
    const PoolEntry& e = release[(i * 7919) % release.size()];
    security.push_back({e.name, e.architecture, e.version + "+deb12u9"});
  }
  std::vector<Patch> catalog;
  std::set<std::string> ids;
  for (const PoolEntry& e : security) {
    Patch patch;
    patch.id = e.name + "_" + e.version + "_" + e.architecture;
    if (!ids.insert(patch.id).second) {
      continue;
    }
    patch.kind = "deb";
    patch.package = e.name;
    patch.version = e.version;
    patch.architecture = e.architecture;
    patch.target_os = kTargetOs;
    patch.severity = kSeverities[random() % std::size(kSeverities)];
    catalog.push_back(std::move(patch));
  }
  return catalog;
}

// Images share a core of packages (as installs of one distribution do) and differ in the rest
// and in how far each is patched: a patchable package is at its release version (the patch
// applies) or already at the patched one.
std::vector<Inventory> MakeImages(const Options& options, const std::vector<PoolEntry>& release,
                                  const std::vector<Patch>& catalog, std::mt19937& random) {
  std::map<std::pair<std::string, std::string>, std::string> fixed;
  for (const Patch& patch : catalog) {
    auto& version = fixed[{patch.package, patch.architecture}];
    if (version.empty() || ferry::bundler::CompareDebianVersions(patch.version, version) > 0) {
      version = patch.version;
    }
  }
  std::vector<size_t> patchable;
  std::vector<size_t> other;
  size_t dpkg = release.size();
  for (size_t i = 0; i < release.size(); ++i) {
    if (release[i].name == "dpkg") {
      dpkg = i;
    } else if (fixed.count({release[i].name, release[i].architecture}) != 0) {
      patchable.push_back(i);
    } else {
      other.push_back(i);
    }
  }
  std::shuffle(patchable.begin(), patchable.end(), random);
  std::shuffle(other.begin(), other.end(), random);
  // About a fifth of an image is patchable, as on a real server where the libraries that get
  // security updates are a good part of what is installed.
  const size_t want_patchable = std::min(patchable.size(), options.packages / 5);
  const size_t core_patchable = want_patchable * 3 / 4;
  const size_t core_other = std::min(other.size(), (options.packages - want_patchable) * 3 / 4);

  std::vector<Inventory> images;
  std::set<std::string> hashes;
  for (size_t image = 0; image < options.images; ++image) {
    std::vector<size_t> chosen;
    chosen.insert(chosen.end(), patchable.begin(), patchable.begin() + core_patchable);
    chosen.insert(chosen.end(), other.begin(), other.begin() + core_other);
    // Draws `count` distinct indexes from from[first..] (a partial Fisher-Yates shuffle).
    auto pick_from = [&](std::vector<size_t> from, size_t first, size_t count) {
      for (size_t i = first; i < from.size() && count > 0; ++i, --count) {
        std::swap(from[i], from[i + random() % (from.size() - i)]);
        chosen.push_back(from[i]);
      }
    };
    pick_from(patchable, core_patchable, want_patchable - core_patchable);
    if (dpkg < release.size()) {
      chosen.push_back(dpkg);
    }
    pick_from(other, core_other,
              options.packages > chosen.size() ? options.packages - chosen.size() : 0);

    // Each image is patched to its own degree, between 20% and 80% of its patchable packages.
    const uint32_t patched_percent =
        20 + static_cast<uint32_t>(image * 60 / std::max<size_t>(options.images, 1));
    std::vector<InstalledPackage> packages;
    for (const size_t index : chosen) {
      const PoolEntry& e = release[index];
      std::string version = e.version;
      const auto fix = fixed.find({e.name, e.architecture});
      if (fix != fixed.end() && random() % 100 < patched_percent) {
        version = fix->second;
      }
      packages.push_back({e.name, e.architecture, version});
    }
    auto inventory = ferry::bundler::MakeInventory(std::move(packages));
    if (!inventory.ok()) {
      std::fprintf(stderr, "error: %s\n", inventory.error().message().c_str());
      std::exit(1);
    }
    if (!hashes.insert(ferry::bundler::InventoryHash(*inventory)).second) {
      std::fprintf(stderr, "error: two images came out identical; use another --seed\n");
      std::exit(1);
    }
    images.push_back(std::move(inventory).value());
  }
  return images;
}

bool ParseSize(const char* text, size_t& out) {
  char* end = nullptr;
  const unsigned long long value = std::strtoull(text, &end, 10);
  if (end == text || *end != '\0' || value == 0 || value > 100000000ull) {
    return false;
  }
  out = static_cast<size_t>(value);
  return true;
}

bool ParseOptions(int argc, char** argv, Options& options) {
  for (int i = 1; i < argc; ++i) {
    const std::string_view flag = argv[i];
    if (i + 1 >= argc) {
      return false;
    }
    const char* value = argv[++i];
    size_t number = 0;
    if (flag == "--lists") {
      options.lists = value;
    } else if (!ParseSize(value, number)) {
      return false;
    } else if (flag == "--patches") {
      options.patches = number;
    } else if (flag == "--images") {
      options.images = number;
    } else if (flag == "--packages") {
      options.packages = number;
    } else if (flag == "--endpoints") {
      options.endpoints = number;
    } else if (flag == "--seed") {
      options.seed = static_cast<uint32_t>(number);
    } else {
      return false;
    }
  }
  return options.images <= 65535;
}

}  // namespace

int main(int argc, char** argv) {
  Options options;
  if (!ParseOptions(argc, argv, options)) {
    std::fprintf(stderr,
                 "usage: ferry-bench-applicability [--lists DIR] [--patches N] [--images N] "
                 "[--packages N] [--endpoints N] [--seed N]\n");
    return 2;
  }
  std::mt19937 random(options.seed);

  std::vector<PoolEntry> release;
  std::vector<PoolEntry> security;
  LoadAptLists(options.lists, release, security);
  std::string source = "apt-lists";
  if (release.size() < options.packages * 2 || security.empty()) {
    source = "synthetic";
    release.clear();
    security.clear();
    Synthesise(std::max<size_t>(options.packages * 4, options.patches * 2), random, release,
               security);
  }
  const std::vector<Patch> catalog = MakeCatalog(options, security, release, random);
  const std::vector<Inventory> images = MakeImages(options, release, catalog, random);
  release = {};
  security = {};
  std::vector<uint16_t> endpoint_image(options.endpoints);
  for (uint16_t& image : endpoint_image) {
    image = static_cast<uint16_t>(random() % images.size());
  }
  const long setup_rss = PeakRssKib();

  auto start = Clock::now();
  const ApplicabilityIndex index(catalog, 1);
  const double index_seconds = SecondsSince(start);

  start = Clock::now();
  std::vector<std::string> hashes;
  for (const Inventory& image : images) {
    hashes.push_back(ferry::bundler::InventoryHash(image));
  }
  const double hash_seconds = SecondsSince(start);

  ApplicabilityCache cache;
  auto pass = [&](size_t& applicable_total) {
    applicable_total = 0;
    const auto pass_start = Clock::now();
    for (const uint16_t image : endpoint_image) {
      const auto result = cache.Get(index, hashes[image], &images[image], kTargetOs);
      applicable_total += result->size();
    }
    return SecondsSince(pass_start);
  };
  size_t first_total = 0;
  size_t repeat_total = 0;
  const double first_seconds = pass(first_total);
  const size_t first_evaluations = cache.evaluations();
  const double repeat_seconds = pass(repeat_total);

  // Uncached evaluation speed, over enough rounds to be measurable.
  size_t evaluations = 0;
  size_t distinct_total = 0;
  start = Clock::now();
  do {
    for (const Inventory& image : images) {
      const size_t found = index.Evaluate(image, kTargetOs).size();
      if (evaluations < images.size()) {
        distinct_total += found;
      }
      ++evaluations;
    }
  } while (SecondsSince(start) < 1.0);
  const double evaluate_seconds = SecondsSince(start);

  Print("source", source);
  Print("catalog_patches", index.size());
  Print("images", images.size());
  Print("packages_per_image", images.front().packages.size());
  Print("endpoints", endpoint_image.size());
  Print("index_build_seconds", index_seconds);
  Print("inventory_hash_seconds", hash_seconds);
  Print("first_pass_seconds", first_seconds);
  Print("first_pass_evaluations", first_evaluations);
  Print("repeat_pass_seconds", repeat_seconds);
  Print("repeat_pass_evaluations", cache.evaluations() - first_evaluations);
  Print("cache_hits", cache.hits());
  Print("endpoints_per_second_first_pass", static_cast<double>(options.endpoints) / first_seconds);
  Print("endpoints_per_second_repeat_pass",
        static_cast<double>(options.endpoints) / repeat_seconds);
  Print("evaluations_per_second", static_cast<double>(evaluations) / evaluate_seconds);
  Print("applicable_per_image_total", distinct_total);
  Print("applicable_endpoint_total", first_total);
  Print("setup_peak_rss_kib", static_cast<size_t>(setup_rss));
  Print("peak_rss_kib", static_cast<size_t>(PeakRssKib()));
  if (first_total != repeat_total || first_evaluations != images.size()) {
    std::fprintf(stderr, "error: the repeat pass disagrees with the first, or the cache failed\n");
    return 1;
  }
  return 0;
}
