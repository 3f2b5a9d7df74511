// RelayApi driven through HttpRequest values over a real relay data directory: real bundles built
// from real .deb files and imported, real CSRs signed by the relay's CA, real SQLite. No sockets:
// the HTTPS server has its own tests.

#include "relay/api.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <cctype>
#include <thread>

#include "tests/relay/api_fixture.hpp"

namespace ferry::relay {
namespace {

class ApiTest : public RelayApiFixture {};

// ---- enrolment ----

TEST_F(ApiTest, EnrolmentSignsTheCsrAndUsesTheTokenOnce) {
  auto key = endpoint::MakeClientKeyAndCsr("anything");
  ASSERT_TRUE(key.ok());
  const std::string token = NewToken();
  const HttpResponse response = Call("POST", "/v1/enroll", EnrollBody(token, key->csr_pem));
  ASSERT_EQ(response.status, 200) << response.body;
  const json::Object answer = JsonOf(response).as_object();
  EXPECT_EQ(answer.size(), 3u);
  EXPECT_EQ(answer.at("poll_seconds").as_int(), 900);
  const std::string id = answer.at("endpoint_id").as_string();
  EXPECT_TRUE(IsEndpointIdShape(id)) << id;
  const std::string certificate = answer.at("certificate").as_string();
  // The agent's own check: our key, our CA, CN = the id, client authentication.
  const std::string ca = testing::ReadAll(TlsFilesIn(data_).ca_cert);
  const Status checked = endpoint::CheckClientCertificate(certificate, key->key_pem, ca, id, Now());
  EXPECT_TRUE(checked.ok()) << checked.error().message();

  const auto row = FindEndpoint(relay_->db(), id);
  ASSERT_TRUE(row.ok() && row->has_value());
  EXPECT_EQ((*row)->hostname, "ward-3-pc");
  EXPECT_EQ((*row)->target_os, "debian-12");
  EXPECT_EQ((*row)->certificate_sha256, *CertificatePemFingerprint(certificate));
  const auto tokens = ListEnrollmentTokens(relay_->db());
  ASSERT_EQ(tokens->size(), 1u);
  EXPECT_EQ(tokens->front().used_by, id);

  const auto enrolled = EventsOfType("endpoint.enrolled");
  ASSERT_EQ(enrolled.size(), 1u);
  EXPECT_EQ(enrolled[0].actor, "endpoint:" + id);
  EXPECT_EQ(enrolled[0].subject, id);
  EXPECT_EQ(enrolled[0].details, (json::Object{{"hostname", "ward-3-pc"},
                                               {"certificate_sha256", (*row)->certificate_sha256},
                                               {"token_id", tokens->front().token_id},
                                               {"target_os", "debian-12"}}));

  // The same token again: refused, nothing added.
  auto other = endpoint::MakeClientKeyAndCsr("other");
  const HttpResponse again = Call("POST", "/v1/enroll", EnrollBody(token, other->csr_pem));
  EXPECT_EQ(again.status, 401);
  EXPECT_EQ(Field(again, "error"), kTokenRefused);
  EXPECT_EQ(CountRows("SELECT COUNT(*) FROM endpoints"), 1);
  EXPECT_EQ(EventsOfType("endpoint.enrolled").size(), 1u);
}

TEST_F(ApiTest, UnknownExpiredAndMalformedTokensGetOneAnswer) {
  auto key = endpoint::MakeClientKeyAndCsr("x");
  const std::string expired = NewToken(60);
  ASSERT_TRUE(relay_->db().Execute("UPDATE enrollment_tokens SET expires_at = 1").ok());
  const std::string unknown = "fet_" + std::string(32, '0');
  for (const std::string& token : {expired, unknown, std::string("hello"), std::string()}) {
    const HttpResponse response = Call("POST", "/v1/enroll", EnrollBody(token, key->csr_pem));
    EXPECT_EQ(response.status, 401) << token;
    EXPECT_EQ(response.body, "{\"error\":\"" + std::string(kTokenRefused) + "\"}");
  }
  EXPECT_EQ(CountRows("SELECT COUNT(*) FROM endpoints"), 0);
  EXPECT_EQ(CountRows("SELECT COUNT(*) FROM enrollment_tokens WHERE used_at IS NOT NULL"), 0);
}

TEST_F(ApiTest, ABadCsrOrBodyIs400AndLeavesTheTokenUnused) {
  const std::string token = NewToken();
  const HttpResponse bad_csr = Call("POST", "/v1/enroll", EnrollBody(token, "not a csr"));
  EXPECT_EQ(bad_csr.status, 400);
  EXPECT_NE(Field(bad_csr, "error").find("CSR"), std::string::npos) << bad_csr.body;
  auto key = endpoint::MakeClientKeyAndCsr("x");
  // A certificate where the CSR belongs is refused too.
  const std::string ca = testing::ReadAll(TlsFilesIn(data_).ca_cert);
  EXPECT_EQ(Call("POST", "/v1/enroll", EnrollBody(token, ca)).status, 400);
  EXPECT_EQ(Call("POST", "/v1/enroll", EnrollBody(token, key->csr_pem, "bad_host")).status, 400);
  EXPECT_EQ(Call("POST", "/v1/enroll", EnrollBody(token, key->csr_pem, "")).status, 400);
  EXPECT_EQ(Call("POST", "/v1/enroll", "{\"token\":\"" + token + "\"}").status, 400);
  EXPECT_EQ(Call("POST", "/v1/enroll", "not json").status, 400);
  json::Object extra{{"token", token},
                     {"csr", key->csr_pem},
                     {"hostname", "h"},
                     {"target_os", "debian-12"},
                     {"admin", true}};
  EXPECT_EQ(Call("POST", "/v1/enroll", *json::Canonical(extra)).status, 400);
  EXPECT_EQ(CountRows("SELECT COUNT(*) FROM endpoints"), 0);
  // The token still works.
  EXPECT_EQ(Call("POST", "/v1/enroll", EnrollBody(token, key->csr_pem)).status, 200);
}

// ---- check-in ----

TEST_F(ApiTest, CheckinAsksForTheInventoryThenAnswersFromItsHash) {
  const Enrolment ep = Enrol();
  const std::string inventory = OldInventory();
  const HttpResponse first =
      Call("POST", "/v1/checkin", CheckinBody(ep.id, inventory, false), ep.fingerprint);
  ASSERT_EQ(first.status, 200) << first.body;
  EXPECT_EQ(first.body, "{\"need_inventory\":true}");
  EXPECT_TRUE(EventsOfType("endpoint.needs").empty());

  const HttpResponse full =
      Call("POST", "/v1/checkin", CheckinBody(ep.id, inventory, true), ep.fingerprint);
  ASSERT_EQ(full.status, 200) << full.body;
  const json::Object answer = JsonOf(full).as_object();
  EXPECT_EQ(answer.at("catalog_version").as_int(), *relay_->GetMetaInt(kMetaCatalogVersion, 0));
  EXPECT_EQ(answer.at("poll_seconds").as_int(), 900);
  EXPECT_EQ(answer.at("root_version").as_int(), 1);
  // libfoo1 is approved and applicable; libbaz applies but is not approved; bar is not approved.
  const json::Array& patches = answer.at("patches").as_array();
  ASSERT_EQ(patches.size(), 1u) << full.body;
  const json::Object& foo = patches[0].as_object();
  const auto stored = FindPatch(relay_->db(), kFoo);
  ASSERT_TRUE(stored.ok() && stored->has_value());
  EXPECT_EQ(foo, (json::Object{{"id", kFoo},
                               {"kind", "deb"},
                               {"package", "libfoo1"},
                               {"version", "1.0-1"},
                               {"architecture", "amd64"},
                               {"severity", (*stored)->severity},
                               {"reboot", false},
                               {"manifest", "stable/1"},
                               {"payload_sha256", crypto::DigestHex((*stored)->payload.sha256)},
                               {"payload_size", (*stored)->payload.size}}));
  const auto bundle = FindBundle(relay_->db(), "stable", 1);
  EXPECT_EQ(answer.at("manifests"),
            json::Value(json::Array{
                json::Object{{"ref", "stable/1"}, {"sha256", (*bundle)->manifest_sha256}}}));

  // Stored once, recorded on the endpoint, one needs event.
  EXPECT_EQ(CountRows("SELECT COUNT(*) FROM inventories"), 1);
  const auto row = FindEndpoint(relay_->db(), ep.id);
  EXPECT_EQ((*row)->inventory_sha256, Sha256Hex(inventory));
  const auto needs = EventsOfType("endpoint.needs");
  ASSERT_EQ(needs.size(), 1u);
  EXPECT_EQ(needs[0].actor, "endpoint:" + ep.id);
  EXPECT_EQ(needs[0].details, (json::Object{{"inventory_sha256", Sha256Hex(inventory)},
                                            {"catalog_version", answer.at("catalog_version")},
                                            {"patches", json::Array{kFoo}}}));
  EXPECT_EQ((*row)->needs_sha256, Sha256Hex("[\"" + std::string(kFoo) + "\"]"));

  // The hash alone now gets the same answer, and no new event.
  const HttpResponse hash_only =
      Call("POST", "/v1/checkin", CheckinBody(ep.id, inventory, false), ep.fingerprint);
  EXPECT_EQ(hash_only.status, 200);
  EXPECT_EQ(hash_only.body, full.body);
  EXPECT_EQ(EventsOfType("endpoint.needs").size(), 1u);
  EXPECT_EQ(CountRows("SELECT COUNT(*) FROM inventories"), 1);
}

TEST_F(ApiTest, AnApprovalChangesTheAnswerAndRecordsNewNeedsOnce) {
  const Enrolment ep = Enrol();
  const std::string inventory = OldInventory();
  ASSERT_EQ(Call("POST", "/v1/checkin", CheckinBody(ep.id, inventory, true), ep.fingerprint).status,
            200);
  const int64_t before = *relay_->GetMetaInt(kMetaCatalogVersion, 0);
  Approve({kBar});
  EXPECT_EQ(*relay_->GetMetaInt(kMetaCatalogVersion, 0), before + 1);
  ASSERT_TRUE(api_->Refresh().ok());
  EXPECT_EQ(api_->stats().catalog_version, before + 1);
  const HttpResponse after =
      Call("POST", "/v1/checkin", CheckinBody(ep.id, inventory, false), ep.fingerprint);
  ASSERT_EQ(after.status, 200) << after.body;
  const json::Object answer = JsonOf(after).as_object();
  EXPECT_EQ(answer.at("catalog_version").as_int(), before + 1);
  std::vector<std::string> ids;
  for (const json::Value& patch : answer.at("patches").as_array()) {
    ids.push_back(patch.as_object().at("id").as_string());
  }
  EXPECT_EQ(ids, (std::vector<std::string>{kBar, kFoo}));   // sorted by id
  EXPECT_EQ(answer.at("manifests").as_array().size(), 1u);  // one bundle, named once
  ASSERT_EQ(EventsOfType("endpoint.needs").size(), 2u);
  EXPECT_EQ(EventsOfType("endpoint.needs")[1].details.at("patches"),
            json::Value(json::Array{kBar, kFoo}));
  // Approving something this endpoint does not have changes the version, not its needs.
  Approve({kBaz});
  ASSERT_TRUE(api_->Refresh().ok());
  const std::string up_to_date = InventoryText(
      {{"libfoo1", "amd64", "1.0-1"}, {"bar", "all", "1.0-1"}, {"dpkg", "amd64", "1.21.22"}});
  ASSERT_EQ(
      Call("POST", "/v1/checkin", CheckinBody(ep.id, up_to_date, true), ep.fingerprint).status,
      200);
  ASSERT_EQ(EventsOfType("endpoint.needs").size(), 3u);
  EXPECT_EQ(EventsOfType("endpoint.needs")[2].details.at("patches"),
            json::Value(json::Array{kBar}));
}

TEST_F(ApiTest, AnInventoryThatIsNotWhatItClaimsIsRefused) {
  const Enrolment ep = Enrol();
  const std::string inventory = OldInventory();
  json::Object body =
      JsonOf(HttpResponse{200, {}, CheckinBody(ep.id, inventory, true)}).as_object();
  body["inventory_sha256"] = std::string(64, 'a');
  HttpResponse response = Call("POST", "/v1/checkin", *json::Canonical(body), ep.fingerprint);
  EXPECT_EQ(response.status, 400);
  EXPECT_NE(Field(response, "error").find("inventory_sha256"), std::string::npos);
  // Not canonical (a space), unsorted, or not an inventory at all.
  for (const std::string& bad :
       {std::string("[[\"a\", \"amd64\", \"1\"]]"),
        std::string("[[\"b\",\"amd64\",\"1\"],[\"a\",\"amd64\",\"1\"]]"), std::string("{}")}) {
    body["inventory"] = bad;
    body["inventory_sha256"] = Sha256Hex(bad);
    response = Call("POST", "/v1/checkin", *json::Canonical(body), ep.fingerprint);
    EXPECT_EQ(response.status, 400) << bad;
  }
  body = JsonOf(HttpResponse{200, {}, CheckinBody(ep.id, inventory, false)}).as_object();
  body["inventory_sha256"] = Sha256Hex(inventory).substr(0, 63) + "A";
  EXPECT_EQ(Call("POST", "/v1/checkin", *json::Canonical(body), ep.fingerprint).status, 400);
  body["inventory_sha256"] = Sha256Hex(inventory);
  body["target_os"] = "../etc";
  EXPECT_EQ(Call("POST", "/v1/checkin", *json::Canonical(body), ep.fingerprint).status, 400);
  body["target_os"] = "debian-12";
  body["surprise"] = 1;
  EXPECT_EQ(Call("POST", "/v1/checkin", *json::Canonical(body), ep.fingerprint).status, 400);
  EXPECT_EQ(CountRows("SELECT COUNT(*) FROM inventories"), 0);
  EXPECT_TRUE(EventsOfType("endpoint.needs").empty());
}

TEST_F(ApiTest, LastSeenIsBatchedAndWrittenAtFlushAndDrain) {
  const Enrolment ep = Enrol();
  EXPECT_FALSE((*FindEndpoint(relay_->db(), ep.id))->last_seen.has_value());
  ASSERT_EQ(
      Call("POST", "/v1/checkin", CheckinBody(ep.id, OldInventory(), false), ep.fingerprint).status,
      200);
  // need_inventory changed nothing durable, so the time waits in memory.
  EXPECT_FALSE((*FindEndpoint(relay_->db(), ep.id))->last_seen.has_value());
  const UnixTime before = Now();
  ASSERT_TRUE(api_->FlushLastSeen().ok());
  const auto seen = (*FindEndpoint(relay_->db(), ep.id))->last_seen;
  ASSERT_TRUE(seen.has_value());
  EXPECT_GE(*seen, before - 2);
  // Any authenticated request counts as contact; Drain writes what is still in memory.
  std::this_thread::sleep_for(std::chrono::milliseconds(1100));
  ASSERT_EQ(Call("GET", "/v1/endpoints/" + ep.id, "", ep.fingerprint).status, 200);
  EXPECT_EQ((*FindEndpoint(relay_->db(), ep.id))->last_seen, seen);
  api_->Drain();
  EXPECT_GT(*(*FindEndpoint(relay_->db(), ep.id))->last_seen, *seen);
}

TEST_F(ApiTest, ARestartedApiKnowsItsEndpointsAndInventories) {
  const Enrolment ep = Enrol();
  const std::string inventory = OldInventory();
  const HttpResponse full =
      Call("POST", "/v1/checkin", CheckinBody(ep.id, inventory, true), ep.fingerprint);
  ASSERT_EQ(full.status, 200);
  OpenApi();
  EXPECT_EQ(api_->stats().endpoints, 1u);
  const HttpResponse hash_only =
      Call("POST", "/v1/checkin", CheckinBody(ep.id, inventory, false), ep.fingerprint);
  EXPECT_EQ(hash_only.status, 200);
  EXPECT_EQ(hash_only.body, full.body);
  EXPECT_EQ(EventsOfType("endpoint.needs").size(), 1u);
}

TEST_F(ApiTest, ConcurrentCheckinsAnswerAlikeAndRecordEachEndpointOnce) {
  std::vector<Enrolment> endpoints;
  for (int i = 0; i < 8; ++i) {
    endpoints.push_back(Enrol("host-" + std::to_string(i)));
  }
  const std::string inventory = OldInventory();
  ASSERT_EQ(Call("POST", "/v1/checkin", CheckinBody(endpoints[0].id, inventory, true),
                 endpoints[0].fingerprint)
                .status,
            200);
  const std::string expected =
      Call("POST", "/v1/checkin", CheckinBody(endpoints[0].id, inventory, false),
           endpoints[0].fingerprint)
          .body;
  std::atomic<int> wrong{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (int round = 0; round < 50; ++round) {
        const Enrolment& ep = endpoints[static_cast<size_t>((t + round) % 8)];
        const HttpResponse response =
            Call("POST", "/v1/checkin", CheckinBody(ep.id, inventory, false), ep.fingerprint);
        if (response.status != 200 || response.body != expected) {
          ++wrong;
        }
      }
    });
  }
  for (std::thread& thread : threads) {
    thread.join();
  }
  EXPECT_EQ(wrong.load(), 0);
  EXPECT_EQ(EventsOfType("endpoint.needs").size(), 8u);
  EXPECT_EQ(api_->stats().applicability_evaluations, 1u);
  EXPECT_TRUE(CheckEventLog(relay_->db()).ok());
}

