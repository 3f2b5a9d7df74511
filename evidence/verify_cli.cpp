#include "evidence/verify_cli.hpp"

#include <cstdio>
#include <iostream>
#include <span>
#include <string>

#include "common/cli.hpp"
#include "common/json.hpp"
#include "crypto/keyfile.hpp"
#include "evidence/verify.hpp"

namespace ferry::evidence {
namespace {

constexpr const char* kUsage =
    R"(usage: ferry-verify --relay-key RELAY.pub EVIDENCE.tar [--previous OLDER.tar] [--nonce TEXT] [--json]

Checks an evidence package offline against the relay's pinned public key: the signed checkpoint,
every event and its sequence number, the Merkle root, the consistency proof from the previous
export (and from OLDER.tar when given), the nonce when given, and every report figure.

Exit codes: 0 the evidence holds, 1 tampered, incomplete, rolled back or forked (the first fault
is named), 2 usage, 3 a file cannot be read.
)";

json::Value OptionalInt(const std::optional<int64_t>& v) {
  return v ? json::Value(*v) : json::Value();
}

json::Value FiguresJson(const ReportFigures& f) {
  return json::Object{{"as_of", FormatTime(f.as_of)},
                      {"endpoints", f.endpoints},
                      {"patches_approved", f.patches_approved},
                      {"install_reports", f.install_reports},
                      {"installed", f.installed},
                      {"installed_late", f.late},
                      {"failed", f.failed},
                      {"pending", f.pending},
                      {"overdue", f.overdue},
                      {"excepted", f.excepted},
                      {"imports_rejected", f.imports_rejected}};
}

json::Value ToJson(const std::string& path, const Verification& v, bool nonce_asked) {
  const PackageFacts& f = v.facts;
  const auto text = [](const std::string& s) { return s.empty() ? json::Value() : json::Value(s); };
  json::Object out{
      {"ok", v.ok()},
      {"fault", v.fault ? json::Value(*v.fault) : json::Value()},
      {"package", path},
      {"origin", text(f.origin)},
      {"relay_key_id", text(f.key_id)},
      {"tree_size", f.tree_size},
      {"first_event", f.first},
      {"last_event", f.last},
      {"root", text(f.root_hex)},
      {"nonce", f.nonce ? json::Value(*f.nonce) : json::Value()},
      {"nonce_checked", nonce_asked && v.ok()},
      {"previous", json::Object{{"carried_tree_size", OptionalInt(f.carried_previous_size)},
                                {"linked_tree_size", OptionalInt(f.checked_previous_size)}}},
      {"media", json::Value()},
      {"figures", f.figures ? FiguresJson(*f.figures) : json::Value()}};
  if (f.media) {
    json::Object media{{"exported_at", FormatTime(f.media->exported_at)},
                       {"exported_by", f.media->exported_by},
                       {"label", f.media->label ? json::Value(*f.media->label) : json::Value()}};
    out["media"] = std::move(media);
  }
  return out;
}

void PrintHuman(const std::string& path, const Verification& v, bool nonce_asked) {
  const PackageFacts& f = v.facts;
  std::printf("%s\n", path.c_str());
  if (!f.origin.empty()) {
    std::printf("  relay      %s, signed by the pinned key %s\n", f.origin.c_str(),
                f.key_id.c_str());
  }
  if (f.tree_size > 0 && f.first > 0) {
    std::printf("  events     %lld..%lld of %lld%s\n", static_cast<long long>(f.first),
                static_cast<long long>(f.tree_size), static_cast<long long>(f.tree_size),
                f.first > 1 ? " (earlier events through the prefix hashes)" : "");
  }
  if (!f.root_hex.empty()) std::printf("  root       %s\n", f.root_hex.c_str());
  if (f.nonce) {
    std::printf("  nonce      \"%s\"%s\n", f.nonce->c_str(),
                nonce_asked && v.ok() ? " (as asked)" : "");
  }
  if (f.carried_previous_size) {
    std::printf("  chains     from the previous export's checkpoint of %lld events\n",
                static_cast<long long>(*f.carried_previous_size));
  }
  if (f.checked_previous_size) {
    std::printf("  previous   extends the --previous package (%lld events)\n",
                static_cast<long long>(*f.checked_previous_size));
  }
  if (f.media) {
    std::printf("  exported   %s by %s%s\n", FormatTime(f.media->exported_at).c_str(),
                f.media->exported_by.c_str(),
                f.media->label ? (", label \"" + *f.media->label + "\"").c_str() : "");
  }
  if (f.figures) {
    const ReportFigures& r = *f.figures;
    std::printf("  as of      %s (the last event)\n", FormatTime(r.as_of).c_str());
    std::printf(
        "  figures    %lld endpoint(s), %lld patch(es) approved, %lld installed (%lld late), "
        "%lld failed, %lld pending,\n             %lld overdue, %lld excepted, %lld rejected "
        "import(s)\n",
        static_cast<long long>(r.endpoints), static_cast<long long>(r.patches_approved),
        static_cast<long long>(r.installed), static_cast<long long>(r.late),
        static_cast<long long>(r.failed), static_cast<long long>(r.pending),
        static_cast<long long>(r.overdue), static_cast<long long>(r.excepted),
        static_cast<long long>(r.imports_rejected));
  }
  if (v.ok()) {
    std::printf("OK: the signature, every event, the proofs and every report figure hold\n");
  } else {
    std::printf("FAILED: %s\n", v.fault->c_str());
  }
}

Result<int> Run(std::span<char* const> argv) {
  FERRY_ASSIGN_OR_RETURN(const cli::Args args,
                         cli::Args::Parse(argv, {{"relay-key", cli::Arity::kOne},
                                                 {"previous", cli::Arity::kOne},
                                                 {"nonce", cli::Arity::kOne},
                                                 {"json", cli::Arity::kFlag}}));
  FERRY_ASSIGN_OR_RETURN(const std::string key_path, args.Require("relay-key"));
  if (args.positional().size() != 1) {
    return UsageError("give exactly one EVIDENCE.tar (try --help)");
  }
  const std::string path = args.positional().front();
  VerifyOptions options;
  options.previous_path = args.Get("previous");
  options.nonce = args.Get("nonce");
  if (options.nonce) {
    const Status nonce = ValidateNonce(*options.nonce);
    if (!nonce.ok()) return UsageError("--nonce: " + nonce.error().message());
  }
  auto key = crypto::ReadPublicKeyFile(key_path);
  if (!key.ok()) {
    // A key file that exists but is not a public key is the wrong argument, not bad evidence.
    if (key.error().kind() == ErrorKind::kInvalid) {
      return UsageError("--relay-key " + key.error().message());
    }
    return std::move(key).error();
  }
  FERRY_ASSIGN_OR_RETURN(const Verification verification, VerifyPackage(path, *key, options));
  if (args.Has("json")) {
    std::cout << json::Pretty(ToJson(path, verification, options.nonce.has_value()));
  } else {
    PrintHuman(path, verification, options.nonce.has_value());
  }
  std::fflush(stdout);
  if (!verification.ok()) return cli::ReportError(InvalidError(*verification.fault));
  return 0;
}

}  // namespace

int RunVerifyCli(int argc, char** argv) {
  const std::span<char* const> rest(argv + 1, static_cast<size_t>(argc > 0 ? argc - 1 : 0));
  for (const char* word : rest) {
    const std::string_view w(word);
    if (w == "--help" || w == "-h") {
      std::fputs(kUsage, stdout);
      return 0;
    }
  }
  const Result<int> code = Run(rest);
  if (!code.ok()) return cli::ReportError(code.error());
  return *code;
}

}  // namespace ferry::evidence
