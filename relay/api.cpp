#include "relay/api.hpp"

#include <sys/stat.h>

#include <atomic>
#include <condition_variable>
#include <cstdio>
#include <exception>
#include <limits>
#include <mutex>
#include <set>
#include <shared_mutex>
#include <thread>
#include <unordered_map>
#include <utility>
#include <vector>

#include "bundler/inventory.hpp"
#include "bundler/manifest.hpp"
#include "common/encoding.hpp"
#include "common/json.hpp"
#include "common/time.hpp"
#include "crypto/hash.hpp"
#include "relay/api_target.hpp"
#include "relay/applicability.hpp"
#include "relay/approved_catalog.hpp"
#include "relay/connection_pool.hpp"
#include "relay/endpoint_registry.hpp"
#include "relay/enrollment.hpp"
#include "relay/event_log.hpp"
#include "relay/group_commit.hpp"
#include "relay/http_range.hpp"
#include "relay/inventory_store.hpp"
#include "relay/relay.hpp"
#include "relay/reports.hpp"
#include "relay/tls_identity.hpp"

namespace ferry::relay {
namespace {

// How many rendered check-in answers (one per inventory and target OS) are kept per catalog
// version; past that the memo starts again, and the applicability cache still answers.
constexpr size_t kMaxOffers = 4096;
constexpr int64_t kEndpointReportLimit = 50;
constexpr size_t kMaxAgentVersion = 64;
// last_seen times written per transaction while serving (at shutdown: all in one).
constexpr size_t kLastSeenChunk = 5000;

struct DigestHasher {
  size_t operator()(const crypto::Sha256Digest& digest) const {
    // The bytes of a SHA-256 are already uniform.
    size_t value = 0;
    for (size_t i = 0; i < sizeof value; ++i) {
      value = (value << 8) | digest[i];
    }
    return value;
  }
};

// What the relay holds in memory about one enrolled endpoint.
struct EndpointState {
  std::string id;
  std::atomic<bool> revoked{false};
  std::atomic<int64_t> last_seen{0};          // 0: never seen
  std::atomic<int64_t> flushed_last_seen{0};  // what the database has
  // The check-in state, guarded by `mutex`; a change is written to the database first.
  std::mutex mutex;
  std::string target_os;
  std::optional<std::string> inventory_sha256;
  std::optional<std::string> needs_sha256;
};

// A rendered check-in answer, the same for every endpoint with one inventory and target OS.
struct Offer {
  std::string body;
  std::vector<std::string> patch_ids;
  std::string needs_sha256;
};

// The approved catalog of one version and the answers rendered from it.
class CatalogState {
 public:
  explicit CatalogState(std::shared_ptr<const ApprovedCatalog> catalog)
      : catalog_(std::move(catalog)) {}

  const ApprovedCatalog& catalog() const { return *catalog_; }

  std::shared_ptr<const Offer> FindOffer(const std::string& key) const {
    std::shared_lock lock(mutex_);
    const auto it = offers_.find(key);
    return it == offers_.end() ? nullptr : it->second;
  }

  void StoreOffer(const std::string& key, std::shared_ptr<const Offer> offer) {
    std::unique_lock lock(mutex_);
    if (offers_.size() >= kMaxOffers) {
      offers_.clear();
    }
    offers_.emplace(key, std::move(offer));
  }

