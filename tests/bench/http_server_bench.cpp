// Serves one file over the relay's HTTPS server (relay/http_server.hpp) for any GET or HEAD, so
// the transport's download speed can be compared with nginx on the same file and certificates
// without the API or a store in the way. Prints "listening on ADDR:PORT"; stops on SIGTERM.
//
//   ferry-bench-http-server --tls-dir DATA_DIR --file PATH [--listen ADDR:PORT] [--threads N]
//                           [--chunk BYTES] [--log]

#include <sys/stat.h>

#include <cstdio>
#include <string>

#include "common/cli.hpp"
#include "relay/http_server.hpp"
#include "relay/tls_identity.hpp"

namespace {

using ferry::cli::Arity;

class OneFile : public ferry::relay::HttpHandler {
 public:
  OneFile(std::string path, uint64_t size) : path_(std::move(path)), size_(size) {}
  ferry::relay::RequestLimits LimitsFor(const ferry::relay::HttpRequest&) const override {
    return {};
  }
  ferry::relay::HttpResponse Handle(const ferry::relay::HttpRequest& request) override {
    ferry::relay::HttpResponse response;
    if (request.method != "GET" && request.method != "HEAD") {
      response.status = 405;
      response.body = R"({"error":"GET or HEAD"})";
      return response;
    }
    response.headers = {{"Content-Type", "application/octet-stream"}};
    response.file = ferry::relay::FileSlice{path_, 0, size_};
    response.head_only = request.method == "HEAD";
    return response;
  }

 private:
  std::string path_;
  uint64_t size_;
};

int Main(int argc, char** argv) {
  auto args =
      ferry::cli::Args::Parse(std::span<char* const>(argv + 1, argc - 1), {{"tls-dir", Arity::kOne},
                                                                           {"file", Arity::kOne},
                                                                           {"listen", Arity::kOne},
                                                                           {"threads", Arity::kOne},
                                                                           {"chunk", Arity::kOne},
                                                                           {"log", Arity::kFlag}});
  if (!args.ok()) return ferry::cli::ReportError(args.error());
  auto tls_dir = args->Require("tls-dir");
  auto file = args->Require("file");
  auto threads = args->GetInt("threads", 1, 256);
  auto chunk = args->GetInt("chunk", 16 * 1024, 16 << 20);
  if (!tls_dir.ok()) return ferry::cli::ReportError(tls_dir.error());
  if (!file.ok()) return ferry::cli::ReportError(file.error());
  if (!threads.ok()) return ferry::cli::ReportError(threads.error());
  if (!chunk.ok()) return ferry::cli::ReportError(chunk.error());
  struct stat st {};
  if (::stat(file->c_str(), &st) != 0) {
    return ferry::cli::ReportError(ferry::IoError(*file + ": cannot stat"));
  }
  OneFile handler(*file, static_cast<uint64_t>(st.st_size));
  ferry::relay::HttpServerOptions options;
  options.listen = args->Get("listen").value_or("127.0.0.1:0");
  options.tls = ferry::relay::TlsFilesIn(*tls_dir);
  options.threads = static_cast<int>(threads->value_or(0));
  if (*chunk) options.file_chunk_bytes = static_cast<size_t>(**chunk);
  options.log_requests = args->Has("log");
  options.stop_on_signals = true;
  auto server = ferry::relay::HttpServer::Create(handler, options);
  if (!server.ok()) return ferry::cli::ReportError(server.error());
  std::printf("listening on %s\n", server->local_address().c_str());
  std::fflush(stdout);
  const ferry::Status served = server->Serve();
  return served.ok() ? 0 : ferry::cli::ReportError(served.error());
}

}  // namespace

int main(int argc, char** argv) { return Main(argc, argv); }
