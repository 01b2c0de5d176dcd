#include "sim/aws/operations.hpp"

#include <catch2/catch.hpp>

#include <fstream>
#include <map>

using namespace fleetsim;
using namespace fleetsim::aws;

namespace {
nlohmann::json vectors() {
  std::ifstream in(std::string(FLEETSIM_SOURCE_DIR) + "/tests/data/iot_serialize/vectors.json");
  return nlohmann::json::parse(in);
}
}  // namespace

TEST_CASE("the operation table covers what fleetsim calls", "[operations]") {
  for (auto name : {"CreateSecurityProfile", "ListViolationEvents", "GetBehaviorModelTrainingSummaries",
                    "CreateKeysAndCertificate", "AttachThingPrincipal", "DescribeEndpoint", "ListMetricValues"})
    CHECK(find_operation(name) != nullptr);
  CHECK(find_operation("NoSuchOperation") == nullptr);
  const auto* list = find_operation("ListViolationEvents");
  CHECK(list->paginated);
  CHECK(list->method == "GET");
  CHECK_FALSE(list->has_body());
}

TEST_CASE("serialization matches botocore's rest-json serializer", "[operations]") {
  auto all = vectors();
  REQUIRE(all.size() >= 15);
  for (const auto& v : all) {
    DYNAMIC_SECTION(v["operation"].get<std::string>()) {
      const auto* op = find_operation(v["operation"].get<std::string>());
      REQUIRE(op);
      auto w = serialize(*op, v["input"]);
      INFO((w ? "" : w.error()));
      REQUIRE(w);
      CHECK(w->method == v["method"]);
      CHECK(w->path == v["path"]);
      std::multimap<std::string, std::string> expected, actual;
      for (const auto& [k, val] : v["query"].items())
        expected.emplace(k, val.is_string() ? val.get<std::string>() : val.dump());
      for (const auto& [k, val] : w->query) actual.emplace(k, val);
      CHECK(actual == expected);
      std::map<std::string, std::string> headers;
      for (const auto& [k, val] : w->headers) headers[k] = val;
      std::map<std::string, std::string> expected_headers = v["headers"];
      CHECK(headers == expected_headers);
      if (v["body"].get<std::string>().empty()) CHECK(w->body.empty());
      else CHECK(nlohmann::json::parse(w->body) == nlohmann::json::parse(v["body"].get<std::string>()));
    }
  }
}

TEST_CASE("serialization errors name the operation and the member", "[operations]") {
  const auto* op = find_operation("ListViolationEvents");
  auto missing = serialize(*op, {{"endTime", 1.0}});
  REQUIRE_FALSE(missing);
  CHECK(missing.error() == "ListViolationEvents: member 'startTime' is required");
  auto unknown = serialize(*op, {{"startTime", 1}, {"endTime", 2}, {"thing", "x"}});
  CHECK(unknown.error() == "ListViolationEvents: member 'thing' is not a member of the operation");
  auto wrong = serialize(*op, {{"startTime", 1}, {"endTime", 2}, {"maxResults", "ten"}});
  CHECK(wrong.error().find("'maxResults' has the wrong JSON type") != std::string::npos);
  auto empty_label = serialize(*find_operation("DescribeThing"), {{"thingName", ""}});
  CHECK(empty_label.error().find("must not be empty") != std::string::npos);
  auto fraction = serialize(*op, {{"startTime", 1704153600.5}, {"endTime", "2024-01-03T00:00:00Z"}});
  REQUIRE(fraction);
  CHECK(fraction->query[0].second == "2024-01-02T00:00:00.500Z");
  CHECK(fraction->query[1].second == "2024-01-03T00:00:00Z");
}