 private:
  std::shared_ptr<const ApprovedCatalog> catalog_;
  mutable std::shared_mutex mutex_;
  std::unordered_map<std::string, std::shared_ptr<const Offer>> offers_;
};

HttpResponse JsonResponse(int status, const json::Value& value) {
  HttpResponse response;
  response.status = status;
  // Every value built here holds strings and integers only, which always have a canonical form.
  const Result<std::string> body = json::Canonical(value);
  response.body = body.ok() ? *body : std::string("{}");
  response.headers = {{"Content-Type", "application/json"}, {"Cache-Control", "no-store"}};
  return response;
}

HttpResponse ErrorResponse(int status, const std::string& message) {
  return JsonResponse(status, json::Object{{"error", message}});
}

HttpResponse InvalidRequest(const Error& error) { return ErrorResponse(400, error.message()); }

std::string QuotedEtag(const std::string& sha256_hex) { return "\"" + sha256_hex + "\""; }

// An immutable document (manifest, root) with its ETag; 304 when the client has it.
HttpResponse DocumentResponse(const HttpRequest& request, std::string body,
                              const std::string& sha256_hex) {
  const std::string etag = QuotedEtag(sha256_hex);
  HttpResponse response;
  if (const std::string* match = request.Header("if-none-match");
      match && IfNoneMatchMatches(*match, etag)) {
    response.status = 304;
  } else {
    response.body = std::move(body);
  }
  response.headers = {{"Content-Type", "application/json"}, {"ETag", etag}};
  return response;
}

// The check-in request body.
struct CheckinRequest {
  std::string endpoint_id;
  std::string inventory_sha256;
  std::string target_os;
  std::string agent_version;
  std::optional<std::string> inventory;
};

Result<CheckinRequest> ParseCheckin(std::string_view body) {
  FERRY_ASSIGN_OR_RETURN(const json::Value value,
                         json::Parse(body, json::ParseLimits{kCheckinBodyLimit, 4}));
  FERRY_ASSIGN_OR_RETURN(json::ObjectReader reader, json::ObjectReader::Open(value, "request"));
  CheckinRequest request;
  FERRY_ASSIGN_OR_RETURN(request.endpoint_id, reader.String("endpoint_id"));
  FERRY_ASSIGN_OR_RETURN(request.inventory_sha256, reader.String("inventory_sha256"));
  FERRY_ASSIGN_OR_RETURN(request.target_os, reader.String("target_os"));
  FERRY_ASSIGN_OR_RETURN(request.agent_version, reader.String("agent_version"));
  FERRY_ASSIGN_OR_RETURN(request.inventory, reader.OptionalString("inventory"));
  FERRY_RETURN_IF_ERROR(reader.Finish());
  if (!IsLowerHex(request.inventory_sha256, 64)) {
    return InvalidError("request.inventory_sha256: not 64 lowercase hex digits");
  }
  if (!bundler::IsSafeIdentifier(request.target_os)) {
    return InvalidError("request.target_os: not an identifier such as debian-12");
  }
  if (request.agent_version.size() > kMaxAgentVersion ||
      !bundler::IsSafeIdentifier(request.agent_version)) {
    return InvalidError("request.agent_version: not a version such as 0.2.0");
  }
  return request;
}

struct ReportsRequest {
  std::string endpoint_id;
  std::vector<InstallReport> reports;
};

Result<ReportsRequest> ParseReports(std::string_view body) {
  FERRY_ASSIGN_OR_RETURN(const json::Value value,
                         json::Parse(body, json::ParseLimits{kReportsBodyLimit, 6}));
  FERRY_ASSIGN_OR_RETURN(json::ObjectReader reader, json::ObjectReader::Open(value, "request"));
  ReportsRequest request;
  FERRY_ASSIGN_OR_RETURN(request.endpoint_id, reader.String("endpoint_id"));
  FERRY_ASSIGN_OR_RETURN(const json::Array* reports, reader.ArrayField("reports"));
  FERRY_RETURN_IF_ERROR(reader.Finish());
  if (reports->empty() || reports->size() > kMaxReportsPerRequest) {
    return InvalidError("request.reports: 1 to 100 reports expected, found " +
                        std::to_string(reports->size()));
  }
  for (size_t i = 0; i < reports->size(); ++i) {
    FERRY_ASSIGN_OR_RETURN(
        InstallReport report,
        ReportFromJson((*reports)[i], "request.reports[" + std::to_string(i) + "]"));
    request.reports.push_back(std::move(report));
  }
  return request;
}

// The answer to a check-in for one applicability result.
std::shared_ptr<const Offer> RenderOffer(const ApprovedCatalog& catalog,
                                         const std::vector<Applicable>& applicable,
                                         int64_t poll_seconds) {
  auto offer = std::make_shared<Offer>();
  offer->patch_ids = PatchIdsOf(applicable);
  offer->needs_sha256 = NeedsHash(offer->patch_ids);
  json::Array patches;
  std::set<std::string> manifest_refs;
  for (const std::string& id : offer->patch_ids) {
    const OfferedPatch* offered = catalog.Find(id);
    if (offered == nullptr) {
      continue;  // the index is built from the same patches, so this does not happen
    }
    const bundler::Patch& patch = offered->patch;
    patches.push_back(json::Object{{"id", patch.id},
                                   {"kind", patch.kind},
                                   {"package", patch.package},
                                   {"version", patch.version},
                                   {"architecture", patch.architecture},
                                   {"severity", patch.severity},
                                   {"reboot", patch.reboot},
                                   {"manifest", offered->manifest_ref},
                                   {"payload_sha256", crypto::DigestHex(patch.payload.sha256)},
                                   {"payload_size", patch.payload.size}});
    manifest_refs.insert(offered->manifest_ref);
  }
  json::Array manifests;
  for (const std::string& ref : manifest_refs) {
    const std::string* sha256 = catalog.ManifestSha256(ref);
    manifests.push_back(json::Object{{"ref", ref}, {"sha256", sha256 ? *sha256 : ""}});
  }
  const json::Object answer{{"catalog_version", catalog.version()},
                            {"poll_seconds", poll_seconds},
                            {"root_version", catalog.root_version()},
                            {"patches", std::move(patches)},
                            {"manifests", std::move(manifests)}};
  const Result<std::string> body = json::Canonical(answer);
  offer->body = body.ok() ? *body : std::string("{}");
  return offer;
}

// The memo key of a rendered answer. A newline occurs in neither part, so it splits one way only.
std::string OfferKey(const std::string& inventory_sha256, const std::string& target_os) {
  std::string key;
  key.reserve(inventory_sha256.size() + 1 + target_os.size());
  key.append(inventory_sha256).push_back('\n');
  key.append(target_os);
  return key;
}

void LogLine(const std::string& line) {
  std::fprintf(stderr, "ferry-relay api: %s\n", line.c_str());
  std::fflush(stderr);
}

}  // namespace

class RelayApi::Impl {
 public:
  Impl(Relay relay, std::unique_ptr<ConnectionPool> pool, std::unique_ptr<GroupCommit> writes,
       RelayApiOptions options)
      : relay_(std::move(relay)),
        pool_(std::move(pool)),
        writes_(std::move(writes)),
        options_(options),
        tls_(TlsFilesIn(relay_.dir().root)) {}