// ---- manifests and roots ----

TEST_F(ApiTest, ManifestsAreTheImportedBytesWithTheirHashAsETag) {
  const Enrolment ep = Enrol();
  const std::string manifest =
      testing::Run("tar -xOf '" + (*shared_ / "b1.ferry") + "' manifest.json").out;
  ASSERT_FALSE(manifest.empty());
  const HttpResponse response = Call("GET", "/v1/manifests/stable/1", "", ep.fingerprint);
  ASSERT_EQ(response.status, 200) << response.body;
  EXPECT_EQ(response.body, manifest);
  const std::string etag = "\"" + Sha256Hex(manifest) + "\"";
  EXPECT_EQ(HeaderOf(response, "ETag"), etag);
  EXPECT_EQ(HeaderOf(response, "Content-Type"), "application/json");
  EXPECT_FALSE(response.head_only);

  const HttpResponse head = Call("HEAD", "/v1/manifests/stable/1", "", ep.fingerprint);
  EXPECT_EQ(head.status, 200);
  EXPECT_TRUE(head.head_only);
  EXPECT_EQ(head.body.size(), manifest.size());  // for Content-Length

  const HttpResponse cached =
      Call("GET", "/v1/manifests/stable/1", "", ep.fingerprint, {{"if-none-match", etag}});
  EXPECT_EQ(cached.status, 304);
  EXPECT_TRUE(cached.body.empty());
  EXPECT_EQ(HeaderOf(cached, "ETag"), etag);

  EXPECT_EQ(Call("GET", "/v1/manifests/stable/2", "", ep.fingerprint).status, 404);
  EXPECT_EQ(Call("GET", "/v1/manifests/other/1", "", ep.fingerprint).status, 404);
}

