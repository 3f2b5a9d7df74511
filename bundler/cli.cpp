#include "bundler/cli.hpp"

#include <termios.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <map>

#include "bundler/build.hpp"
#include "bundler/bundle_reader.hpp"
#include "common/cli.hpp"
#include "common/file.hpp"
#include "common/progress.hpp"
#include "crypto/keyfile.hpp"
#include "crypto/trust_root.hpp"

namespace ferry::bundler {
namespace {

using cli::Args;
using cli::Arity;

constexpr const char* kUsage = R"(usage: ferry-bundle COMMAND [OPTIONS]

  keygen --out PREFIX [--passphrase-file F | --unencrypted]
  root init --root-key K.key... --threshold N --bundle-key B.pub... --bundle-threshold M
            --expires DURATION --out root.json [--passphrase-file F]
  root rotate --root CURRENT.json --sign-key K.key... [--root-key K.pub...] [--threshold N]
              [--bundle-key B.pub...] [--bundle-threshold M] --expires DURATION --out NEXT.json
              [--passphrase-file F]
  root show ROOT.json [--json]
  build --root root.json... --key B.key... --channel NAME --sequence N --source DIR
        [--advisories DIR] [--base OLD.ferry] [--expires DURATION] [--site ID]
        [--target-os OS] [--passphrase-file F] --out NEW.ferry
  verify --root root.json FILE.ferry [--site ID] [--json]
  inspect FILE.ferry [--json]

Exit codes: 0 success, 1 verification failed, 2 usage, 3 I/O or environment.
)";

// Reads one line from the terminal without echo.
Result<crypto::SecureBuffer> PromptHidden(const std::string& prompt) {
  std::fprintf(stderr, "%s", prompt.c_str());
  termios old_mode {};
  ::tcgetattr(STDIN_FILENO, &old_mode);
  termios quiet = old_mode;
  quiet.c_lflag &= ~static_cast<tcflag_t>(ECHO);
  ::tcsetattr(STDIN_FILENO, TCSANOW, &quiet);
  crypto::SecureBuffer line(crypto::kMaxPassphraseBytes + 1);
  size_t length = 0;
  int c = 0;
  while ((c = std::getchar()) != EOF && c != '\n') {
    if (length < line.size()) line.data()[length] = static_cast<uint8_t>(c);
    ++length;
  }
  ::tcsetattr(STDIN_FILENO, TCSANOW, &old_mode);
  std::fprintf(stderr, "\n");
  if (length == 0) return UsageError("empty passphrase");
  if (length > crypto::kMaxPassphraseBytes) {
    return UsageError("passphrase longer than " + std::to_string(crypto::kMaxPassphraseBytes) +
                      " bytes");
  }
  line.Truncate(length);
  return line;
}

// A passphrase from --passphrase-file, else from the terminal; never from an argument. With
// `confirm` (a new key) the terminal asks twice, since a typo would make the key unusable.
crypto::PassphraseProvider MakePassphraseProvider(const std::optional<std::string>& file,
                                                  bool confirm = false) {
  return [file, confirm](const std::string& key_path) -> Result<crypto::SecureBuffer> {
    if (file) return crypto::ReadPassphraseFile(*file);
    if (::isatty(STDIN_FILENO) != 1) {
      return UsageError(key_path + " is encrypted: give --passphrase-file F");
    }
    FERRY_ASSIGN_OR_RETURN(crypto::SecureBuffer first, PromptHidden("Passphrase for " + key_path + ": "));
    if (!confirm) return first;
    FERRY_ASSIGN_OR_RETURN(const crypto::SecureBuffer again, PromptHidden("Repeat it: "));
    if (!crypto::ConstantTimeEqual(first.span(), again.span())) {
      return UsageError("the two passphrases differ");
    }
    return first;
  };
}

// Commands that take no positional arguments refuse stray words instead of ignoring them.
Status NoPositional(const Args& args) {
  if (!args.positional().empty()) {
    return UsageError("unexpected argument \"" + args.positional().front() + "\"");
  }
  return Ok();
}

Result<std::vector<crypto::SigningKey>> LoadSigningKeys(const std::vector<std::string>& paths,
                                                        const crypto::PassphraseProvider& provider) {
  std::vector<crypto::SigningKey> keys;
  for (const std::string& path : paths) {
    FERRY_ASSIGN_OR_RETURN(crypto::SigningKey key, crypto::ReadSecretKeyFile(path, provider));
    keys.push_back(std::move(key));
  }
  return keys;
}

std::vector<const crypto::SigningKey*> Pointers(const std::vector<crypto::SigningKey>& keys) {
  std::vector<const crypto::SigningKey*> out;
  for (const auto& key : keys) out.push_back(&key);
  return out;
}

Result<crypto::KeyRole> RoleFromKeys(const std::vector<crypto::PublicKey>& keys, int64_t threshold,
                                     std::map<crypto::KeyId, crypto::PublicKey>& all) {
  crypto::KeyRole role;
  for (const auto& key : keys) {
    role.keyids.push_back(key.id());
    all.emplace(key.id(), key);
  }
  role.threshold = threshold;
  return role;
}

Result<std::vector<crypto::PublicKey>> LoadPublicKeys(const std::vector<std::string>& paths) {
  std::vector<crypto::PublicKey> keys;
  for (const std::string& path : paths) {
    FERRY_ASSIGN_OR_RETURN(crypto::PublicKey key, crypto::ReadAnyPublicKey(path));
    keys.push_back(std::move(key));
  }
  return keys;
}

UnixTime BuildTime() {
  // Reproducible builds: Debian's SOURCE_DATE_EPOCH fixes the creation time when set.
  if (const char* epoch = std::getenv("SOURCE_DATE_EPOCH")) {
    char* end = nullptr;
    const long long value = std::strtoll(epoch, &end, 10);
    if (end != epoch && *end == '\0' && value > 0) return value;
  }
  return Now();
}

Status Keygen(std::span<char* const> argv) {
  FERRY_ASSIGN_OR_RETURN(Args args, Args::Parse(argv, {{"out", Arity::kOne},
                                                       {"passphrase-file", Arity::kOne},
                                                       {"unencrypted", Arity::kFlag}}));
  FERRY_RETURN_IF_ERROR(NoPositional(args));
  FERRY_ASSIGN_OR_RETURN(const std::string prefix, args.Require("out"));
  if (args.Has("unencrypted") && args.Has("passphrase-file")) {
    return UsageError("--unencrypted and --passphrase-file exclude each other");
  }
  // Checked up front so a refusal never leaves half a key pair behind.
  for (const std::string& path : {prefix + ".key", prefix + ".pub"}) {
    if (fs::Exists(path)) return IoError(path + ": already exists; refusing to overwrite it");
  }
  std::optional<crypto::SecureBuffer> passphrase;
  if (!args.Has("unencrypted")) {
    const auto provider = MakePassphraseProvider(args.Get("passphrase-file"), /*confirm=*/true);
    FERRY_ASSIGN_OR_RETURN(passphrase, provider(prefix + ".key"));
  }
  FERRY_ASSIGN_OR_RETURN(crypto::SigningKey key, crypto::SigningKey::Generate());
  FERRY_RETURN_IF_ERROR(
      crypto::WriteSecretKeyFile(prefix + ".key", key, passphrase ? &*passphrase : nullptr));
  FERRY_RETURN_IF_ERROR(crypto::WritePublicKeyFile(prefix + ".pub", key.public_key()));
  std::printf("key %s\n  secret: %s.key (%s)\n  public: %s.pub\n", key.id().c_str(), prefix.c_str(),
              passphrase ? "encrypted" : "UNENCRYPTED", prefix.c_str());
  return Ok();
}

// A root the options describe but the format forbids (a threshold above the key count, a key
// listed twice) is the operator's command-line mistake: a usage error.
Status CheckRootOptions(const crypto::TrustRoot& root, const std::string& out) {
  const Status valid = crypto::ValidateTrustRoot(root, out);
  if (!valid.ok()) return UsageError(valid.error().message());
  return Ok();
}

Status WriteRoot(const crypto::TrustRoot& root, const std::vector<crypto::SigningKey>& keys,
                 const std::string& out) {
  FERRY_ASSIGN_OR_RETURN(const std::string text, crypto::SignTrustRoot(root, Pointers(keys)));
  // Re-read what was signed so a root that would be refused later is refused now.
  if (auto reread = crypto::ParseTrustRoot(text); !reread.ok()) {
    return UsageError("the new root would not verify: " + reread.error().message());
  }
  FERRY_RETURN_IF_ERROR(fs::WriteFileAtomic(out, text, 0644, /*overwrite=*/false));
  std::printf("root version %lld written to %s (expires %s)\n", static_cast<long long>(root.version),
              out.c_str(), FormatTime(root.expires).c_str());
  return Ok();
}

Status RootInit(std::span<char* const> argv) {
  FERRY_ASSIGN_OR_RETURN(
      Args args, Args::Parse(argv, {{"root-key", Arity::kMany}, {"threshold", Arity::kOne},
                                    {"bundle-key", Arity::kMany}, {"bundle-threshold", Arity::kOne},
                                    {"expires", Arity::kOne}, {"out", Arity::kOne},
                                    {"passphrase-file", Arity::kOne}}));
  FERRY_RETURN_IF_ERROR(NoPositional(args));
  FERRY_ASSIGN_OR_RETURN(const std::string out, args.Require("out"));
  FERRY_ASSIGN_OR_RETURN(const std::string expires, args.Require("expires"));
  FERRY_ASSIGN_OR_RETURN(const int64_t lifetime, ParseDuration(expires));
  FERRY_ASSIGN_OR_RETURN(const auto threshold, args.GetInt("threshold", 1, 64));
  FERRY_ASSIGN_OR_RETURN(const auto bundle_threshold, args.GetInt("bundle-threshold", 1, 64));
  if (!threshold || !bundle_threshold) {
    return UsageError("--threshold and --bundle-threshold are required");
  }
  if (args.GetAll("root-key").empty() || args.GetAll("bundle-key").empty()) {
    return UsageError("--root-key and --bundle-key are required");
  }
  FERRY_ASSIGN_OR_RETURN(
      const std::vector<crypto::SigningKey> root_keys,
      LoadSigningKeys(args.GetAll("root-key"), MakePassphraseProvider(args.Get("passphrase-file"))));
  FERRY_ASSIGN_OR_RETURN(const std::vector<crypto::PublicKey> bundle_keys,
                         LoadPublicKeys(args.GetAll("bundle-key")));
  crypto::TrustRoot root;
  root.version = 1;
  root.expires = Now() + lifetime;
  std::vector<crypto::PublicKey> root_public;
  for (const auto& key : root_keys) root_public.push_back(key.public_key());
  FERRY_ASSIGN_OR_RETURN(root.root_role, RoleFromKeys(root_public, *threshold, root.keys));
  FERRY_ASSIGN_OR_RETURN(root.bundle_role, RoleFromKeys(bundle_keys, *bundle_threshold, root.keys));
  FERRY_RETURN_IF_ERROR(CheckRootOptions(root, out));
  return WriteRoot(root, root_keys, out);
}

Status RootRotate(std::span<char* const> argv) {
  FERRY_ASSIGN_OR_RETURN(
      Args args, Args::Parse(argv, {{"root", Arity::kOne}, {"sign-key", Arity::kMany},
                                    {"root-key", Arity::kMany}, {"threshold", Arity::kOne},
                                    {"bundle-key", Arity::kMany}, {"bundle-threshold", Arity::kOne},
                                    {"expires", Arity::kOne}, {"out", Arity::kOne},
                                    {"passphrase-file", Arity::kOne}}));
  FERRY_RETURN_IF_ERROR(NoPositional(args));
  FERRY_ASSIGN_OR_RETURN(const std::string current_path, args.Require("root"));
  FERRY_ASSIGN_OR_RETURN(const std::string out, args.Require("out"));
  FERRY_ASSIGN_OR_RETURN(const std::string expires, args.Require("expires"));
  FERRY_ASSIGN_OR_RETURN(const int64_t lifetime, ParseDuration(expires));
  FERRY_ASSIGN_OR_RETURN(const auto threshold, args.GetInt("threshold", 1, 64));
  FERRY_ASSIGN_OR_RETURN(const auto bundle_threshold, args.GetInt("bundle-threshold", 1, 64));
  if (args.GetAll("sign-key").empty()) return UsageError("--sign-key is required");
  FERRY_ASSIGN_OR_RETURN(const crypto::TrustRoot current, crypto::LoadTrustRoot(current_path));

  crypto::TrustRoot next;
  next.version = current.version + 1;
  next.expires = Now() + lifetime;
  // Roles not named on the command line carry over unchanged.
  std::vector<crypto::PublicKey> root_keys;
  std::vector<crypto::PublicKey> bundle_keys;
  if (args.Has("root-key")) {
    FERRY_ASSIGN_OR_RETURN(root_keys, LoadPublicKeys(args.GetAll("root-key")));
  } else {
    for (const auto& id : current.root_role.keyids) root_keys.push_back(current.keys.at(id));
  }
  if (args.Has("bundle-key")) {
    FERRY_ASSIGN_OR_RETURN(bundle_keys, LoadPublicKeys(args.GetAll("bundle-key")));
  } else {
    for (const auto& id : current.bundle_role.keyids) bundle_keys.push_back(current.keys.at(id));
  }
  FERRY_ASSIGN_OR_RETURN(next.root_role,
                         RoleFromKeys(root_keys, threshold.value_or(current.root_role.threshold),
                                      next.keys));
  FERRY_ASSIGN_OR_RETURN(
      next.bundle_role,
      RoleFromKeys(bundle_keys, bundle_threshold.value_or(current.bundle_role.threshold), next.keys));
  FERRY_RETURN_IF_ERROR(CheckRootOptions(next, out));
  FERRY_ASSIGN_OR_RETURN(
      const std::vector<crypto::SigningKey> signers,
      LoadSigningKeys(args.GetAll("sign-key"), MakePassphraseProvider(args.Get("passphrase-file"))));
  FERRY_ASSIGN_OR_RETURN(const std::string text, crypto::SignTrustRoot(next, Pointers(signers)));
  // The new root must be acceptable to a relay that trusts the current one: check before writing.
  auto accepted = crypto::VerifyRootUpdate(current, text);
  if (!accepted.ok()) {
    return UsageError("the signing keys do not make an acceptable rotation: " +
                      accepted.error().message());
  }
  FERRY_RETURN_IF_ERROR(fs::WriteFileAtomic(out, text, 0644, /*overwrite=*/false));
  std::printf("root version %lld written to %s (expires %s)\n", static_cast<long long>(next.version),
              out.c_str(), FormatTime(next.expires).c_str());
  return Ok();
}

json::Value RoleJson(const crypto::KeyRole& role) {
  json::Array ids(role.keyids.begin(), role.keyids.end());
  return json::Object{{"keyids", std::move(ids)}, {"threshold", role.threshold}};
}

Status RootShow(std::span<char* const> argv) {
  FERRY_ASSIGN_OR_RETURN(Args args, Args::Parse(argv, {{"json", Arity::kFlag}}));
  if (args.positional().size() != 1) return UsageError("root show takes one ROOT.json");
  FERRY_ASSIGN_OR_RETURN(const crypto::TrustRoot root, crypto::LoadTrustRoot(args.positional()[0]));
  if (args.Has("json")) {
    std::cout << json::Pretty(json::Object{{"version", root.version},
                                           {"expires", FormatTime(root.expires)},
                                           {"root", RoleJson(root.root_role)},
                                           {"bundle", RoleJson(root.bundle_role)}});
    return Ok();
  }
  std::printf("root version %lld, expires %s\n", static_cast<long long>(root.version),
              FormatTime(root.expires).c_str());
  const auto print_role = [](const char* name, const crypto::KeyRole& role) {
    std::printf("  %s keys (threshold %lld):\n", name, static_cast<long long>(role.threshold));
    for (const auto& id : role.keyids) std::printf("    %s\n", id.c_str());
  };
  print_role("root", root.root_role);
  print_role("bundle", root.bundle_role);
  return Ok();
}

Status Build(std::span<char* const> argv) {
  FERRY_ASSIGN_OR_RETURN(
      Args args, Args::Parse(argv, {{"root", Arity::kMany}, {"key", Arity::kMany},
                                    {"channel", Arity::kOne}, {"sequence", Arity::kOne},
                                    {"source", Arity::kOne}, {"advisories", Arity::kOne},
                                    {"base", Arity::kOne}, {"expires", Arity::kOne},
                                    {"site", Arity::kOne}, {"target-os", Arity::kOne},
                                    {"passphrase-file", Arity::kOne}, {"out", Arity::kOne}}));
  FERRY_RETURN_IF_ERROR(NoPositional(args));
  BuildOptions options;
  FERRY_ASSIGN_OR_RETURN(options.channel, args.Require("channel"));
  if (!IsSafeIdentifier(options.channel)) {
    return UsageError("--channel \"" + options.channel + "\" is not a valid identifier");
  }
  FERRY_ASSIGN_OR_RETURN(const auto sequence, args.GetInt("sequence", 1, int64_t{1} << 52));
  if (!sequence) return UsageError("missing required option --sequence");
  options.sequence = *sequence;
  FERRY_ASSIGN_OR_RETURN(options.source_dir, args.Require("source"));
  FERRY_ASSIGN_OR_RETURN(options.out_path, args.Require("out"));
  options.advisories_dir = args.Get("advisories");
  options.base_path = args.Get("base");
  options.site = args.Get("site");
  if (options.site && !IsSafeIdentifier(*options.site)) {
    return UsageError("--site \"" + *options.site + "\" is not a valid identifier");
  }
  if (auto target = args.Get("target-os")) options.target_os = *target;
  if (auto expires = args.Get("expires")) {
    FERRY_ASSIGN_OR_RETURN(options.expires_in, ParseDuration(*expires));
  }
  if (args.GetAll("root").empty()) return UsageError("missing required option --root");
  if (args.GetAll("key").empty()) return UsageError("missing required option --key");
  for (const std::string& path : args.GetAll("root")) {
    FERRY_ASSIGN_OR_RETURN(crypto::TrustRoot root, crypto::LoadTrustRoot(path));
    options.roots.push_back(std::move(root));
  }
  FERRY_ASSIGN_OR_RETURN(
      const std::vector<crypto::SigningKey> keys,
      LoadSigningKeys(args.GetAll("key"), MakePassphraseProvider(args.Get("passphrase-file"))));
  options.keys = Pointers(keys);
  options.now = BuildTime();
  ProgressBar hashing("hashing");
  ProgressBar writing("writing");
  options.progress = [&](const char* phase, uint64_t done, uint64_t total) {
    if (std::string_view(phase) == "hashing") {
      hashing.Update(done, total);
    } else {
      hashing.Finish();
      writing.Update(done, total);
    }
  };
  FERRY_ASSIGN_OR_RETURN(const BuildSummary summary, BuildBundle(options));
  writing.Finish();
  std::printf("%s: channel %s sequence %lld, %zu patches, %zu payloads (%llu bytes)%s\n",
              options.out_path.c_str(), summary.manifest.channel.c_str(),
              static_cast<long long>(summary.manifest.sequence), summary.manifest.patches.size(),
              summary.carried_payloads, static_cast<unsigned long long>(summary.carried_bytes),
              summary.manifest.is_delta()
                  ? (", delta on sequence " + std::to_string(*summary.manifest.base_sequence) +
                     " leaving out " + std::to_string(summary.manifest.omitted.size()))
                        .c_str()
                  : "");
  return Ok();
}

json::Value ManifestSummaryJson(const Manifest& manifest) {
  json::Array patches;
  for (const Patch& patch : manifest.patches) patches.push_back(PatchSummaryJson(patch));
  json::Object object{{"channel", manifest.channel},
                      {"sequence", manifest.sequence},
                      {"created", FormatTime(manifest.created)},
                      {"expires", FormatTime(manifest.expires)},
                      {"root_version", manifest.root_version},
                      {"format", std::to_string(manifest.format_major) + "." +
                                     std::to_string(manifest.format_minor)},
                      {"patches", std::move(patches)},
                      {"omitted_payloads", static_cast<int64_t>(manifest.omitted.size())}};
  if (manifest.base_sequence) object["base_sequence"] = *manifest.base_sequence;
  if (manifest.site) object["site"] = *manifest.site;
  return object;
}

void PrintManifest(const Manifest& manifest) {
  std::printf("channel %s, sequence %lld, format %lld.%lld, root version %lld\n",
              manifest.channel.c_str(), static_cast<long long>(manifest.sequence),
              static_cast<long long>(manifest.format_major),
              static_cast<long long>(manifest.format_minor),
              static_cast<long long>(manifest.root_version));
  std::printf("created %s, expires %s%s\n", FormatTime(manifest.created).c_str(),
              FormatTime(manifest.expires).c_str(),
              manifest.site ? (", bound to site " + *manifest.site).c_str() : "");
  if (manifest.base_sequence) {
    std::printf("delta bundle: needs base sequence %lld of channel %s for %zu payload(s)\n",
                static_cast<long long>(*manifest.base_sequence), manifest.channel.c_str(),
                manifest.omitted.size());
  }
  std::printf("%zu patch(es):\n", manifest.patches.size());
  for (const Patch& patch : manifest.patches) {
    std::string cves;
    for (const auto& cve : patch.cves) cves += (cves.empty() ? "" : ",") + cve;
    std::printf("  %-40s %-8s %-8s %10llu  %s%s\n", patch.id.c_str(), patch.kind.c_str(),
                patch.severity.c_str(), static_cast<unsigned long long>(patch.payload.size),
                patch.payload.file_name.c_str(), cves.empty() ? "" : ("  " + cves).c_str());
  }
}

Status Verify(std::span<char* const> argv) {
  FERRY_ASSIGN_OR_RETURN(Args args, Args::Parse(argv, {{"root", Arity::kOne},
                                                       {"site", Arity::kOne},
                                                       {"json", Arity::kFlag}}));
  FERRY_ASSIGN_OR_RETURN(const std::string root_path, args.Require("root"));
  if (args.positional().size() != 1) return UsageError("verify takes one FILE.ferry");
  const std::string& path = args.positional()[0];
  FERRY_ASSIGN_OR_RETURN(const crypto::TrustRoot pinned, crypto::LoadTrustRoot(root_path));
  VerifyOptions options;
  options.now = Now();
  options.site = args.Get("site");
  ProgressBar bar("verifying");
  options.progress = [&](uint64_t done, uint64_t total) { bar.Update(done, total); };
  FERRY_ASSIGN_OR_RETURN(const VerifiedBundle bundle, VerifyBundle(path, pinned, options));
  bar.Finish();
  const Manifest& manifest = bundle.head.manifest;
  if (args.Has("json")) {
    json::Object out = ManifestSummaryJson(manifest).as_object();
    out["verified"] = true;
    out["trusted_root_version"] = bundle.root.version;
    out["payload_count"] = static_cast<int64_t>(bundle.payload_count);
    out["payload_bytes"] = bundle.payload_bytes;
    std::cout << json::Pretty(out);
    return Ok();
  }
  std::printf("%s: OK (root version %lld, %zu payload(s), %llu bytes verified)\n", path.c_str(),
              static_cast<long long>(bundle.root.version), bundle.payload_count,
              static_cast<unsigned long long>(bundle.payload_bytes));
  PrintManifest(manifest);
  return Ok();
}

Status Inspect(std::span<char* const> argv) {
  FERRY_ASSIGN_OR_RETURN(Args args, Args::Parse(argv, {{"json", Arity::kFlag}}));
  if (args.positional().size() != 1) return UsageError("inspect takes one FILE.ferry");
  FERRY_ASSIGN_OR_RETURN(const BundleHead head, ReadBundleHead(args.positional()[0]));
  if (args.Has("json")) {
    json::Object out = ManifestSummaryJson(head.manifest).as_object();
    out["verified"] = false;
    json::Array chain;
    for (const auto& text : head.root_chain) {
      if (auto root = crypto::ParseTrustRoot(text); root.ok()) chain.emplace_back(root->version);
    }
    out["root_chain"] = std::move(chain);
    std::cout << json::Pretty(out);
    return Ok();
  }
  std::printf("%s (signatures NOT checked; use verify)\n", args.positional()[0].c_str());
  std::printf("carries %zu root(s) in its chain\n", head.root_chain.size());
  PrintManifest(head.manifest);
  return Ok();
}

Status Dispatch(int argc, char** argv) {
  if (argc < 2) return UsageError("no command given (try --help)");
  const std::string command = argv[1];
  const std::span<char* const> rest(argv + 2, static_cast<size_t>(argc - 2));
  if (command == "keygen") return Keygen(rest);
  if (command == "build") return Build(rest);
  if (command == "verify") return Verify(rest);
  if (command == "inspect") return Inspect(rest);
  if (command == "root") {
    if (argc < 3) return UsageError("root needs a subcommand: init, rotate or show");
    const std::string sub = argv[2];
    const std::span<char* const> sub_rest(argv + 3, static_cast<size_t>(argc - 3));
    if (sub == "init") return RootInit(sub_rest);
    if (sub == "rotate") return RootRotate(sub_rest);
    if (sub == "show") return RootShow(sub_rest);
    return UsageError("unknown root subcommand \"" + sub + "\"");
  }
  return UsageError("unknown command \"" + command + "\" (try --help)");
}

}  // namespace

int RunBundleCli(int argc, char** argv) {
  if (argc >= 2 && (std::string_view(argv[1]) == "--help" || std::string_view(argv[1]) == "-h" ||
                    std::string_view(argv[1]) == "help")) {
    std::fputs(kUsage, stdout);
    return 0;
  }
  const Status status = Dispatch(argc, argv);
  if (!status.ok()) {
    return cli::ReportError(status.error());
  }
  return 0;
}

}  // namespace ferry::bundler