  Status Load() {
    FERRY_RETURN_IF_ERROR(LoadEndpoints());
    FERRY_ASSIGN_OR_RETURN(std::shared_ptr<const ApprovedCatalog> catalog,
                           ApprovedCatalog::Load(relay_.db()));
    SetCatalog(std::move(catalog));
    FERRY_ASSIGN_OR_RETURN(revocation_seq_, LastRevocationEvent(relay_.db()));
    return Ok();
  }

  void StartBackground() {
    if (!options_.background_thread) {
      return;
    }
    background_ = std::thread([this] { Background(); });
  }

  void Drain() {
    {
      std::lock_guard lock(stop_mutex_);
      if (drained_) {
        return;
      }
      drained_ = true;
    }
    stop_signal_.notify_all();
    if (background_.joinable()) {
      background_.join();
    }
    // No request runs any more, so one transaction (one fsync) is quickest.
    if (const Status flushed = FlushLastSeen(std::numeric_limits<size_t>::max()); !flushed.ok()) {
      LogLine("writing last_seen times at shutdown: " + flushed.error().message());
    }
  }

  RequestLimits LimitsFor(const HttpRequest& head) const {
    const std::optional<ApiTarget> target = ParseApiTarget(head.target, kMaxTargetLength);
    if (!target || !MethodAllowed(target->route, head.method)) {
      return {kUnauthenticatedBodyLimit};
    }
    switch (target->route) {
      case ApiRoute::kEnroll:
        return {kEnrollBodyLimit};
      case ApiRoute::kCheckin:
        return {ActiveEndpoint(head) ? kCheckinBodyLimit : kUnauthenticatedBodyLimit};
      case ApiRoute::kReports:
        return {ActiveEndpoint(head) ? kReportsBodyLimit : kUnauthenticatedBodyLimit};
      case ApiRoute::kManifest:
      case ApiRoute::kRoot:
      case ApiRoute::kPayload:
      case ApiRoute::kEndpoint:
        return {0};
    }
    return {0};
  }

  HttpResponse Handle(const HttpRequest& request) {
    HttpResponse response = Route(request);
    // HEAD answers carry the headers (and the length) of the GET answer, never its body.
    if (request.method == "HEAD") {
      response.head_only = true;
    }
    return response;
  }

  HttpResponse Route(const HttpRequest& request) {
    const std::optional<ApiTarget> target = ParseApiTarget(request.target, kMaxTargetLength);
    if (!target) {
      return ErrorResponse(404, "no such resource");
    }
    if (!MethodAllowed(target->route, request.method)) {
      HttpResponse response =
          ErrorResponse(405, "method " + request.method + " is not allowed here");
      response.headers.emplace_back("Allow", std::string(AllowedMethods(target->route)));
      return response;
    }
    if (request.body.size() > LimitsFor(request).max_body_bytes) {
      return ErrorResponse(413, "request body too large");
    }
    if (target->route == ApiRoute::kEnroll) {
      return HandleEnroll(request);
    }
    std::shared_ptr<EndpointState> endpoint;
    if (HttpResponse refused = Authenticate(request, endpoint); refused.status != 200) {
      return refused;
    }
    switch (target->route) {
      case ApiRoute::kCheckin:
        return HandleCheckin(request, *endpoint);
      case ApiRoute::kReports:
        return HandleReports(request, *endpoint);
      case ApiRoute::kManifest:
        return HandleManifest(request, *target);
      case ApiRoute::kRoot:
        return HandleRoot(request, *target);
      case ApiRoute::kPayload:
        return HandlePayload(request, *target);
      case ApiRoute::kEndpoint:
        return HandleEndpoint(request, *target, *endpoint);
      case ApiRoute::kEnroll:
        break;
    }
    return ErrorResponse(404, "no such resource");
  }

