#include "relay/evidence_cli.hpp"

#include <cstdio>
#include <iostream>

#include "common/progress.hpp"
#include "evidence/package.hpp"
#include "relay/event_log.hpp"
#include "relay/evidence_export.hpp"
#include "relay/exceptions.hpp"
#include "relay/relay.hpp"

namespace ferry::relay {
namespace {

using cli::Args;
using cli::Arity;

Result<Args> Parse(std::span<char* const> argv, std::vector<cli::OptionSpec> specs,
                   std::vector<cli::OptionSpec> common) {
  specs.insert(specs.end(), common.begin(), common.end());
  FERRY_ASSIGN_OR_RETURN(Args args, Args::Parse(argv, specs));
  if (!args.positional().empty()) {
    return UsageError("unexpected argument \"" + args.positional().front() + "\"");
  }
  return args;
}

std::string Quoted(const std::optional<std::string>& text) {
  return text ? "\"" + *text + "\"" : std::string("(none)");
}

Status Export(std::span<char* const> argv, std::vector<cli::OptionSpec> common,
              const DataDirResolver& data_dir) {
  FERRY_ASSIGN_OR_RETURN(Args args, Parse(argv,
                                          {{"out", Arity::kOne},
                                           {"since-last", Arity::kFlag},
                                           {"from", Arity::kOne},
                                           {"nonce", Arity::kOne},
                                           {"label", Arity::kOne}},
                                          std::move(common)));
  EvidenceExportOptions options;
  FERRY_ASSIGN_OR_RETURN(options.out_path, args.Require("out"));
  options.since_last = args.Has("since-last");
  FERRY_ASSIGN_OR_RETURN(options.from, args.GetInt("from", 1, int64_t{1} << 53));
  options.nonce = args.Get("nonce");
  options.label = args.Get("label");
  if (options.since_last && options.from)
    return UsageError("give --since-last or --from N, not both");
  if (options.nonce) {
    const Status nonce = evidence::ValidateNonce(*options.nonce);
    if (!nonce.ok()) return UsageError("--nonce: " + nonce.error().message());
  }
  if (options.label) {
    const Status label = evidence::ValidateLabel(*options.label);
    if (!label.ok()) return UsageError("--label: " + label.error().message());
  }
  options.actor = OperatorActor();
  FERRY_ASSIGN_OR_RETURN(const std::string dir, data_dir(args));
  FERRY_ASSIGN_OR_RETURN(Relay relay, Relay::Open(dir, Relay::Access::kReadWrite));
  ProgressBar bar("exporting");
  options.progress = [&](uint64_t done, uint64_t total) { bar.Update(done, total); };
  FERRY_ASSIGN_OR_RETURN(const EvidenceExportResult result, ExportEvidence(relay, options));
  bar.Finish();
  const EvidenceExport& r = result.record;
  const evidence::PackageSummary& s = result.summary;
  std::printf("exported events %lld..%lld of %lld to %s (%lld bytes)\n",
              static_cast<long long>(r.first), static_cast<long long>(r.tree_size),
              static_cast<long long>(r.tree_size), r.file.c_str(),
              static_cast<long long>(r.package_bytes));
  std::printf("  Merkle root      %s\n", r.root_sha256.c_str());
  std::printf("  checkpoint       %s, signed by the relay key%s\n",
              r.checkpoint.substr(0, r.checkpoint.find('\n')).c_str(),
              r.nonce ? (", nonce \"" + *r.nonce + "\"").c_str() : "");
  if (s.previous_size) {
    std::printf(
        "  chains from      the previous export (%lld events), consistency proof included\n",
        static_cast<long long>(*s.previous_size));
  }
  std::printf("  media record     %s by %s, label %s\n", FormatTime(r.exported_at).c_str(),
              r.exported_by.c_str(), Quoted(r.label).c_str());
  std::printf("  package SHA-256  %s\n", r.package_sha256.c_str());
  std::printf(
      "  figures          as of %s: %lld installed, %lld failed, %lld pending, %lld overdue, "
      "%lld excepted\n",
      FormatTime(s.figures.as_of).c_str(), static_cast<long long>(s.figures.installed),
      static_cast<long long>(s.figures.failed), static_cast<long long>(s.figures.pending),
      static_cast<long long>(s.figures.overdue), static_cast<long long>(s.figures.excepted));
  std::printf("the auditor checks it with: ferry-verify --relay-key identity.pub %s\n",
              r.file.c_str());
  return Ok();
}

Status ListExports(std::span<char* const> argv, std::vector<cli::OptionSpec> common,
                   const DataDirResolver& data_dir) {
  FERRY_ASSIGN_OR_RETURN(Args args, Parse(argv, {{"json", Arity::kFlag}}, std::move(common)));
  FERRY_ASSIGN_OR_RETURN(const std::string dir, data_dir(args));
  FERRY_ASSIGN_OR_RETURN(Relay relay, Relay::Open(dir, Relay::Access::kReadOnly));
  FERRY_ASSIGN_OR_RETURN(const std::vector<EvidenceExport> exports,
                         ListEvidenceExports(relay.db()));
  if (args.Has("json")) {
    json::Array out;
    for (const EvidenceExport& e : exports) {
      json::Object row{{"id", e.id},
                       {"exported_at", FormatTime(e.exported_at)},
                       {"exported_by", e.exported_by},
                       {"first_event", e.first},
                       {"tree_size", e.tree_size},
                       {"root_sha256", e.root_sha256},
                       {"file", e.file},
                       {"package_sha256", e.package_sha256},
                       {"package_bytes", e.package_bytes}};
      if (e.label) row["label"] = *e.label;
      if (e.nonce) row["nonce"] = *e.nonce;
      out.push_back(std::move(row));
    }
    std::cout << json::Pretty(out);
    return Ok();
  }
  std::printf("%4s %-20s %-18s %9s %9s  %-16s %s\n", "ID", "EXPORTED", "BY", "FIRST", "SIZE",
              "ROOT", "FILE (LABEL)");
  for (const EvidenceExport& e : exports) {
    std::printf("%4lld %-20s %-18s %9lld %9lld  %-16s %s%s\n", static_cast<long long>(e.id),
                FormatTime(e.exported_at).c_str(), e.exported_by.c_str(),
                static_cast<long long>(e.first), static_cast<long long>(e.tree_size),
                e.root_sha256.substr(0, 16).c_str(), e.file.c_str(),
                e.label ? (" (" + *e.label + ")").c_str() : "");
  }
  return Ok();
}

Status AddException(std::span<char* const> argv, std::vector<cli::OptionSpec> common,
                    const DataDirResolver& data_dir) {
  FERRY_ASSIGN_OR_RETURN(Args args, Parse(argv,
                                          {{"patch", Arity::kOne},
                                           {"endpoint", Arity::kOne},
                                           {"until", Arity::kOne},
                                           {"reason", Arity::kOne}},
                                          std::move(common)));
  ExceptionRequest request;
  FERRY_ASSIGN_OR_RETURN(request.patch_id, args.Require("patch"));
  request.endpoint_id = args.Get("endpoint");
  FERRY_ASSIGN_OR_RETURN(const std::string until, args.Require("until"));
  FERRY_ASSIGN_OR_RETURN(request.until, ParseUntil(until, Now()));
  FERRY_ASSIGN_OR_RETURN(request.reason, args.Require("reason"));
  request.actor = OperatorActor();
  FERRY_ASSIGN_OR_RETURN(const std::string dir, data_dir(args));
  FERRY_ASSIGN_OR_RETURN(Relay relay, Relay::Open(dir, Relay::Access::kReadWrite));
  FERRY_ASSIGN_OR_RETURN(const Event event, GrantException(relay.db(), request));
  std::printf("exception granted (event %lld): %s on %s may stay uninstalled until %s\n",
              static_cast<long long>(event.seq), request.patch_id.c_str(),
              request.endpoint_id ? request.endpoint_id->c_str() : "every endpoint",
              FormatTime(request.until).c_str());
  return Ok();
}

Status ListExceptionsCommand(std::span<char* const> argv, std::vector<cli::OptionSpec> common,
                             const DataDirResolver& data_dir) {
  FERRY_ASSIGN_OR_RETURN(Args args, Parse(argv, {{"json", Arity::kFlag}}, std::move(common)));
  FERRY_ASSIGN_OR_RETURN(const std::string dir, data_dir(args));
  FERRY_ASSIGN_OR_RETURN(Relay relay, Relay::Open(dir, Relay::Access::kReadOnly));
  FERRY_ASSIGN_OR_RETURN(const std::vector<Event> events, ListExceptions(relay.db()));
  const UnixTime now = Now();
  const auto field = [](const Event& e, const char* key) {
    const auto it = e.details.find(key);
    return it != e.details.end() && it->second.is_string() ? it->second.as_string() : std::string();
  };
  const auto active = [&](const Event& e) {
    const auto until = ParseTime(field(e, "until"));
    return until.ok() && *until > now;
  };
  if (args.Has("json")) {
    json::Array out;
    for (const Event& e : events) {
      json::Object row{
          {"event", e.seq},     {"granted", FormatTime(e.time)}, {"granted_by", e.actor},
          {"patch", e.subject}, {"until", field(e, "until")},    {"reason", field(e, "reason")},
          {"active", active(e)}};
      if (const std::string endpoint = field(e, "endpoint"); !endpoint.empty()) {
        row["endpoint"] = endpoint;
      }
      out.push_back(std::move(row));
    }
    std::cout << json::Pretty(out);
    return Ok();
  }
  std::printf("%6s %-20s %-40s %-20s %-20s %-7s %s\n", "EVENT", "GRANTED", "PATCH", "ENDPOINT",
              "UNTIL", "STATUS", "REASON");
  for (const Event& e : events) {
    const std::string endpoint = field(e, "endpoint");
    std::printf("%6lld %-20s %-40s %-20s %-20s %-7s %s\n", static_cast<long long>(e.seq),
                FormatTime(e.time).c_str(), e.subject.c_str(),
                endpoint.empty() ? "(all)" : endpoint.c_str(), field(e, "until").c_str(),
                active(e) ? "active" : "expired", field(e, "reason").c_str());
  }
  return Ok();
}

// Splits off the subcommand word.
Result<std::pair<std::string, std::span<char* const>>> Subcommand(std::span<char* const> argv,
                                                                  const char* command) {
  if (argv.empty() || std::string_view(argv[0]).starts_with("--")) {
    return UsageError(std::string(command) + " needs a subcommand (try --help)");
  }
  return std::make_pair(std::string(argv[0]), argv.subspan(1));
}

}  // namespace

Status RunEvidenceCommand(std::span<char* const> argv, std::vector<cli::OptionSpec> common,
                          const DataDirResolver& data_dir) {
  FERRY_ASSIGN_OR_RETURN(const auto sub, Subcommand(argv, "evidence"));
  if (sub.first == "export") return Export(sub.second, std::move(common), data_dir);
  if (sub.first == "list") return ListExports(sub.second, std::move(common), data_dir);
  return UsageError("unknown command \"evidence " + sub.first + "\" (export or list)");
}

Status RunExceptionCommand(std::span<char* const> argv, std::vector<cli::OptionSpec> common,
                           const DataDirResolver& data_dir) {
  FERRY_ASSIGN_OR_RETURN(const auto sub, Subcommand(argv, "exception"));
  if (sub.first == "add") return AddException(sub.second, std::move(common), data_dir);
  if (sub.first == "list") return ListExceptionsCommand(sub.second, std::move(common), data_dir);
  return UsageError("unknown command \"exception " + sub.first + "\" (add or list)");
}

}  // namespace ferry::relay
