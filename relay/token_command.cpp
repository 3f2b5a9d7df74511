// `ferry-relay token create` and `ferry-relay token list` (docs/ferry-relay.md#token).

#include <cstdio>
#include <iostream>
#include <string>

#include "common/cli.hpp"
#include "common/json.hpp"
#include "common/time.hpp"
#include "relay/cli.hpp"
#include "relay/event_log.hpp"
#include "relay/relay.hpp"
#include "relay/tokens.hpp"

namespace ferry::relay {
namespace {

using cli::Arity;

Result<cli::Args> ParseTokenOptions(std::span<char* const> argv,
                                    std::vector<cli::OptionSpec> specs) {
  specs.push_back({"data", Arity::kOne});
  specs.push_back({"config", Arity::kOne});
  specs.push_back({"json", Arity::kFlag});
  FERRY_ASSIGN_OR_RETURN(cli::Args args, cli::Args::Parse(argv, specs));
  if (!args.positional().empty()) {
    return UsageError("unexpected argument \"" + args.positional().front() + "\"");
  }
  return args;
}

std::string StateOf(const TokenRecord& token, UnixTime now) {
  if (token.used_at) {
    return "used";
  }
  return token.expires_at <= now ? "expired" : "unused";
}

Status Create(std::span<char* const> argv) {
  FERRY_ASSIGN_OR_RETURN(const cli::Args args, ParseTokenOptions(argv, {{"expires", Arity::kOne}}));
  int64_t lifetime = kDefaultTokenLifetime;
  if (const auto expires = args.Get("expires")) {
    auto parsed = ParseDuration(*expires);
    if (!parsed.ok()) {
      return UsageError("--expires: " + parsed.error().message());
    }
    if (*parsed > kMaxTokenLifetime) {
      return UsageError("--expires " + *expires + ": a token may live 30d at most");
    }
    lifetime = *parsed;
  }
  FERRY_ASSIGN_OR_RETURN(const std::string data_dir, DataDirectory(args));
  FERRY_ASSIGN_OR_RETURN(Relay relay, Relay::Open(data_dir, Relay::Access::kReadWrite));
  FERRY_ASSIGN_OR_RETURN(const NewToken token,
                         CreateEnrollmentToken(relay.db(), lifetime, OperatorActor()));
  if (args.Has("json")) {
    std::cout << json::Pretty(json::Object{{"token", token.token},
                                           {"token_id", token.token_id},
                                           {"expires", FormatTime(token.expires_at)}});
    return Ok();
  }
  // The token alone on stdout, so TOKEN=$(ferry-relay token create ...) works; the rest is for
  // the operator's eyes.
  std::printf("%s\n", token.token.c_str());
  std::fflush(stdout);
  std::fprintf(stderr, "token %s expires %s; it enrols one endpoint, once\n",
               token.token_id.c_str(), FormatTime(token.expires_at).c_str());
  return Ok();
}

Status List(std::span<char* const> argv) {
  FERRY_ASSIGN_OR_RETURN(const cli::Args args, ParseTokenOptions(argv, {}));
  FERRY_ASSIGN_OR_RETURN(const std::string data_dir, DataDirectory(args));
  FERRY_ASSIGN_OR_RETURN(Relay relay, Relay::Open(data_dir, Relay::Access::kReadOnly));
  FERRY_ASSIGN_OR_RETURN(const std::vector<TokenRecord> tokens, ListEnrollmentTokens(relay.db()));
  const UnixTime now = Now();
  if (args.Has("json")) {
    json::Array out;
    for (const TokenRecord& token : tokens) {
      json::Object object{{"token_id", token.token_id},
                          {"created", FormatTime(token.created_at)},
                          {"created_by", token.created_by},
                          {"expires", FormatTime(token.expires_at)},
                          {"state", StateOf(token, now)}};
      if (token.used_at) {
        object["used_at"] = FormatTime(*token.used_at);
      }
      if (token.used_by) {
        object["used_by"] = *token.used_by;
      }
      out.push_back(std::move(object));
    }
    std::cout << json::Pretty(out);
    return Ok();
  }
  std::printf("%-12s  %-20s  %-20s  %-7s  %s\n", "TOKEN ID", "CREATED", "EXPIRES", "STATE",
              "USED BY");
  for (const TokenRecord& token : tokens) {
    std::printf(
        "%-12s  %-20s  %-20s  %-7s  %s\n", token.token_id.c_str(),
        FormatTime(token.created_at).c_str(), FormatTime(token.expires_at).c_str(),
        StateOf(token, now).c_str(),
        token.used_by ? (*token.used_by + " at " + FormatTime(*token.used_at)).c_str() : "-");
  }
  return Ok();
}

}  // namespace

int RunTokenCommand(std::span<char* const> argv) {
  Status status = Ok();
  const std::string sub = argv.empty() ? "" : argv[0];
  if (sub == "create") {
    status = Create(argv.subspan(1));
  } else if (sub == "list") {
    status = List(argv.subspan(1));
  } else {
    status = UsageError(sub.empty() ? "token needs create or list"
                                    : "unknown token command \"" + sub + "\" (create or list)");
  }
  return status.ok() ? 0 : cli::ReportError(status.error());
}

}  // namespace ferry::relay
