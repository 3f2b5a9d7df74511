// `ferry-relay endpoints` and `ferry-relay endpoint revoke` (docs/ferry-relay.md#endpoints).

#include <cstdio>
#include <iostream>
#include <map>
#include <string>

#include "bundler/inventory.hpp"
#include "common/cli.hpp"
#include "common/json.hpp"
#include "common/time.hpp"
#include "relay/approved_catalog.hpp"
#include "relay/cli.hpp"
#include "relay/endpoint_registry.hpp"
#include "relay/event_log.hpp"
#include "relay/inventory_store.hpp"
#include "relay/relay.hpp"
#include "relay/reports.hpp"

namespace ferry::relay {
namespace {

using cli::Arity;

Result<cli::Args> ParseEndpointOptions(std::span<char* const> argv,
                                       std::vector<cli::OptionSpec> specs) {
  specs.push_back({"data", Arity::kOne});
  specs.push_back({"config", Arity::kOne});
  return cli::Args::Parse(argv, specs);
}

// How many approved patches each (inventory, target OS) needs now, evaluated once per distinct
// pair as the serving relay does.
class NeedsCounter {
 public:
  NeedsCounter(sql::Database& db, std::shared_ptr<const ApprovedCatalog> catalog)
      : db_(db), catalog_(std::move(catalog)) {}

  Result<std::optional<int64_t>> Count(const std::string& inventory_sha256,
                                       const std::string& target_os) {
    const std::string key = inventory_sha256 + "\n" + target_os;
    if (const auto it = counts_.find(key); it != counts_.end()) {
      return it->second;
    }
    FERRY_ASSIGN_OR_RETURN(const std::optional<bundler::Inventory> inventory,
                           GetInventory(db_, inventory_sha256));
    std::optional<int64_t> count;
    if (inventory) {
      count = static_cast<int64_t>(
          PatchIdsOf(catalog_->index().Evaluate(*inventory, target_os)).size());
    }
    counts_.emplace(key, count);
    return count;
  }

 private:
  sql::Database& db_;
  std::shared_ptr<const ApprovedCatalog> catalog_;
  std::map<std::string, std::optional<int64_t>> counts_;
};

std::string ShortHash(const std::optional<std::string>& hash) {
  return hash ? hash->substr(0, 12) : "-";
}

Status List(std::span<char* const> argv) {
  FERRY_ASSIGN_OR_RETURN(const cli::Args args,
                         ParseEndpointOptions(argv, {{"json", Arity::kFlag}}));
  if (!args.positional().empty()) {
    return UsageError("unexpected argument \"" + args.positional().front() + "\"");
  }
  FERRY_ASSIGN_OR_RETURN(const std::string data_dir, DataDirectory(args));
  FERRY_ASSIGN_OR_RETURN(Relay relay, Relay::Open(data_dir, Relay::Access::kReadOnly));
  FERRY_ASSIGN_OR_RETURN(const std::vector<EndpointRecord> endpoints, ListEndpoints(relay.db()));
  FERRY_ASSIGN_OR_RETURN(const auto last_reports, LatestReportPerEndpoint(relay.db()));
  FERRY_ASSIGN_OR_RETURN(std::shared_ptr<const ApprovedCatalog> catalog,
                         ApprovedCatalog::Load(relay.db()));
  NeedsCounter needs(relay.db(), std::move(catalog));
  json::Array out;
  if (!args.Has("json")) {
    std::printf("%-19s  %-20s  %-20s  %-20s  %-12s  %5s  %s\n", "ENDPOINT", "HOSTNAME", "ENROLLED",
                "LAST SEEN", "INVENTORY", "NEEDS", "LAST REPORT");
  }
  for (const EndpointRecord& endpoint : endpoints) {
    std::optional<int64_t> count;
    if (endpoint.inventory_sha256) {
      FERRY_ASSIGN_OR_RETURN(count, needs.Count(*endpoint.inventory_sha256, endpoint.target_os));
    }
    const auto report = last_reports.find(endpoint.id);
    if (args.Has("json")) {
      json::Object object{{"endpoint_id", endpoint.id},
                          {"hostname", endpoint.hostname},
                          {"enrolled", FormatTime(endpoint.enrolled_at)},
                          {"target_os", endpoint.target_os},
                          {"certificate_sha256", endpoint.certificate_sha256}};
      if (endpoint.last_seen) {
        object["last_seen"] = FormatTime(*endpoint.last_seen);
      }
      if (endpoint.inventory_sha256) {
        object["inventory_sha256"] = *endpoint.inventory_sha256;
      }
      if (count) {
        object["needs"] = *count;
      }
      if (endpoint.revoked_at) {
        object["revoked"] = FormatTime(*endpoint.revoked_at);
      }
      if (report != last_reports.end()) {
        object["last_report"] = StoredReportToJson(report->second);
      }
      out.push_back(std::move(object));
      continue;
    }
    std::string last = "-";
    if (report != last_reports.end()) {
      last = report->second.report.result + " " + report->second.report.patch_id + " " +
             FormatTime(report->second.received_at);
    }
    if (endpoint.revoked_at) {
      last = "REVOKED " + FormatTime(*endpoint.revoked_at) + (last == "-" ? "" : "; " + last);
    }
    std::printf("%-19s  %-20s  %-20s  %-20s  %-12s  %5s  %s\n", endpoint.id.c_str(),
                endpoint.hostname.c_str(), FormatTime(endpoint.enrolled_at).c_str(),
                endpoint.last_seen ? FormatTime(*endpoint.last_seen).c_str() : "never",
                ShortHash(endpoint.inventory_sha256).c_str(),
                count ? std::to_string(*count).c_str() : "-", last.c_str());
  }
  if (args.Has("json")) {
    std::cout << json::Pretty(out);
  }
  return Ok();
}

Status Revoke(std::span<char* const> argv) {
  FERRY_ASSIGN_OR_RETURN(const cli::Args args, ParseEndpointOptions(argv, {}));
  if (args.positional().size() != 1) {
    return UsageError("endpoint revoke needs exactly one endpoint id");
  }
  const std::string& id = args.positional().front();
  if (!IsEndpointIdShape(id)) {
    return UsageError("\"" + id + "\" is not an endpoint id (ep- and 16 hex digits)");
  }
  FERRY_ASSIGN_OR_RETURN(const std::string data_dir, DataDirectory(args));
  FERRY_ASSIGN_OR_RETURN(Relay relay, Relay::Open(data_dir, Relay::Access::kReadWrite));
  FERRY_ASSIGN_OR_RETURN(const bool changed, RevokeEndpoint(relay.db(), id, OperatorActor()));
  std::printf(changed ? "revoked %s: a serving relay refuses its certificate within seconds\n"
                      : "%s was already revoked; nothing changed\n",
              id.c_str());
  return Ok();
}

}  // namespace

int RunEndpointsCommand(std::span<char* const> argv) {
  const Status status = List(argv);
  return status.ok() ? 0 : cli::ReportError(status.error());
}

int RunEndpointCommand(std::span<char* const> argv) {
  Status status = Ok();
  const std::string sub = argv.empty() ? "" : argv[0];
  if (sub == "revoke") {
    status = Revoke(argv.subspan(1));
  } else {
    status = UsageError(sub.empty() ? "endpoint needs revoke"
                                    : "unknown endpoint command \"" + sub + "\" (revoke)");
  }
  return status.ok() ? 0 : cli::ReportError(status.error());
}

}  // namespace ferry::relay