  Status Refresh() {
    std::lock_guard refresh_lock(refresh_mutex_);
    sql::Database& db = relay_.db();
    FERRY_ASSIGN_OR_RETURN(const int64_t version, relay_.GetMetaInt(kMetaCatalogVersion, 0));
    if (version != CurrentCatalog()->catalog().version()) {
      FERRY_ASSIGN_OR_RETURN(std::shared_ptr<const ApprovedCatalog> catalog,
                             ApprovedCatalog::Load(db));
      LogLine("catalog version " + std::to_string(catalog->version()) + ": " +
              std::to_string(catalog->size()) + " approved patch(es)");
      SetCatalog(std::move(catalog));
    }
    FERRY_ASSIGN_OR_RETURN(const int64_t revocation_seq, LastRevocationEvent(db));
    if (revocation_seq != revocation_seq_) {
      FERRY_ASSIGN_OR_RETURN(sql::Statement query,
                             db.Prepare("SELECT id FROM endpoints WHERE revoked_at IS NOT NULL"));
      std::vector<std::string> revoked;
      while (true) {
        FERRY_ASSIGN_OR_RETURN(const bool row, query.Step());
        if (!row) {
          break;
        }
        revoked.push_back(query.Text(0));
      }
      std::shared_lock lock(endpoints_mutex_);
      for (const std::string& id : revoked) {
        if (const auto it = by_id_.find(id); it != by_id_.end()) {
          if (!it->second->revoked.exchange(true)) {
            LogLine("endpoint " + id + " revoked: its certificate is refused from now on");
          }
        }
      }
      revocation_seq_ = revocation_seq;
    }
    return Ok();
  }

  Status FlushLastSeen(size_t chunk_size = kLastSeenChunk) {
    std::lock_guard flush_lock(flush_mutex_);
    std::vector<std::pair<std::string, UnixTime>> pending;
    std::vector<std::pair<EndpointState*, int64_t>> marks;
    {
      std::shared_lock lock(endpoints_mutex_);
      for (const auto& [id, state] : by_id_) {
        const int64_t seen = state->last_seen.load(std::memory_order_relaxed);
        if (seen > state->flushed_last_seen.load(std::memory_order_relaxed)) {
          pending.emplace_back(id, seen);
          marks.emplace_back(state.get(), seen);
        }
      }
    }
    if (pending.empty()) {
      return Ok();
    }
    // In chunks, each its own small transaction through the group commit, so that a flush of
    // 100,000 endpoints never holds the write lock long enough to delay an enrolment, a report
    // or a needs change by more than one chunk.
    for (size_t first = 0, end = 0; first < pending.size(); first = end) {
      end = pending.size() - first <= chunk_size ? pending.size() : first + chunk_size;
      const std::vector<std::pair<std::string, UnixTime>> chunk(pending.begin() + first,
                                                                pending.begin() + end);
      FERRY_RETURN_IF_ERROR(
          writes_->Run([&](sql::Database& db) { return StoreLastSeen(db, chunk); }));
      // States are never removed from the maps, so the pointers stay valid.
      for (size_t i = first; i < end; ++i) {
        marks[i].first->flushed_last_seen.store(marks[i].second, std::memory_order_relaxed);
      }
    }
    return Ok();
  }

  Stats stats() const {
    Stats stats;
    {
      std::shared_lock lock(endpoints_mutex_);
      stats.endpoints = by_id_.size();
    }
    stats.catalog_version = CurrentCatalog()->catalog().version();
    stats.applicability_evaluations = cache_.evaluations();
    return stats;
  }

 private:
  static Result<int64_t> LastRevocationEvent(sql::Database& db) {
    FERRY_ASSIGN_OR_RETURN(
        sql::Statement query,
        db.Prepare("SELECT COALESCE(MAX(seq), 0) FROM events WHERE type = 'endpoint.revoked'"));
    FERRY_ASSIGN_OR_RETURN(const bool row, query.Step());
    return row ? query.Int(0) : 0;
  }

  Status LoadEndpoints() {
    FERRY_ASSIGN_OR_RETURN(const std::vector<EndpointRecord> endpoints, ListEndpoints(relay_.db()));
    std::unique_lock lock(endpoints_mutex_);
    for (const EndpointRecord& record : endpoints) {
      AddLocked(record);
    }
    return Ok();
  }

  std::shared_ptr<EndpointState> AddLocked(const EndpointRecord& record) {
    auto state = std::make_shared<EndpointState>();
    state->id = record.id;
    state->revoked = record.revoked_at.has_value();
    state->last_seen = record.last_seen.value_or(0);
    state->flushed_last_seen = record.last_seen.value_or(0);
    state->target_os = record.target_os;
    state->inventory_sha256 = record.inventory_sha256;
    state->needs_sha256 = record.needs_sha256;
    auto digest = crypto::ParseDigestHex(record.certificate_sha256);
    if (digest.ok()) {
      by_certificate_[*digest] = state;
    }
    by_id_[record.id] = state;
    return state;
  }

  std::shared_ptr<CatalogState> CurrentCatalog() const {
    std::lock_guard lock(catalog_mutex_);
    return catalog_;
  }