TEST_F(ApiTest, RootsAreTheAcceptedDocuments) {
  const Enrolment ep = Enrol();
  const HttpResponse response = Call("GET", "/v1/roots/1", "", ep.fingerprint);
  ASSERT_EQ(response.status, 200);
  EXPECT_EQ(response.body, root_->text);
  EXPECT_EQ(HeaderOf(response, "ETag"), "\"" + Sha256Hex(root_->text) + "\"");
  EXPECT_EQ(Call("GET", "/v1/roots/2", "", ep.fingerprint).status, 404);
  EXPECT_EQ(Call("GET", "/v1/roots/0", "", ep.fingerprint).status, 404);
}

// ---- payloads ----

TEST_F(ApiTest, PayloadsStreamFromTheStoreWithRangesAndETags) {
  const Enrolment ep = Enrol();
  const auto patch = FindPatch(relay_->db(), kFoo);
  const std::string hex = crypto::DigestHex((*patch)->payload.sha256);
  const uint64_t size = (*patch)->payload.size;
  const std::string target = "/v1/payloads/" + hex;
  const std::string etag = "\"" + hex + "\"";

  const HttpResponse whole = Call("GET", target, "", ep.fingerprint);
  ASSERT_EQ(whole.status, 200) << whole.body;
  ASSERT_TRUE(whole.file.has_value());
  EXPECT_EQ(whole.file->path, relay_->payloads().PathOf((*patch)->payload.sha256));
  EXPECT_EQ(whole.file->offset, 0u);
  EXPECT_EQ(whole.file->length, size);
  EXPECT_EQ(Sha256Hex(testing::ReadAll(whole.file->path)), hex);
  EXPECT_EQ(HeaderOf(whole, "ETag"), etag);
  EXPECT_EQ(HeaderOf(whole, "Accept-Ranges"), "bytes");
  EXPECT_EQ(HeaderOf(whole, "Content-Type"), "application/octet-stream");

  const HttpResponse head = Call("HEAD", target, "", ep.fingerprint, {{"range", "bytes=0-9"}});
  EXPECT_EQ(head.status, 200);
  EXPECT_TRUE(head.head_only);
  EXPECT_EQ(head.file->length, size);

  const auto partial = [&](const std::string& range, uint64_t first, uint64_t length) {
    const HttpResponse r = Call("GET", target, "", ep.fingerprint, {{"range", range}});
    EXPECT_EQ(r.status, 206) << range;
    ASSERT_TRUE(r.file.has_value()) << range;
    EXPECT_EQ(r.file->offset, first) << range;
    EXPECT_EQ(r.file->length, length) << range;
    EXPECT_EQ(HeaderOf(r, "Content-Range"), "bytes " + std::to_string(first) + "-" +
                                                std::to_string(first + length - 1) + "/" +
                                                std::to_string(size));
  };
  partial("bytes=0-99", 0, 100);
  partial("bytes=100-", 100, size - 100);
  partial("bytes=-10", size - 10, 10);
  partial("bytes=10-99999999", 10, size - 10);
  partial("bytes=-99999999", 0, size);

  const HttpResponse beyond =
      Call("GET", target, "", ep.fingerprint, {{"range", "bytes=" + std::to_string(size) + "-"}});
  EXPECT_EQ(beyond.status, 416);
  EXPECT_EQ(HeaderOf(beyond, "Content-Range"), "bytes */" + std::to_string(size));
  EXPECT_FALSE(beyond.file.has_value());

  const HttpResponse several =
      Call("GET", target, "", ep.fingerprint, {{"range", "bytes=0-1,5-6"}});
  EXPECT_EQ(several.status, 200);
  EXPECT_EQ(several.file->length, size);
  EXPECT_EQ(Call("GET", target, "", ep.fingerprint, {{"range", "lines=1-2"}}).status, 200);
  // An If-Range naming another version asks for the whole file.
  EXPECT_EQ(Call("GET", target, "", ep.fingerprint,
                 {{"range", "bytes=0-9"}, {"if-range", "\"something-else\""}})
                .status,
            200);
  EXPECT_EQ(
      Call("GET", target, "", ep.fingerprint, {{"range", "bytes=0-9"}, {"if-range", etag}}).status,
      206);

  for (const std::string& match : {etag, std::string("*"), "\"x\", W/" + etag}) {
    const HttpResponse not_modified =
        Call("GET", target, "", ep.fingerprint, {{"if-none-match", match}});
    EXPECT_EQ(not_modified.status, 304) << match;
    EXPECT_FALSE(not_modified.file.has_value());
    EXPECT_EQ(HeaderOf(not_modified, "ETag"), etag);
  }
  EXPECT_EQ(Call("GET", target, "", ep.fingerprint, {{"if-none-match", "\"other\""}}).status, 200);

  EXPECT_EQ(Call("GET", "/v1/payloads/" + std::string(64, '0'), "", ep.fingerprint).status, 404);
}

