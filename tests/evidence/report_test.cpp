// The reports recomputed from events: the figures of a known log, determinism, exceptions and
// retired endpoints, CSV quoting and HTML escaping of hostile names.

#include "evidence/report.hpp"

#include <gtest/gtest.h>

#include "evidence/csv.hpp"
#include "tests/evidence/evidence_fixture.hpp"

namespace ferry::evidence {
namespace {

Reports Build(const std::vector<std::string>& log) {
  ReportBuilder builder;
  for (const std::string& leaf : log) {
    auto event = ParseEventLeaf(leaf);
    EXPECT_TRUE(event.ok()) << event.error().message();
    builder.Add(*event);
  }
  return builder.Finish(ReportScope{"ferry.relay/st-test/5ca1ab1e", 1,
                                    static_cast<int64_t>(log.size()), std::string(64, 'a')});
}

const std::string& File(const Reports& reports, const std::string& name) {
  for (const ReportFile& file : reports.files) {
    if (file.name == name) return file.content;
  }
  static const std::string none;
  ADD_FAILURE() << "no report " << name;
  return none;
}

TEST(ReportTest, FiguresOfAKnownLog) {
  const Reports reports = Build(test::StandardLog());
  const ReportFigures& f = reports.figures;
  EXPECT_EQ(f.as_of, test::kT0 + 10 * test::kHour);
  EXPECT_EQ(f.endpoints, 3);
  EXPECT_EQ(f.patches_approved, 3);
  EXPECT_EQ(f.install_reports, 3);
  EXPECT_EQ(f.installed, 2);
  EXPECT_EQ(f.late, 1);
  EXPECT_EQ(f.failed, 1);
  EXPECT_EQ(f.pending, 3);
  EXPECT_EQ(f.overdue, 1);
  EXPECT_EQ(f.excepted, 1);
  EXPECT_EQ(f.imports_rejected, 1);
  EXPECT_EQ(File(reports, "reports/by-severity.csv"),
            "severity,deadline_days,pairs,installed,met,late,open,overdue,excepted,failed,"
            "compliance_percent,median_days_to_install,max_days_to_install\r\n"
            "critical,30,2,1,1,0,1,0,0,1,100.0,5,5\r\n"
            "high,30,3,1,0,1,0,1,1,0,33.3,60,60\r\n"
            "medium,90,0,0,0,0,0,0,0,0,,,\r\n"
            "low,180,1,0,0,0,1,0,0,0,100.0,,\r\n"
            "unknown,30,0,0,0,0,0,0,0,0,,,\r\n"
            "none,,0,0,0,0,0,0,0,0,,,\r\n");
  EXPECT_EQ(File(reports, "reports/overdue.csv"),
            "endpoint,hostname,patch,severity,clock_start,deadline,days_overdue,state,failures,"
            "last_result\r\n"
            "ep-000000000000000b,\"<script>alert(\"\"x\"\")</script>&=cmd\",high-fix,high,"
            "2025-11-02T00:00:00Z,2025-12-02T00:00:00Z,30,pending,0,\r\n");
  // The clock of a patch without a release date starts at its first approval.
  EXPECT_NE(File(reports, "reports/deployments.csv")
                .find("ep-000000000000000a,web-1,low-fix,low,approved,2026-01-01T02:00:00Z,"
                      "2026-06-30T02:00:00Z,pending,open,"),
            std::string::npos);
}

TEST(ReportTest, HostileTextIsEscapedAndDefused) {
  const Reports reports = Build(test::StandardLog());
  const std::string& html = File(reports, "report.html");
  EXPECT_EQ(html.find("<script"), std::string::npos);
  EXPECT_NE(html.find("&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;&amp;=cmd"),
            std::string::npos);
  // Self-contained: no script, no reference to anything outside the page.
  EXPECT_EQ(html.find("http"), std::string::npos);
  EXPECT_EQ(html.find("src="), std::string::npos);
  EXPECT_NE(html.find("<svg"), std::string::npos);
  // A spreadsheet must not run a cell: the reason starting with '=' gets an apostrophe.
  EXPECT_NE(File(reports, "reports/rejected-imports.csv").find(",'=bad.ferry: payloads/x"),
            std::string::npos);
}

TEST(ReportTest, TheSameEventsGiveTheSameBytes) {
  const Reports a = Build(test::StandardLog());
  const Reports b = Build(test::StandardLog());
  ASSERT_EQ(a.files.size(), 10u);
  for (size_t i = 0; i < a.files.size(); ++i) {
    EXPECT_EQ(a.files[i].name, b.files[i].name);
    EXPECT_EQ(a.files[i].content, b.files[i].content) << a.files[i].name;
  }
  // Every CSV report is well-formed RFC 4180 and parses back.
  for (const ReportFile& file : a.files) {
    if (!file.name.ends_with(".csv")) continue;
    auto parsed = ParseCsv(file.content, file.name);
    EXPECT_TRUE(parsed.ok()) << file.name << ": " << parsed.error().message();
  }
}

TEST(ReportTest, ExpiredExceptionsAndRetiredEndpoints) {
  std::vector<std::string> log = test::StandardLog();
  // 61 days later the exception for ep-c has expired; ep-b is retired the same day.
  const UnixTime later = test::kT0 + 61 * test::kDay;
  log.push_back(test::Leaf(19, later, "operator:alice", "endpoint.revoked", "ep-000000000000000b",
                           {{"hostname", "x"}}));
  const Reports reports = Build(log);
  EXPECT_EQ(reports.figures.excepted, 0);
  // ep-c's high-fix is overdue now; ep-b's pairs were dropped with the machine.
  EXPECT_EQ(reports.figures.overdue, 1);
  EXPECT_NE(File(reports, "reports/overdue.csv").find("ep-000000000000000c,db-1,high-fix"),
            std::string::npos);
  EXPECT_NE(File(reports, "reports/exceptions.csv").find(",expired,"), std::string::npos);
  EXPECT_EQ(reports.figures.failed, 0);
  // ep-a's low-fix (180 days from approval) is still open.
  EXPECT_EQ(reports.figures.pending, 2);
}

TEST(CsvTest, QuotingRoundTrips) {
  CsvWriter csv({"a", "b", "c"});
  csv.Row({"plain", "with,comma", "with \"quote\"\r\nand newline"});
  const std::string text = csv.Take();
  EXPECT_EQ(text, "a,b,c\r\nplain,\"with,comma\",\"with \"\"quote\"\"\r\nand newline\"\r\n");
  auto parsed = ParseCsv(text, "t.csv");
  ASSERT_TRUE(parsed.ok()) << parsed.error().message();
  ASSERT_EQ(parsed->size(), 2u);
  EXPECT_EQ((*parsed)[1].fields[2], "with \"quote\"\r\nand newline");
  EXPECT_FALSE(ParseCsv("a,b\r\n1\r\n", "t.csv").ok());       // too few fields
  EXPECT_FALSE(ParseCsv("a,b\n", "t.csv").ok());              // LF only
  EXPECT_FALSE(ParseCsv("a,b\r\nx\"y,1\r\n", "t.csv").ok());  // stray quote
  EXPECT_EQ(CsvText("=1+1"), "'=1+1");
  EXPECT_EQ(CsvText("web-1"), "web-1");
}

}  // namespace
}  // namespace ferry::evidence