  void SetCatalog(std::shared_ptr<const ApprovedCatalog> catalog) {
    auto state = std::make_shared<CatalogState>(std::move(catalog));
    std::lock_guard lock(catalog_mutex_);
    catalog_ = std::move(state);
  }

  std::shared_ptr<EndpointState> FindByCertificate(const std::string& fingerprint) const {
    const auto digest = crypto::ParseDigestHex(fingerprint);
    if (!digest.ok()) {
      return nullptr;
    }
    std::shared_lock lock(endpoints_mutex_);
    const auto it = by_certificate_.find(*digest);
    return it == by_certificate_.end() ? nullptr : it->second;
  }

  bool ActiveEndpoint(const HttpRequest& head) const {
    if (!head.client_certificate_sha256) {
      return false;
    }
    const std::shared_ptr<EndpointState> state = FindByCertificate(*head.client_certificate_sha256);
    return state && !state->revoked.load(std::memory_order_relaxed);
  }

  // 200 with `endpoint` set, or the 401 to send.
  HttpResponse Authenticate(const HttpRequest& request, std::shared_ptr<EndpointState>& endpoint) {
    if (!request.client_certificate_sha256) {
      return ErrorResponse(401, "a client certificate is required (enrol first)");
    }
    endpoint = FindByCertificate(*request.client_certificate_sha256);
    if (!endpoint) {
      return ErrorResponse(401, "the client certificate belongs to no enrolled endpoint");
    }
    if (endpoint->revoked.load(std::memory_order_relaxed)) {
      return ErrorResponse(401, "endpoint " + endpoint->id + " is revoked");
    }
    endpoint->last_seen.store(Now(), std::memory_order_relaxed);
    return HttpResponse{};
  }

  HttpResponse InternalError(const HttpRequest& request, const Error& error) {
    LogLine(request.method + " " + request.target + " from " + request.peer + ": " +
            error.message());
    return ErrorResponse(500, "the relay could not answer (see its log)");
  }

  // ---- POST /v1/enroll ----

  HttpResponse HandleEnroll(const HttpRequest& request) {
    auto parsed = ParseEnrollRequest(request.body);
    if (!parsed.ok()) {
      return InvalidRequest(parsed.error());
    }
    Result<std::optional<Enrolled>> enrolled = std::optional<Enrolled>();
    {
      ConnectionPool::Lease lease = pool_->Acquire();
      enrolled = Enroll(lease.db(), tls_, *parsed, Now());
    }
    if (!enrolled.ok()) {
      if (enrolled.error().kind() == ErrorKind::kInvalid) {
        return InvalidRequest(enrolled.error());
      }
      return InternalError(request, enrolled.error());
    }
    if (!enrolled->has_value()) {
      return ErrorResponse(401, "the enrolment token is unknown, used or expired");
    }
    const Enrolled& done = **enrolled;
    {
      std::unique_lock lock(endpoints_mutex_);
      AddLocked(done.endpoint);
    }
    LogLine("endpoint " + done.endpoint.id + " (" + done.endpoint.hostname + ") enrolled from " +
            request.peer);
    return JsonResponse(200, json::Object{{"endpoint_id", done.endpoint.id},
                                          {"certificate", done.certificate_pem},
                                          {"poll_seconds", options_.poll_seconds}});
  }

  // ---- POST /v1/checkin ----

  // The rendered answer for an inventory, or nullptr when the relay does not know the inventory
  // and `inventory` is null.
  Result<std::shared_ptr<const Offer>> OfferFor(CatalogState& state, const std::string& hash,
                                                const std::string& target_os,
                                                const bundler::Inventory* inventory) {
    const std::string key = OfferKey(hash, target_os);
    if (std::shared_ptr<const Offer> offer = state.FindOffer(key)) {
      return offer;
    }
    const ApplicabilityIndex& index = state.catalog().index();
    std::shared_ptr<const std::vector<Applicable>> applicable =
        cache_.Get(index, hash, inventory, target_os);
    if (!applicable) {
      std::optional<bundler::Inventory> stored;
      {
        ConnectionPool::Lease lease = pool_->Acquire();
        FERRY_ASSIGN_OR_RETURN(stored, GetInventory(lease.db(), hash));
      }
      if (!stored) {
        return std::shared_ptr<const Offer>();
      }
      applicable = cache_.Get(index, hash, &*stored, target_os);
    }
    std::shared_ptr<const Offer> offer =
        RenderOffer(state.catalog(), *applicable, options_.poll_seconds);
    state.StoreOffer(key, offer);
    return offer;
  }