// ---- reports ----

TEST_F(ApiTest, ReportsAreRecordedOnceAndAcceptedAgain) {
  const Enrolment ep = Enrol();
  const json::Array reports{Report("r-0001-abcd", kFoo), Report("r-0002-abcd", kBaz, "failed")};
  const HttpResponse first =
      Call("POST", "/v1/reports", ReportsBody(ep.id, reports), ep.fingerprint);
  ASSERT_EQ(first.status, 200) << first.body;
  EXPECT_EQ(first.body, "{\"accepted\":[\"r-0001-abcd\",\"r-0002-abcd\"]}");
  auto events = EventsOfType("install.reported");
  ASSERT_EQ(events.size(), 2u);
  const auto foo = FindPatch(relay_->db(), kFoo);
  json::Object expected{{"endpoint", ep.id},
                        {"report_id", "r-0001-abcd"},
                        {"result", "installed"},
                        {"exit_code", 0},
                        {"started", "2026-01-02T03:04:05Z"},
                        {"finished", "2026-01-02T03:04:35Z"},
                        {"package", "libfoo1"},
                        {"version", "1.0-1"},
                        {"severity", (*foo)->severity},
                        {"log_sha256", Sha256Hex("Setting up " + std::string(kFoo) + " ...\n")}};
  if ((*foo)->released) {
    expected["released"] = FormatTime(*(*foo)->released);
  }
  EXPECT_EQ(events[0].details, expected);
  EXPECT_EQ(events[0].subject, kFoo);
  EXPECT_EQ(events[0].actor, "endpoint:" + ep.id);

  // Resent after a lost answer: accepted, no second event, no second row.
  const HttpResponse again =
      Call("POST", "/v1/reports", ReportsBody(ep.id, reports), ep.fingerprint);
  EXPECT_EQ(again.status, 200);
  EXPECT_EQ(again.body, first.body);
  EXPECT_EQ(EventsOfType("install.reported").size(), 2u);
  EXPECT_EQ(CountRows("SELECT COUNT(*) FROM reports"), 2);

  const HttpResponse mine = Call("GET", "/v1/endpoints/" + ep.id, "", ep.fingerprint);
  ASSERT_EQ(mine.status, 200) << mine.body;
  const json::Object view = JsonOf(mine).as_object();
  EXPECT_EQ(view.at("endpoint_id").as_string(), ep.id);
  EXPECT_EQ(view.at("hostname").as_string(), "ward-3-pc");
  ASSERT_EQ(view.at("reports").as_array().size(), 2u);
  EXPECT_EQ(view.at("reports").as_array()[0].as_object().at("report_id").as_string(),
            "r-0002-abcd");  // newest first
}

