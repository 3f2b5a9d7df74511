// Writes the seed corpus of the bundle-reader fuzzer: real bundles signed with the fixture's keys
// (so the fuzzer starts past the signature checks), corrupted and truncated copies of them, and
// hand-made archives holding what a hostile tar may hold (links, devices, unsafe names, lying
// sizes, duplicates, long-name extensions).
//
//   make_fuzz_corpus OUT_DIR
//
// Needs dpkg-deb on PATH for the .deb payloads.

#include <cstddef>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "bundler/build.hpp"
#include "bundler/tar_reader.hpp"
#include "tests/fuzz/fuzz_fixture.hpp"
#include "tests/support/testing.hpp"

namespace ferry::fuzz {
namespace {

using testing::MakeTar;
using testing::ReadAll;
using testing::Run;
using testing::TarEntry;
using testing::WriteAll;

constexpr const char* kChannel = "debian-12-security";

// An OSV advisory fixed by libfoo1 1.2-3, so the full seed carries CVEs, a CVSS score and a
// release date in its manifest.
constexpr const char* kAdvisory = R"({
  "schema_version": "1.6.0",
  "id": "DSA-9999-1",
  "aliases": ["CVE-2026-0001", "CVE-2026-0002"],
  "summary": "libfoo: buffer overflow in the frobnicator",
  "published": "2026-10-01T12:00:00Z",
  "modified": "2026-10-02T12:00:00Z",
  "severity": [{"type": "CVSS_V3", "score": "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H"}],
  "affected": [{
    "package": {"ecosystem": "Debian:12", "name": "libfoo1"},
    "ranges": [{"type": "ECOSYSTEM", "events": [{"introduced": "0"}, {"fixed": "1.2-3"}]}]
  }]
}
)";

[[noreturn]] void Fail(const std::string& what) {
  std::fprintf(stderr, "make_fuzz_corpus: %s\n", what.c_str());
  std::exit(1);
}

void MakeDir(const std::string& path) {
  if (Run("mkdir -p '" + path + "'").exit_code != 0) {
    Fail("cannot create " + path);
  }
}

// A generic payload: the file itself and its NAME.payload.json description.
void AddGeneric(const std::string& dir, const std::string& file, const std::string& content,
                const std::string& description) {
  WriteAll(dir + "/" + file, content);
  WriteAll(dir + "/" + file + ".payload.json", description);
}

void AddSmallFile(const std::string& dir) {
  AddGeneric(dir, "motd", "Patched by Ferry.\n",
             R"({"id": "motd-2026-11", "kind": "file", "file": "motd", "target_os": "debian-12"})");
}

struct Seed {
  std::string name;
  std::string source;
  std::vector<const crypto::TrustRoot*> chain;
  std::vector<const crypto::SigningKey*> signers;
  int64_t sequence = 1;
  UnixTime created = kSeedCreated;
  int64_t lifetime = kSeedLifetime;
  std::optional<std::string> site;
  std::optional<std::string> advisories;
  std::optional<std::string> base;
};

class Corpus {
 public:
  explicit Corpus(std::string out_dir) : out_dir_(std::move(out_dir)) {}

  // Builds a bundle, stores it in the corpus and returns its path.
  std::string Build(const Seed& seed) {
    bundler::BuildOptions options;
    for (const crypto::TrustRoot* root : seed.chain) {
      options.roots.push_back(*root);
    }
    options.keys = seed.signers;
    options.channel = kChannel;
    options.sequence = seed.sequence;
    options.source_dir = seed.source;
    options.advisories_dir = seed.advisories;
    options.base_path = seed.base;
    options.expires_in = seed.lifetime;
    options.site = seed.site;
    options.now = seed.created;
    options.out_path = Path(seed.name);
    auto built = bundler::BuildBundle(options);
    if (!built.ok()) {
      Fail(seed.name + ": " + built.error().message());
    }
    ++count_;
    return options.out_path;
  }

  void Store(const std::string& name, const std::string& bytes) {
    WriteAll(Path(name), bytes);
    ++count_;
  }

  int count() const { return count_; }

 private:
  std::string Path(const std::string& name) const { return out_dir_ + "/seed-" + name + ".ferry"; }

  std::string out_dir_;
  int count_ = 0;
};