  HttpResponse HandleCheckin(const HttpRequest& request, EndpointState& endpoint) {
    auto parsed = ParseCheckin(request.body);
    if (!parsed.ok()) {
      return InvalidRequest(parsed.error());
    }
    const CheckinRequest& checkin = *parsed;
    if (checkin.endpoint_id != endpoint.id) {
      return ErrorResponse(
          403, "this certificate belongs to " + endpoint.id + ", not " + checkin.endpoint_id);
    }
    const std::shared_ptr<CatalogState> state = CurrentCatalog();
    std::optional<bundler::Inventory> inventory;
    if (checkin.inventory) {
      // The hash first: a text that is not what it claims is refused before it is parsed.
      if (crypto::DigestHex(crypto::Sha256Of(*checkin.inventory)) != checkin.inventory_sha256) {
        return ErrorResponse(400, "request.inventory: its SHA-256 is not inventory_sha256");
      }
      // An inventory the relay already answers for is, by its hash, the text it stored: it is
      // neither parsed nor written again.
      if (!state->FindOffer(OfferKey(checkin.inventory_sha256, checkin.target_os))) {
        auto read = bundler::InventoryFromCanonical(*checkin.inventory);
        if (!read.ok()) {
          return InvalidRequest(std::move(read).error().Context("request.inventory"));
        }
        inventory = std::move(*read);
        const Status stored = writes_->Run([&](sql::Database& db) -> Status {
          auto put = PutInventory(db, *inventory);
          return put.ok() ? Ok() : Status(put.error());
        });
        if (!stored.ok()) {
          return InternalError(request, stored.error());
        }
      }
    }
    auto offer = OfferFor(*state, checkin.inventory_sha256, checkin.target_os,
                          inventory ? &*inventory : nullptr);
    if (!offer.ok()) {
      return InternalError(request, offer.error());
    }
    if (!*offer) {
      return JsonResponse(200, json::Object{{"need_inventory", true}});
    }
    const Offer& answer = **offer;
    if (const Status recorded = RecordCheckin(endpoint, checkin, answer, state->catalog());
        !recorded.ok()) {
      return InternalError(request, recorded.error());
    }
    HttpResponse response;
    response.body = answer.body;
    response.headers = {{"Content-Type", "application/json"}, {"Cache-Control", "no-store"}};
    return response;
  }

  // Writes what changed for the endpoint (inventory, target OS, needs, and then an endpoint.needs
  // event) before the answer goes out; an unchanged check-in writes nothing.
  Status RecordCheckin(EndpointState& endpoint, const CheckinRequest& checkin, const Offer& offer,
                       const ApprovedCatalog& catalog) {
    std::lock_guard lock(endpoint.mutex);
    const bool needs_changed = endpoint.needs_sha256 != offer.needs_sha256;
    if (!needs_changed && endpoint.inventory_sha256 == checkin.inventory_sha256 &&
        endpoint.target_os == checkin.target_os) {
      return Ok();
    }
    const UnixTime now = Now();
    // Check-ins of many endpoints that change at once (after an approval, every endpoint's needs
    // do) share commits: each waits for its own to be durable, not for everyone else's.
    const Status written = writes_->Run([&](sql::Database& db) -> Status {
      FERRY_RETURN_IF_ERROR(StoreCheckinState(db, endpoint.id, checkin.inventory_sha256,
                                              checkin.target_os, offer.needs_sha256, now));
      if (needs_changed) {
        FERRY_ASSIGN_OR_RETURN(
            const Event event,
            AppendEvent(db, "endpoint:" + endpoint.id, "endpoint.needs", endpoint.id,
                        json::Object{{"inventory_sha256", checkin.inventory_sha256},
                                     {"catalog_version", catalog.version()},
                                     {"patches", json::Array(offer.patch_ids.begin(),
                                                             offer.patch_ids.end())}}));
        (void)event;
      }
      return Ok();
    });
    if (!written.ok()) {
      return written;
    }
    endpoint.inventory_sha256 = checkin.inventory_sha256;
    endpoint.target_os = checkin.target_os;
    endpoint.needs_sha256 = offer.needs_sha256;
    return Ok();
  }

  // ---- POST /v1/reports ----

  HttpResponse HandleReports(const HttpRequest& request, EndpointState& endpoint) {
    auto parsed = ParseReports(request.body);
    if (!parsed.ok()) {
      return InvalidRequest(parsed.error());
    }
    if (parsed->endpoint_id != endpoint.id) {
      return ErrorResponse(
          403, "this certificate belongs to " + endpoint.id + ", not " + parsed->endpoint_id);
    }
    Result<size_t> recorded = size_t{0};
    {
      ConnectionPool::Lease lease = pool_->Acquire();
      recorded = RecordReports(lease.db(), endpoint.id, parsed->reports);
    }
    if (!recorded.ok()) {
      if (recorded.error().kind() == ErrorKind::kInvalid) {
        return InvalidRequest(recorded.error());
      }
      return InternalError(request, recorded.error());
    }
    json::Array accepted;
    for (const InstallReport& report : parsed->reports) {
      accepted.push_back(report.report_id);
    }
    return JsonResponse(200, json::Object{{"accepted", std::move(accepted)}});
  }