TEST_F(ApiTest, AnyBadReportRefusesTheWholeRequest) {
  const Enrolment ep = Enrol();
  const auto refused = [&](const json::Array& reports) {
    const HttpResponse response =
        Call("POST", "/v1/reports", ReportsBody(ep.id, reports), ep.fingerprint);
    EXPECT_EQ(response.status, 400) << response.body;
  };
  refused({Report("r-0001-abcd", kFoo), Report("r-0002-abcd", "no-such-patch_1_amd64")});
  refused({Report("r-0001-abcd", kFoo, "maybe")});
  refused({Report("SHOUTING-ID", kFoo)});
  refused({Report("short", kFoo)});
  refused({});
  json::Array many;
  for (int i = 0; i < 101; ++i) {
    many.push_back(Report("r-" + std::to_string(100000 + i), kFoo));
  }
  refused(many);
  json::Object backwards = Report("r-0003-abcd", kFoo);
  backwards["finished"] = "2026-01-01T00:00:00Z";
  refused({backwards});
  json::Object long_log = Report("r-0004-abcd", kFoo);
  long_log["log_excerpt"] = std::string(8 * 1024 + 1, 'x');
  refused({long_log});
  json::Object odd_time = Report("r-0005-abcd", kFoo);
  odd_time["started"] = "yesterday";
  refused({odd_time});
  EXPECT_EQ(CountRows("SELECT COUNT(*) FROM reports"), 0);
  EXPECT_TRUE(EventsOfType("install.reported").empty());
}

