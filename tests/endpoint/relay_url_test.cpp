// ParseRelayUrl: the only URL shape the agent accepts is https://HOST:PORT.

#include <gtest/gtest.h>

#include "endpoint/https_client.hpp"

namespace ferry::endpoint {
namespace {

TEST(RelayUrl, AcceptsNamesAndAddressesWithAPort) {
  struct Case {
    const char* text;
    const char* host;
    RelayUrl::HostKind kind;
    uint16_t port;
    const char* shown;
  };
  const Case cases[] = {
      {"https://relay.example.test:8443", "relay.example.test", RelayUrl::HostKind::kDnsName, 8443,
       "https://relay.example.test:8443"},
      {"https://localhost:1/", "localhost", RelayUrl::HostKind::kDnsName, 1, "https://localhost:1"},
      {"https://127.0.0.1:65535", "127.0.0.1", RelayUrl::HostKind::kIpv4, 65535,
       "https://127.0.0.1:65535"},
      {"https://[::1]:8443", "::1", RelayUrl::HostKind::kIpv6, 8443, "https://[::1]:8443"},
      {"https://[fd00:1::2]:443/", "fd00:1::2", RelayUrl::HostKind::kIpv6, 443,
       "https://[fd00:1::2]:443"},
      {"https://Relay-01.Site:9000", "Relay-01.Site", RelayUrl::HostKind::kDnsName, 9000,
       "https://Relay-01.Site:9000"},
  };
  for (const Case& c : cases) {
    auto url = ParseRelayUrl(c.text);
    ASSERT_TRUE(url.ok()) << c.text << ": " << url.error().message();
    EXPECT_EQ(url->host, c.host) << c.text;
    EXPECT_EQ(url->kind, c.kind) << c.text;
    EXPECT_EQ(url->port, c.port) << c.text;
    EXPECT_EQ(url->ToString(), c.shown) << c.text;
  }
  EXPECT_EQ(ParseRelayUrl("https://[::1]:8443")->Authority(), "[::1]:8443");
}

TEST(RelayUrl, RefusesEverythingElse) {
  const char* bad[] = {
      "",
      "relay:8443",
      "http://relay:8443",
      "HTTPS://relay:8443",
      "https://relay",
      "https://relay:",
      "https://relay:0",
      "https://relay:65536",
      "https://relay:08443",
      "https://relay:84a3",
      "https://relay:+843",
      "https://relay:8443/v1",
      "https://relay:8443//",
      "https://relay:8443?x=1",
      "https://relay:8443#frag",
      "https://user@relay:8443",
      "https://user:pw@relay:8443",
      "https://:8443",
      "https://::1:8443",
      "https://[::1]",
      "https://[::1]8443",
      "https://[::1:8443",
      "https://[fe80::1%eth0]:8443",
      "https://[127.0.0.1]:8443",
      "https://256.1.1.1:8443",
      "https://1.2.3:8443",
      "https://01.2.3.4:8443",
      "https://-relay:8443",
      "https://relay-.site:8443",
      "https://re lay:8443",
      "https://relay..site:8443",
      "https://relay.site.:8443",
      "https://rélay:8443",
      "https://relay_1:8443",
      "https://relay:8443 ",
  };
  for (const char* text : bad) {
    auto url = ParseRelayUrl(text);
    EXPECT_FALSE(url.ok()) << "accepted \"" << text << "\"";
    if (!url.ok()) {
      EXPECT_EQ(url.error().kind(), ErrorKind::kUsage) << text;
      EXPECT_NE(url.error().message().find("relay URL"), std::string::npos) << text;
    }
  }
  const std::string long_label = "https://" + std::string(64, 'a') + ".site:8443";
  EXPECT_FALSE(ParseRelayUrl(long_label).ok());
  const std::string max_label = "https://" + std::string(63, 'a') + ".site:8443";
  EXPECT_TRUE(ParseRelayUrl(max_label).ok());
}

}  // namespace
}  // namespace ferry::endpoint
