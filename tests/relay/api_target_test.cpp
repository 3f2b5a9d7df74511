// The request targets of API v1: the documented shapes and nothing near them.

#include "relay/api_target.hpp"

#include <gtest/gtest.h>

#include <vector>

namespace ferry::relay {
namespace {

constexpr size_t kLimit = 256;

TEST(ApiTargetTest, TheDocumentedShapes) {
  EXPECT_EQ(ParseApiTarget("/v1/enroll", kLimit)->route, ApiRoute::kEnroll);
  EXPECT_EQ(ParseApiTarget("/v1/checkin", kLimit)->route, ApiRoute::kCheckin);
  EXPECT_EQ(ParseApiTarget("/v1/reports", kLimit)->route, ApiRoute::kReports);
  const auto manifest = ParseApiTarget("/v1/manifests/debian-12-security/42", kLimit);
  ASSERT_TRUE(manifest.has_value());
  EXPECT_EQ(manifest->route, ApiRoute::kManifest);
  EXPECT_EQ(manifest->name, "debian-12-security");
  EXPECT_EQ(manifest->number, 42);
  const auto root = ParseApiTarget("/v1/roots/7", kLimit);
  EXPECT_EQ(root->route, ApiRoute::kRoot);
  EXPECT_EQ(root->number, 7);
  const std::string hex(64, 'a');
  const auto payload = ParseApiTarget("/v1/payloads/" + hex, kLimit);
  EXPECT_EQ(payload->route, ApiRoute::kPayload);
  EXPECT_EQ(payload->name, hex);
  const auto endpoint = ParseApiTarget("/v1/endpoints/ep-0123456789abcdef", kLimit);
  EXPECT_EQ(endpoint->route, ApiRoute::kEndpoint);
  EXPECT_EQ(endpoint->name, "ep-0123456789abcdef");
  EXPECT_EQ(ParseApiTarget("/v1/roots/0", kLimit)->number, 0);
  EXPECT_EQ(ParseApiTarget("/v1/roots/999999999999999999", kLimit)->number, 999999999999999999);
}

TEST(ApiTargetTest, NearMissesAreNoRoute) {
  for (const std::string& target :
       std::vector<std::string>{"/v1/enroll/",
                                "/v1/enroll?",
                                "/v1/enrol",
                                "/v1/ENROLL",
                                "/v1/checkin#x",
                                "/v1/manifests/a/b",
                                "/v1/manifests/a/1/2",
                                "/v1/manifests//1",
                                "/v1/manifests/.a/1",
                                "/v1/manifests/a%2Fb/1",
                                "/v1/manifests/a/00",
                                "/v1/manifests/a/+1",
                                "/v1/roots/1000000000000000000",
                                "/v1/roots/",
                                "/v1/roots/1 ",
                                "/v1/payloads/",
                                "/v1/payloads/..",
                                "/v1/payloads/" + std::string(63, 'a') + "g",
                                "/v1/payloads/" + std::string(65, 'a'),
                                "/v1/endpoints/ep-0123456789abcde",
                                "/v1/endpoints/ep-0123456789abcdeF",
                                "/v1/endpoints/ep_0123456789abcdef",
                                "/v1/endpoints/%65p-0123456789abcdef"}) {
    EXPECT_FALSE(ParseApiTarget(target, kLimit).has_value()) << target;
  }
  EXPECT_FALSE(ParseApiTarget("/v1/roots/1", 10).has_value());
  EXPECT_TRUE(ParseApiTarget("/v1/roots/1", 11).has_value());
  const std::string nul("/v1/checkin\0", 12);
  EXPECT_FALSE(ParseApiTarget(nul, kLimit).has_value());
}

TEST(ApiTargetTest, MethodsPerRoute) {
  EXPECT_EQ(AllowedMethods(ApiRoute::kCheckin), "POST");
  EXPECT_EQ(AllowedMethods(ApiRoute::kPayload), "GET, HEAD");
  EXPECT_TRUE(MethodAllowed(ApiRoute::kEnroll, "POST"));
  EXPECT_FALSE(MethodAllowed(ApiRoute::kEnroll, "GET"));
  EXPECT_TRUE(MethodAllowed(ApiRoute::kManifest, "HEAD"));
  EXPECT_FALSE(MethodAllowed(ApiRoute::kManifest, "POST"));
  EXPECT_FALSE(MethodAllowed(ApiRoute::kPayload, "get"));
}

}  // namespace
}  // namespace ferry::relay