// ---- authentication ----

TEST_F(ApiTest, EveryRouteButEnrolNeedsAnEnrolledCertificate) {
  const Enrolment ep = Enrol();
  const std::string hex = crypto::DigestHex((*FindPatch(relay_->db(), kFoo))->payload.sha256);
  const std::vector<std::pair<std::string, std::string>> routes = {
      {"POST", "/v1/checkin"},           {"POST", "/v1/reports"},
      {"GET", "/v1/manifests/stable/1"}, {"GET", "/v1/roots/1"},
      {"GET", "/v1/payloads/" + hex},    {"HEAD", "/v1/payloads/" + hex},
      {"GET", "/v1/endpoints/" + ep.id}};
  for (const auto& [method, target] : routes) {
    EXPECT_EQ(Call(method, target, "").status, 401) << method << " " << target;
    EXPECT_EQ(Call(method, target, "", std::string(64, 'e')).status, 401) << target;
    EXPECT_EQ(Call(method, target, "", "not-hex").status, 401) << target;
  }
  EXPECT_EQ(Call("GET", "/v1/roots/1", "", ep.fingerprint).status, 200);
}

TEST_F(ApiTest, ARevokedEndpointIsRefused) {
  const Enrolment ep = Enrol();
  const Enrolment other = Enrol("other-pc");
  auto revoked = RevokeEndpoint(relay_->db(), ep.id, "operator:test");
  ASSERT_TRUE(revoked.ok() && *revoked);
  ASSERT_TRUE(api_->Refresh().ok());
  const HttpResponse refused = Call("GET", "/v1/roots/1", "", ep.fingerprint);
  EXPECT_EQ(refused.status, 401);
  EXPECT_EQ(Field(refused, "error"), "endpoint " + ep.id + " is revoked");
  EXPECT_EQ(api_->LimitsFor(HttpRequest{"POST", "/v1/checkin", {}, "", ep.fingerprint, ""})
                .max_body_bytes,
            kUnauthenticatedBodyLimit);
  EXPECT_EQ(Call("GET", "/v1/roots/1", "", other.fingerprint).status, 200);
  // Revoking again changes nothing and writes no second event.
  EXPECT_FALSE(*RevokeEndpoint(relay_->db(), ep.id, "operator:test"));
  EXPECT_EQ(EventsOfType("endpoint.revoked").size(), 1u);
  EXPECT_EQ(RevokeEndpoint(relay_->db(), "ep-0000000000000000", "operator:test").error().kind(),
            ErrorKind::kUsage);
}

