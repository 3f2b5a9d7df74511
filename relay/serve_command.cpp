// `ferry-relay serve`: the relay's HTTPS API on one address until SIGTERM (docs/ferry-relay.md).

#include <signal.h>

#include <cstdio>
#include <memory>
#include <string>

#include "common/cli.hpp"
#include "common/file.hpp"
#include "relay/api.hpp"
#include "relay/cli.hpp"
#include "relay/data_dir.hpp"
#include "relay/http_server.hpp"
#include "relay/lock.hpp"
#include "relay/tls_identity.hpp"

namespace ferry::relay {
namespace {

using cli::Arity;

// Held while serving: two servers on one data directory would each batch last_seen times and
// answer from their own view of the catalog. Imports take the data directory's other lock.
std::string ServeLockFile(const std::string& data_dir) {
  return fs::JoinPath(data_dir, "serve.lock");
}

Status Serve(std::span<char* const> argv) {
  FERRY_ASSIGN_OR_RETURN(const cli::Args args, cli::Args::Parse(argv, {{"data", Arity::kOne},
                                                                       {"config", Arity::kOne},
                                                                       {"listen", Arity::kOne},
                                                                       {"threads", Arity::kOne},
                                                                       {"quiet", Arity::kFlag}}));
  if (!args.positional().empty()) {
    return UsageError("unexpected argument \"" + args.positional().front() + "\"");
  }
  FERRY_ASSIGN_OR_RETURN(const std::string data_dir, DataDirectory(args));
  std::optional<std::string> listen = args.Get("listen");
  if (!listen) {
    FERRY_ASSIGN_OR_RETURN(listen, ConfigSetting(args, "listen"));
  }
  if (!listen) {
    return UsageError(
        "missing required option --listen ADDR:PORT (or listen = in the "
        "configuration file)");
  }
  FERRY_ASSIGN_OR_RETURN(const auto threads, args.GetInt("threads", 1, 256));
  if (!fs::IsDirectory(data_dir)) return UsageError(data_dir + ": no such directory");
  if (!fs::Exists(DataDir{data_dir}.database())) {
    return UsageError(data_dir +
                      ": not an initialised relay data directory (run ferry-relay init)");
  }
  auto lock = DirectoryLock::TryAcquire(ServeLockFile(data_dir));
  if (!lock.ok()) {
    if (lock.error().message().find("holds the lock") != std::string::npos) {
      return IoError(data_dir + ": another ferry-relay serve is running on this data directory");
    }
    return std::move(lock).error();
  }

  FERRY_ASSIGN_OR_RETURN(std::unique_ptr<RelayApi> api, RelayApi::Open(data_dir));
  HttpServerOptions options;
  options.listen = *listen;
  options.tls = TlsFilesIn(data_dir);
  options.threads = static_cast<int>(threads.value_or(0));
  options.log_requests = !args.Has("quiet");
  options.stop_on_signals = true;
  auto server = HttpServer::Create(*api, options);
  if (!server.ok()) {
    api->Drain();
    return std::move(server).error();
  }
  std::printf("listening on %s\n", server->local_address().c_str());
  std::fflush(stdout);
  std::fprintf(stderr, "ferry-relay serve: data %s, %zu connection(s) at most\n", data_dir.c_str(),
               server->max_connections());
  FERRY_RETURN_IF_ERROR(server->Serve());
  std::fprintf(stderr, "ferry-relay serve: stopped\n");
  return Ok();
}

}  // namespace

int RunServe(std::span<char* const> argv) {
  // A client that hangs up must not end the process; Asio sends with MSG_NOSIGNAL, this covers
  // stdout and stderr.
  ::signal(SIGPIPE, SIG_IGN);
  const Status status = Serve(argv);
  return status.ok() ? 0 : cli::ReportError(status.error());
}

}  // namespace ferry::relay
