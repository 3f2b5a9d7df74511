#pragma once

// A small, realistic audit log and helpers to write it as an evidence package, take a package
// apart and put it back together (as someone tampering with it would), for the evidence tests.

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "common/json.hpp"
#include "crypto/ed25519.hpp"
#include "crypto/keyfile.hpp"
#include "evidence/event.hpp"
#include "evidence/export.hpp"
#include "evidence/ustar.hpp"
#include "tests/support/testing.hpp"

namespace ferry::evidence::test {

inline constexpr UnixTime kT0 = 1767225600;  // 2026-01-01T00:00:00Z
inline constexpr int64_t kHour = 3600;
inline constexpr int64_t kDay = 86400;
inline constexpr const char* kHostileHost = "<script>alert(\"x\")</script>&=cmd";

inline std::string Leaf(int64_t seq, UnixTime time, const std::string& actor,
                        const std::string& type, const std::string& subject, json::Object details) {
  Event event;
  event.seq = seq;
  event.time = time;
  event.actor = actor;
  event.type = type;
  event.subject = subject;
  event.details = std::move(details);
  return EventLeaf(event);
}

// 18 events: an initialised relay, three approved patches, three endpoints (one with a hostile
// name), installs on time, late and failed, an exception and a rejected import. As of the last
// event (T0+10h): 2 installed (1 late), 1 failed, 3 pending, 1 overdue, 1 excepted.
inline std::vector<std::string> StandardLog() {
  std::vector<std::string> log;
  const auto add = [&](UnixTime time, const std::string& actor, const std::string& type,
                       const std::string& subject, json::Object details) {
    log.push_back(
        Leaf(static_cast<int64_t>(log.size()) + 1, time, actor, type, subject, std::move(details)));
  };
  const std::string op = "operator:alice";
  add(kT0, op, "relay.initialised", "st-test", {{"site_id", "st-test"}, {"root_version", 1}});
  add(kT0 + kHour, op, "import.accepted", "sec/1", {{"file", "bundle-1.ferry"}, {"patches", 3}});
  add(kT0 + 2 * kHour, op, "patch.approved", "crit-fix",
      {{"package", "libcrit"},
       {"version", "1.0"},
       {"severity", "critical"},
       {"released", FormatTime(kT0 - 5 * kDay)}});
  add(kT0 + 2 * kHour, op, "patch.approved", "high-fix",
      {{"package", "libhigh"},
       {"version", "2.0"},
       {"severity", "high"},
       {"released", FormatTime(kT0 - 60 * kDay)}});
  add(kT0 + 2 * kHour, op, "patch.approved", "low-fix",
      {{"package", "liblow"}, {"version", "3.0"}, {"severity", "low"}});
  add(kT0 + 3 * kHour, op, "token.created", "0123456789ab", {{"expires", FormatTime(kT0 + kDay)}});
  const std::pair<const char*, const char*> endpoints[] = {{"ep-000000000000000a", "web-1"},
                                                           {"ep-000000000000000b", kHostileHost},
                                                           {"ep-000000000000000c", "db-1"}};
  for (const auto& [id, host] : endpoints) {
    add(kT0 + 4 * kHour, std::string("endpoint:") + id, "endpoint.enrolled", id,
        {{"hostname", host}, {"target_os", "debian-12"}, {"token_id", "0123456789ab"}});
  }
  const auto needs = [&](const char* id, json::Array patches, UnixTime time) {
    add(time, std::string("endpoint:") + id, "endpoint.needs", id,
        {{"patches", std::move(patches)}, {"catalog_version", 1}});
  };
  needs("ep-000000000000000a", {"crit-fix", "high-fix", "low-fix"}, kT0 + 5 * kHour);
  needs("ep-000000000000000b", {"crit-fix", "high-fix"}, kT0 + 5 * kHour);
  needs("ep-000000000000000c", {"high-fix"}, kT0 + 5 * kHour);
  const auto report = [&](const char* id, const char* patch, const char* result, UnixTime time,
                          const char* severity, UnixTime released) {
    json::Object details{{"endpoint", id},
                         {"report_id", std::string("r-") + patch},
                         {"result", result},
                         {"started", FormatTime(time - 60)},
                         {"finished", FormatTime(time)},
                         {"severity", severity},
                         {"released", FormatTime(released)}};
    if (std::string(result) == "failed") details["exit_code"] = 100;
    add(time, std::string("endpoint:") + id, "install.reported", patch, std::move(details));
  };
  report("ep-000000000000000a", "crit-fix", "installed", kT0 + 6 * kHour, "critical",
         kT0 - 5 * kDay);
  report("ep-000000000000000b", "crit-fix", "failed", kT0 + 6 * kHour, "critical", kT0 - 5 * kDay);
  report("ep-000000000000000a", "high-fix", "installed", kT0 + 7 * kHour, "high", kT0 - 60 * kDay);
  add(kT0 + 8 * kHour, op, "exception.granted", "high-fix",
      {{"endpoint", "ep-000000000000000c"},
       {"until", FormatTime(kT0 + 60 * kDay)},
       {"reason", "vendor fix breaks the lab analyser, \"compensating\" firewall rule"}});
  add(kT0 + 9 * kHour, op, "import.rejected", "bad.ferry",
      {{"file", "bad.ferry"}, {"reason", "=bad.ferry: payloads/x does not match its SHA-256"}});
  needs("ep-000000000000000a", {"low-fix"}, kT0 + 10 * kHour);
  return log;
}

inline LeafSource SourceOf(const std::vector<std::string>& log) {
  return [&log](int64_t from, int64_t to, const LeafVisitor& visit) -> Status {
    for (int64_t seq = from; seq <= to; ++seq) {
      FERRY_RETURN_IF_ERROR(visit(seq, log[static_cast<size_t>(seq - 1)]));
    }
    return Ok();
  };
}

inline crypto::SigningKey NewKey() {
  auto key = crypto::SigningKey::Generate();
  EXPECT_TRUE(key.ok());
  return std::move(*key);
}

inline PackageRequest Request(int64_t tree_size, int64_t first = 1) {
  PackageRequest request;
  request.origin = "ferry.relay/st-test/5ca1ab1e";
  request.tree_size = tree_size;
  request.first = first;
  request.site_id = "st-test";
  request.exported_by = "operator:alice";
  request.exported_at = kT0 + 11 * kHour;
  request.label = "USB stick 7";
  return request;
}

inline PackageSummary Write(const std::string& path, const std::vector<std::string>& log,
                            const PackageRequest& request, const crypto::SigningKey& key) {
  auto summary = WritePackage(path, request, SourceOf(log), key);
  EXPECT_TRUE(summary.ok()) << summary.error().message();
  return summary.ok() ? *summary : PackageSummary{};
}

struct Member {
  std::string name;
  std::string content;
  uint64_t header_offset = 0;
};

inline std::vector<Member> ReadMembers(const std::string& path, int64_t* mtime = nullptr) {
  std::vector<Member> members;
  auto reader = UstarReader::Open(path);
  EXPECT_TRUE(reader.ok());
  while (true) {
    auto next = reader->Next();
    EXPECT_TRUE(next.ok()) << next.error().message();
    if (!next.ok() || !*next) break;
    if (mtime) *mtime = (*next)->mtime;
    auto content = reader->ReadSmall(size_t{1} << 30);
    EXPECT_TRUE(content.ok());
    members.push_back({(*next)->name, *content, (*next)->header_offset});
  }
  return members;
}

inline void WriteMembers(const std::string& path, const std::vector<Member>& members,
                         int64_t mtime) {
  ::unlink(path.c_str());
  auto file = fs::File::CreateNew(path, 0644);
  ASSERT_TRUE(file.ok());
  UstarWriter tar(*file, mtime);
  for (const Member& m : members) ASSERT_TRUE(tar.AddSmall(m.name, m.content).ok());
  ASSERT_TRUE(tar.Finish().ok());
}

inline Member& Find(std::vector<Member>& members, const std::string& name) {
  for (Member& m : members) {
    if (m.name == name) return m;
  }
  ADD_FAILURE() << "no member " << name;
  return members.front();
}

}  // namespace ferry::evidence::test