  // ---- GET /v1/manifests/<channel>/<sequence>, GET /v1/roots/<version> ----

  HttpResponse HandleManifest(const HttpRequest& request, const ApiTarget& target) {
    ConnectionPool::Lease lease = pool_->Acquire();
    auto query = lease.db().Prepare(
        "SELECT manifest, manifest_sha256 FROM bundles WHERE channel = ? AND sequence = ?");
    if (!query.ok()) {
      return InternalError(request, query.error());
    }
    query->Bind(1, target.name).Bind(2, target.number);
    auto row = query->Step();
    if (!row.ok()) {
      return InternalError(request, row.error());
    }
    if (!*row) {
      return ErrorResponse(404, "no manifest " + target.name + "/" + std::to_string(target.number));
    }
    return DocumentResponse(request, query->Text(0), query->Text(1));
  }

  HttpResponse HandleRoot(const HttpRequest& request, const ApiTarget& target) {
    ConnectionPool::Lease lease = pool_->Acquire();
    auto query = lease.db().Prepare("SELECT document FROM trust_roots WHERE version = ?");
    if (!query.ok()) {
      return InternalError(request, query.error());
    }
    query->Bind(1, target.number);
    auto row = query->Step();
    if (!row.ok()) {
      return InternalError(request, row.error());
    }
    if (!*row) {
      return ErrorResponse(404, "no trust root version " + std::to_string(target.number));
    }
    std::string document = query->Text(0);
    const std::string sha256 = crypto::DigestHex(crypto::Sha256Of(document));
    return DocumentResponse(request, std::move(document), sha256);
  }

  // ---- GET and HEAD /v1/payloads/<sha256> ----

  HttpResponse HandlePayload(const HttpRequest& request, const ApiTarget& target) {
    const auto digest = crypto::ParseDigestHex(target.name);
    if (!digest.ok()) {
      return ErrorResponse(404, "no such resource");
    }
    const std::string path = relay_.payloads().PathOf(*digest);
    struct stat st {};
    if (::stat(path.c_str(), &st) != 0 || !S_ISREG(st.st_mode)) {
      return ErrorResponse(404, "no payload " + target.name);
    }
    const uint64_t size = static_cast<uint64_t>(st.st_size);
    const std::string etag = QuotedEtag(target.name);
    HttpResponse response;
    response.headers = {
        {"Content-Type", "application/octet-stream"}, {"Accept-Ranges", "bytes"}, {"ETag", etag}};
    if (const std::string* match = request.Header("if-none-match");
        match && IfNoneMatchMatches(*match, etag)) {
      response.status = 304;
      return response;
    }
    RangeDecision decision;
    const std::string* range = request.Header("range");
    const std::string* if_range = request.Header("if-range");
    // A Range means nothing to HEAD, and an If-Range that is not our tag asks for everything.
    if (range && request.method == "GET" && (!if_range || IfRangeAllows(*if_range, etag))) {
      decision = EvaluateRange(*range, size);
    }
    switch (decision.outcome) {
      case RangeOutcome::kWhole:
        response.file = FileSlice{path, 0, size};
        return response;
      case RangeOutcome::kPartial:
        response.status = 206;
        response.headers.emplace_back("Content-Range", ContentRangeHeader(decision.range, size));
        response.file = FileSlice{path, decision.range.first, decision.range.length};
        return response;
      case RangeOutcome::kUnsatisfiable:
        break;
    }
    HttpResponse refused = ErrorResponse(416, "range not satisfiable");
    refused.headers.emplace_back("Content-Range", UnsatisfiedRangeHeader(size));
    refused.headers.emplace_back("Accept-Ranges", "bytes");
    return refused;
  }

  // ---- GET /v1/endpoints/<id> ----