TEST_F(ApiTest, TheBackgroundThreadAppliesARevocationWithinSeconds) {
  OpenApi(RelayApiOptions{.refresh_interval = std::chrono::milliseconds(100)});
  const Enrolment ep = Enrol();
  ASSERT_EQ(Call("GET", "/v1/roots/1", "", ep.fingerprint).status, 200);
  ASSERT_TRUE(*RevokeEndpoint(relay_->db(), ep.id, "operator:test"));
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(2);
  int status = 200;
  while (status == 200 && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    status = Call("GET", "/v1/roots/1", "", ep.fingerprint).status;
  }
  EXPECT_EQ(status, 401);
}

TEST_F(ApiTest, AnEndpointCannotActForAnother) {
  const Enrolment mine = Enrol("mine");
  const Enrolment theirs = Enrol("theirs");
  const HttpResponse checkin =
      Call("POST", "/v1/checkin", CheckinBody(theirs.id, OldInventory(), true), mine.fingerprint);
  EXPECT_EQ(checkin.status, 403);
  const HttpResponse report =
      Call("POST", "/v1/reports", ReportsBody(theirs.id, {Report("r-0001-abcd", kFoo)}),
           mine.fingerprint);
  EXPECT_EQ(report.status, 403);
  EXPECT_EQ(Call("GET", "/v1/endpoints/" + theirs.id, "", mine.fingerprint).status, 403);
  // Even an id nobody has: no answer says whether it exists.
  EXPECT_EQ(Call("GET", "/v1/endpoints/ep-0123456789abcdef", "", mine.fingerprint).status, 403);
  EXPECT_EQ(CountRows("SELECT COUNT(*) FROM reports"), 0);
  EXPECT_EQ(CountRows("SELECT COUNT(*) FROM inventories"), 0);
  EXPECT_EQ(Call("GET", "/v1/endpoints/" + theirs.id, "", theirs.fingerprint).status, 200);
  const HttpResponse head = Call("HEAD", "/v1/endpoints/" + theirs.id, "", theirs.fingerprint);
  EXPECT_EQ(head.status, 200);
  EXPECT_TRUE(head.head_only);
  EXPECT_TRUE(Call("HEAD", "/v1/endpoints/" + theirs.id, "", mine.fingerprint).head_only);
}