// Changes the byte `skip` bytes after the first `marker` that follows the first `from`: a hex
// digit becomes another hex digit (so a signature stays well-formed but wrong), anything else has
// its low bit flipped.
std::string Corrupt(std::string bytes, const std::string& from, const std::string& marker,
                    size_t skip) {
  const size_t start = bytes.find(from);
  const size_t at = start == std::string::npos ? start : bytes.find(marker, start);
  if (at == std::string::npos || at + marker.size() + skip >= bytes.size()) {
    Fail("marker \"" + marker + "\" after \"" + from + "\" not found");
  }
  char& c = bytes[at + marker.size() + skip];
  const bool hex = (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
  c = hex ? (c == '0' ? '1' : '0') : static_cast<char>(c ^ 0x01);
  return bytes;
}

// The members of a bundle, in order, so variants can be reassembled with MakeTar.
std::vector<TarEntry> MembersOf(const std::string& path) {
  auto reader = bundler::TarReader::Open(path);
  if (!reader.ok()) {
    Fail(reader.error().message());
  }
  std::vector<TarEntry> members;
  while (true) {
    auto member = reader->Next();
    if (!member.ok()) {
      Fail(member.error().message());
    }
    if (!*member) {
      return members;
    }
    auto data = reader->ReadSmall();
    if (!data.ok()) {
      Fail(data.error().message());
    }
    members.push_back({.name = (*member)->name, .data = *data});
  }
}

int Main(const std::string& out_dir) {
  MakeDir(out_dir);
  testing::TempDir scratch;
  const FuzzKeys keys = MakeFuzzKeys();
  const FuzzRoots roots = MakeFuzzRoots(keys);
  Corpus corpus(out_dir);

  // Debian packages, a script and a plain file, with an advisory: the richest manifest.
  const std::string full = scratch / "full";
  MakeDir(full);
  testing::MakeDeb(full, "libfoo1", "1.2-3", "amd64", 300);
  testing::MakeDeb(full, "libfoo1", "1.2-2", "amd64", 300);
  AddGeneric(full, "fix.sh", "#!/bin/sh\nexit 0\n",
             R"({"id": "fix-2026-01", "title": "Hot fix", "kind": "script", "file": "fix.sh",)"
             R"( "version": "1.0-1", "target_os": "debian-12", "severity": "high",)"
             R"( "arguments": ["--quiet", "--now"], "success_exit_codes": [0],)"
             R"( "reboot_exit_codes": [3], "cves": ["CVE-2026-1234"],)"
             R"( "released": "2026-09-01T00:00:00Z", "reboot": true})");
  AddSmallFile(full);
  const std::string advisories = scratch / "advisories";
  MakeDir(advisories);
  WriteAll(advisories + "/DSA-9999-1.json", kAdvisory);
  corpus.Build({.name = "full",
                .source = full,
                .chain = {&roots.v1},
                .signers = {&keys.a, &keys.b},
                .sequence = 7,
                .advisories = advisories});

  const std::string small = scratch / "small";
  MakeDir(small);
  AddSmallFile(small);
  const std::string small_path = corpus.Build(
      {.name = "small", .source = small, .chain = {&roots.v1}, .signers = {&keys.a, &keys.c}});

  // A rotation shipped with the bundle: the reader walks v1 -> v2 and checks v2's bundle keys.
  corpus.Build({.name = "rotated",
                .source = small,
                .chain = {&roots.v1, &roots.v2},
                .signers = {&keys.b, &keys.c},
                .sequence = 2});
  corpus.Build({.name = "site",
                .source = small,
                .chain = {&roots.v1},
                .signers = {&keys.a, &keys.b},
                .site = std::string(kFuzzSite)});
  corpus.Build({.name = "other-site",
                .source = small,
                .chain = {&roots.v1},
                .signers = {&keys.a, &keys.b},
                .site = std::string("elsewhere")});
  // Expired a year before the fuzz target's clock.
  corpus.Build({.name = "expired",
                .source = small,
                .chain = {&roots.v1},
                .signers = {&keys.a, &keys.b},
                .created = kFuzzNow - 400 * 86400,
                .lifetime = 30 * 86400});

  // A delta: the small file is in the base and left out, a second file is carried.
  const std::string delta = scratch / "delta";
  MakeDir(delta);
  AddSmallFile(delta);
  AddGeneric(delta, "issue", "Ferry test system\n",
             R"({"id": "issue-2026-11", "kind": "file", "file": "issue", "target_os": "debian-12",)"
             R"( "severity": "low"})");
  corpus.Build({.name = "delta",
                .source = delta,
                .chain = {&roots.v1},
                .signers = {&keys.a, &keys.b},
                .sequence = 3,
                .base = small_path});

  // Broken variants of the small bundle: truncations, trailing bytes, flipped bits.
  const std::string good = ReadAll(small_path);
  corpus.Store("cut-header", good.substr(0, 512));
  corpus.Store("cut-half", good.substr(0, good.size() / 2));
  corpus.Store("cut-end-marker", good.substr(0, good.size() - 1024));
  corpus.Store("cut-last-byte", good.substr(0, good.size() - 1));
  corpus.Store("trailing", good + std::string(512, 'x'));
  // The first "manifest.json" is the member's tar header; its signatures follow in the data.
  corpus.Store("bad-manifest-signature", Corrupt(good, "manifest.json", "\"sig\":\"", 10));
  corpus.Store("bad-root-signature", Corrupt(good, "root/", "\"sig\":\"", 10));
  corpus.Store("bad-root-expiry", Corrupt(good, "root/", "\"expires\":", 2));
  corpus.Store("bad-payload", Corrupt(good, "payloads/", "Patched by", 0));
  corpus.Store("bad-header-checksum", Corrupt(good, "root/", "ustar", 100));

  // Hand-made archives around the good members: what a hostile tar may hold (links, devices,
  // unsafe names, lying sizes, duplicates) and one valid variant without a root chain.
  const std::vector<TarEntry> members = MembersOf(small_path);
  const auto with = [&](size_t at, const TarEntry& extra) {
    std::vector<TarEntry> variant = members;
    variant.insert(variant.begin() + static_cast<std::ptrdiff_t>(at), extra);
    return MakeTar(variant);
  };
  const size_t end = members.size();
  corpus.Store("no-root-chain", MakeTar({members.begin() + 1, members.end()}));
  corpus.Store("symlink", with(end, {.name = "payloads/x", .type = "symlink", .link_target = "/"}));
  corpus.Store(
      "hardlink",
      with(end, {.name = "payloads/y", .type = "hardlink", .link_target = "manifest.json"}));
  corpus.Store("directory", with(0, {.name = "root/", .type = "dir"}));
  corpus.Store("fifo", with(end, {.name = "payloads/fifo", .type = "fifo"}));
  corpus.Store("chardev", with(end, {.name = "payloads/null", .type = "chardev"}));
  corpus.Store("dotdot", with(end, {.name = "payloads/../../etc/cron.d/x", .data = "x"}));
  corpus.Store("absolute", with(end, {.name = "/etc/motd", .data = "x"}));
  corpus.Store("lying-size", with(end, {.name = "payloads/big", .declared_size = 1 << 30}));
  corpus.Store("duplicate-payload", with(end, members.back()));
  corpus.Store("duplicate-manifest", with(end, members[1]));
  corpus.Store("unknown-member", with(1, {.name = "README", .data = "hello"}));
  corpus.Store("no-end-marker", MakeTar(members, false));
  // A pax extended header and a GNU long name, as GNU tar writes them for long names.
  const std::string long_name = "payloads/" + std::string(120, 'p');
  const std::string tree = scratch / "tree";
  MakeDir(tree + "/payloads");
  WriteAll(tree + "/" + long_name, "long\n");
  for (const char* format : {"pax", "gnu"}) {
    const std::string out = scratch / (std::string(format) + ".tar");
    const std::string command = "tar --format=" + std::string(format) + " -cf '" + out + "' -C '" +
                                tree + "' '" + long_name + "'";
    if (Run(command).exit_code != 0) {
      Fail(std::string("tar --format=") + format + " failed");
    }
    const std::string tar = ReadAll(out);
    // The long-named member goes where a payload would; the end marker of `members` is dropped.
    const std::string head = MakeTar(members, false);
    corpus.Store(std::string("long-name-") + format, head + tar);
  }

  std::printf("wrote %d seed inputs to %s\n", corpus.count(), out_dir.c_str());
  return 0;
}

}  // namespace
}  // namespace ferry::fuzz

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: make_fuzz_corpus OUT_DIR\n");
    return 2;
  }
  try {
    return ferry::fuzz::Main(argv[1]);
  } catch (const std::exception& e) {
    // The test-support helpers throw when dpkg-deb or the file system fails.
    ferry::fuzz::Fail(e.what());
  }
}