  HttpResponse HandleEndpoint(const HttpRequest& request, const ApiTarget& target,
                              EndpointState& endpoint) {
    if (target.name != endpoint.id) {
      return ErrorResponse(403,
                           "this certificate belongs to " + endpoint.id + ", not " + target.name);
    }
    std::optional<EndpointRecord> record;
    std::vector<StoredReport> reports;
    {
      ConnectionPool::Lease lease = pool_->Acquire();
      auto found = FindEndpoint(lease.db(), endpoint.id);
      if (!found.ok()) {
        return InternalError(request, found.error());
      }
      record = std::move(*found);
      auto recent = RecentReports(lease.db(), endpoint.id, kEndpointReportLimit);
      if (!recent.ok()) {
        return InternalError(request, recent.error());
      }
      reports = std::move(*recent);
    }
    if (!record) {
      return InternalError(request, IoError("endpoint " + endpoint.id + " left the database"));
    }
    json::Array needs;
    std::optional<std::string> inventory_sha256;
    std::string target_os;
    {
      std::lock_guard lock(endpoint.mutex);
      inventory_sha256 = endpoint.inventory_sha256;
      target_os = endpoint.target_os;
    }
    if (inventory_sha256) {
      const std::shared_ptr<CatalogState> state = CurrentCatalog();
      auto offer = OfferFor(*state, *inventory_sha256, target_os, nullptr);
      if (!offer.ok()) {
        return InternalError(request, offer.error());
      }
      if (*offer) {
        needs.assign((*offer)->patch_ids.begin(), (*offer)->patch_ids.end());
      }
    }
    json::Array report_json;
    for (const StoredReport& stored : reports) {
      report_json.push_back(StoredReportToJson(stored));
    }
    json::Object out{{"endpoint_id", record->id},
                     {"hostname", record->hostname},
                     {"enrolled", FormatTime(record->enrolled_at)},
                     {"needs", std::move(needs)},
                     {"reports", std::move(report_json)}};
    const int64_t seen = std::max(endpoint.last_seen.load(), record->last_seen.value_or(0));
    if (seen > 0) {
      out["last_seen"] = FormatTime(seen);
    }
    if (inventory_sha256) {
      out["inventory_sha256"] = *inventory_sha256;
    }
    return JsonResponse(200, out);
  }

  // ---- background ----

  void Background() {
    auto next_flush = std::chrono::steady_clock::now() + options_.flush_interval;
    std::unique_lock lock(stop_mutex_);
    while (!drained_) {
      stop_signal_.wait_for(lock, options_.refresh_interval);
      if (drained_) {
        break;
      }
      lock.unlock();
      if (const Status refreshed = Refresh(); !refreshed.ok()) {
        LogLine("refreshing the catalog and revocations: " + refreshed.error().message());
      }
      if (std::chrono::steady_clock::now() >= next_flush) {
        next_flush = std::chrono::steady_clock::now() + options_.flush_interval;
        if (const Status flushed = FlushLastSeen(); !flushed.ok()) {
          LogLine("writing last_seen times: " + flushed.error().message());
        }
      }
      lock.lock();
    }
  }

  Relay relay_;  // its connection serves Load() and Refresh(), under refresh_mutex_
  std::unique_ptr<ConnectionPool> pool_;
  std::unique_ptr<GroupCommit> writes_;  // check-in state changes
  const RelayApiOptions options_;
  const TlsFiles tls_;

  mutable std::shared_mutex endpoints_mutex_;
  std::unordered_map<crypto::Sha256Digest, std::shared_ptr<EndpointState>, DigestHasher>
      by_certificate_;
  std::unordered_map<std::string, std::shared_ptr<EndpointState>> by_id_;

  mutable std::mutex catalog_mutex_;
  std::shared_ptr<CatalogState> catalog_;
  ApplicabilityCache cache_;

  std::mutex refresh_mutex_;
  int64_t revocation_seq_ = 0;
  std::mutex flush_mutex_;

  std::mutex stop_mutex_;
  std::condition_variable stop_signal_;
  bool drained_ = false;
  std::thread background_;
};

Result<std::unique_ptr<RelayApi>> RelayApi::Open(const std::string& data_dir,
                                                 RelayApiOptions options) {
  FERRY_ASSIGN_OR_RETURN(Relay relay, Relay::Open(data_dir, Relay::Access::kReadWrite));
  FERRY_ASSIGN_OR_RETURN(std::unique_ptr<ConnectionPool> pool,
                         ConnectionPool::Open(relay.dir().database(), options.connections));
  FERRY_ASSIGN_OR_RETURN(std::unique_ptr<GroupCommit> writes,
                         GroupCommit::Open(relay.dir().database()));
  auto impl = std::make_unique<Impl>(std::move(relay), std::move(pool), std::move(writes), options);
  FERRY_RETURN_IF_ERROR(impl->Load());
  impl->StartBackground();
  return std::unique_ptr<RelayApi>(new RelayApi(std::move(impl)));
}

RelayApi::RelayApi(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

RelayApi::~RelayApi() { impl_->Drain(); }

RequestLimits RelayApi::LimitsFor(const HttpRequest& head) const { return impl_->LimitsFor(head); }

HttpResponse RelayApi::Handle(const HttpRequest& request) {
  // One request's failure (memory exhausted, a library throwing) must not end the server thread
  // that called it: it becomes that request's 500.
  try {
    return impl_->Handle(request);
  } catch (const std::exception& e) {
    LogLine(request.method + " " + request.target + ": " + e.what());
  } catch (...) {
    LogLine(request.method + " " + request.target + ": unknown exception");
  }
  return ErrorResponse(500, "the relay could not answer (see its log)");
}

void RelayApi::Drain() { impl_->Drain(); }

Status RelayApi::Refresh() { return impl_->Refresh(); }

Status RelayApi::FlushLastSeen() { return impl_->FlushLastSeen(); }

RelayApi::Stats RelayApi::stats() const { return impl_->stats(); }

}  // namespace ferry::relay
