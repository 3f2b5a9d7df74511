// DNS host names as certificates and relay URLs accept them.

#include "common/net.hpp"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace ferry::net {
namespace {

TEST(Net, DnsNames) {
  for (const std::string& name :
       std::vector<std::string>{"localhost", "relay-01.ward3.example", "A1.b2",
                                std::string(63, 'a') + ".site", "1.2.3.4"}) {
    EXPECT_TRUE(IsDnsName(name)) << name;
  }
  for (const std::string& name : std::vector<std::string>{
           "", ".", "relay.", ".relay", "relay..site", "-relay", "relay-", "re_lay", "re lay",
           "*.example", "rélay", std::string(64, 'a'), std::string(254, 'a')}) {
    EXPECT_FALSE(IsDnsName(name)) << name;
  }
  std::string longest;
  while (longest.size() + 64 <= 253) longest += std::string(63, 'a') + ".";
  longest += std::string(253 - longest.size(), 'b');
  ASSERT_EQ(longest.size(), 253u);
  EXPECT_TRUE(IsDnsName(longest));
  EXPECT_FALSE(IsDnsName(longest + "b"));
}

}  // namespace
}  // namespace ferry::net