// ---- routing ----

TEST_F(ApiTest, OnlyTheExactShapesAreRoutes) {
  const Enrolment ep = Enrol();
  const std::string hex = crypto::DigestHex((*FindPatch(relay_->db(), kFoo))->payload.sha256);
  std::string upper = hex;
  for (char& c : upper) {
    c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  }
  const std::vector<std::string> not_found = {
      "/v1/payloads/../x",
      "/v1/payloads/%2e%2e/ferry.db",
      "/v1/payloads/" + upper,
      "/v1/payloads/" + hex + "/",
      "/v1/payloads/" + hex + "?x=1",
      "/v1/payloads/" + hex.substr(1),
      "/v1/payloads//" + hex,
      "/v1/manifests/stable/01",
      "/v1/manifests/../1",
      "/v1/manifests/stable%2f1",
      "/v1/manifests/stable/1/",
      "/v1/manifests/stable",
      "/v1/roots/-1",
      "/v1/roots/1.0",
      "/v1/roots/9999999999999999999",
      "/v1/endpoints/" + ep.id + "x",
      "/v1/endpoints/EP-0123456789ABCDEF",
      "/v1/checkin/",
      "/v1/checkin?x=1",
      "/V1/checkin",
      "//v1/checkin",
      "/v2/checkin",
      "/",
      "",
      "*",
      "http://relay/v1/checkin",
      "/v1/manifests/" + std::string(300, 'a') + "/1",
  };
  for (const std::string& target : not_found) {
    const HttpResponse response = Call("GET", target, "", ep.fingerprint);
    EXPECT_EQ(response.status, 404) << target;
    EXPECT_EQ(response.body, "{\"error\":\"no such resource\"}") << target;
  }
  HttpResponse wrong = Call("GET", "/v1/checkin", "", ep.fingerprint);
  EXPECT_EQ(wrong.status, 405);
  EXPECT_EQ(HeaderOf(wrong, "Allow"), "POST");
  wrong = Call("POST", "/v1/payloads/" + hex, "", ep.fingerprint);
  EXPECT_EQ(wrong.status, 405);
  EXPECT_EQ(HeaderOf(wrong, "Allow"), "GET, HEAD");
  EXPECT_EQ(Call("DELETE", "/v1/endpoints/" + ep.id, "", ep.fingerprint).status, 405);
  EXPECT_EQ(Call("get", "/v1/roots/1", "", ep.fingerprint).status, 405);
  // 405 comes before authentication, like 404: the routes are public knowledge.
  EXPECT_EQ(Call("PUT", "/v1/enroll").status, 405);
}

TEST_F(ApiTest, BodyLimitsFollowTheRouteAndTheCertificate) {
  const Enrolment ep = Enrol();
  const auto limit = [&](const std::string& method, const std::string& target,
                         std::optional<std::string> fingerprint) {
    return api_->LimitsFor(HttpRequest{method, target, {}, "", std::move(fingerprint), ""})
        .max_body_bytes;
  };
  EXPECT_EQ(limit("POST", "/v1/enroll", std::nullopt), 64u * 1024);
  EXPECT_EQ(limit("POST", "/v1/checkin", ep.fingerprint), 72u << 20);
  EXPECT_EQ(limit("POST", "/v1/checkin", std::nullopt), kUnauthenticatedBodyLimit);
  EXPECT_EQ(limit("POST", "/v1/reports", ep.fingerprint), 1u << 20);
  EXPECT_EQ(limit("POST", "/v1/reports", std::string(64, 'e')), kUnauthenticatedBodyLimit);
  EXPECT_EQ(limit("GET", "/v1/roots/1", ep.fingerprint), 0u);
  EXPECT_EQ(limit("GET", "/v1/nothing", ep.fingerprint), kUnauthenticatedBodyLimit);
  // A body over the limit that reaches Handle anyway is refused there too.
  const HttpResponse big = Call("POST", "/v1/enroll", std::string(64 * 1024 + 1, ' '));
  EXPECT_EQ(big.status, 413);
}

}  // namespace
}  // namespace ferry::relay
