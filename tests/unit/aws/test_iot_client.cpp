#include "sim/aws/iot_client.hpp"

#include <catch2/catch.hpp>

#include <atomic>
#include <mutex>

#include "sim/aws/sigv4.hpp"
#include "tests/support/process.hpp"
#include "tests/unit/aws/fake_http_server.hpp"

using namespace fleetsim;
using namespace fleetsim::aws;
using fleetsim::test::FakeHttpServer;
using fleetsim::test::FakeRequest;
using fleetsim::test::FakeResponse;

namespace {

constexpr EpochMillis t0 = 1796436000000;  // 2026-12-05T02:00:00Z
const Credentials keys{"AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", "", std::nullopt, "test"};

// The service side: verifies SigV4 like AWS (against `server_now`) and answers AWS-style errors.
struct FakeIot {
  std::atomic<EpochMillis> server_now{t0};
  std::function<FakeResponse(const FakeRequest&)> next;
  std::atomic<int> bad_signatures{0};

  FakeResponse handle(const FakeRequest& r) {
    Headers headers(r.headers.begin(), r.headers.end());
    auto v = verify(r.method, r.target, headers, r.body,
                    [](std::string_view id) { return id == keys.access_key_id ? std::optional(keys) : std::nullopt; },
                    "eu-west-1", "iot", server_now.load());
    if (!v) {
      ++bad_signatures;
      return aws_error(http_status(v.error), std::string(v.code()), v.message);
    }
    return next(r);
  }
  static FakeResponse aws_error(int status, const std::string& code, const std::string& message) {
    auto resp = FakeResponse::json(nlohmann::json{{"message", message}}.dump(), status);
    resp.headers.emplace_back("x-amzn-ErrorType", code + ":");
    resp.headers.emplace_back("x-amzn-RequestId", "req-123");
    return resp;
  }
};

struct Fixture {
  FakeIot iot;
  FakeHttpServer server{[this](const FakeRequest& r) { return iot.handle(r); }};
  ManualClock clock{t0};
  std::vector<Millis> sleeps;
  int credential_calls = 0;
  IotClient client{options(), [this]() -> Expected<Credentials> {
                     ++credential_calls;
                     return keys;
                   }};

  IotClientOptions options() {
    IotClientOptions o;
    o.region = "eu-west-1";
    o.endpoint_url = server.url();
    o.clock = &clock;
    o.sleep = [this](Millis d) {
      sleeps.push_back(d);
      clock.advance(d);
    };
    o.rate_limit = false;
    o.max_attempts = 4;
    return o;
  }
};

}  // namespace

TEST_CASE("requests are signed and serialized as the service expects", "[iot-client]") {
  Fixture f;
  f.iot.next = [](const FakeRequest& r) {
    if (r.method == "PUT" && r.target.starts_with("/things/dev%3A1/principals") && r.header("x-amzn-principal") == "arn:p")
      return FakeResponse::json("{}");
    return FakeResponse::json(R"({"unexpected": true})", 500);
  };
  auto r = f.client.call("AttachThingPrincipal", {{"thingName", "dev:1"}, {"principal", "arn:p"}});
  INFO((std::holds_alternative<AwsError>(r) ? std::get<AwsError>(r).describe() : ""));
  REQUIRE(std::holds_alternative<nlohmann::json>(r));
  CHECK(f.iot.bad_signatures == 0);
  CHECK(f.client.attempts() == 1);
}

TEST_CASE("paging follows nextToken and concatenates every page", "[iot-client]") {
  Fixture f;
  f.iot.next = [](const FakeRequest& r) {
    auto target = split_target(r.target);
    std::string token;
    for (const auto& [k, v] : target.query)
      if (k == "nextToken") token = v;
    nlohmann::json page;
    if (token.empty()) page = {{"violationEvents", {{{"violationId", "v1"}}, {{"violationId", "v2"}}}}, {"nextToken", "a/b+c="}};
    else if (token == "a/b+c=") page = {{"violationEvents", {{{"violationId", "v3"}}}}, {"nextToken", "page 3"}};
    else if (token == "page 3") page = {{"violationEvents", {{{"violationId", "v4"}}}}};
    return FakeResponse::json(page.dump());
  };
  auto r = f.client.call_all("ListViolationEvents", {{"startTime", t0 / 1000 - 3600}, {"endTime", t0 / 1000}}, "violationEvents");
  REQUIRE(std::holds_alternative<nlohmann::json>(r));
  auto events = std::get<nlohmann::json>(r)["violationEvents"];
  REQUIRE(events.size() == 4);
  CHECK(events[3]["violationId"] == "v4");
  CHECK(f.server.request_count() == 3);
  CHECK(f.iot.bad_signatures == 0);
}

TEST_CASE("throttling is retried with backoff, then succeeds", "[iot-client]") {
  Fixture f;
  int calls = 0;
  f.iot.next = [&](const FakeRequest&) {
    return ++calls <= 2 ? FakeIot::aws_error(400, "ThrottlingException", "Rate exceeded")
                        : FakeResponse::json(R"({"securityProfileIdentifiers": []})");
  };
  auto r = f.client.call("ListSecurityProfiles");
  REQUIRE(std::holds_alternative<nlohmann::json>(r));
  CHECK(calls == 3);
  REQUIRE(f.sleeps.size() == 2);
  CHECK(f.sleeps[0] <= Millis(200));  // full jitter under 200 ms, then 400 ms
  CHECK(f.sleeps[1] <= Millis(400));
}

TEST_CASE("a 4xx client error is not retried and says everything", "[iot-client]") {
  Fixture f;
  f.iot.next = [](const FakeRequest&) { return FakeIot::aws_error(404, "ResourceNotFoundException", "No such profile"); };
  auto r = f.client.call("DescribeSecurityProfile", {{"securityProfileName", "nope"}});
  REQUIRE(std::holds_alternative<AwsError>(r));
  const auto& e = std::get<AwsError>(r);
  CHECK(e.status == 404);
  CHECK(e.code == "ResourceNotFoundException");
  CHECK(e.message == "No such profile");
  CHECK(e.request_id == "req-123");
  CHECK(e.describe() == "DescribeSecurityProfile failed: HTTP 404 ResourceNotFoundException: No such profile (request id req-123)");
  CHECK(f.server.request_count() == 1);
  CHECK(f.sleeps.empty());
}

TEST_CASE("5xx is retried until the attempts run out", "[iot-client]") {
  Fixture f;
  f.iot.next = [](const FakeRequest&) { return FakeIot::aws_error(503, "ServiceUnavailableException", "try later"); };
  auto r = f.client.call("ListSecurityProfiles");
  REQUIRE(std::holds_alternative<AwsError>(r));
  CHECK(std::get<AwsError>(r).attempts == 4);
  CHECK(f.server.request_count() == 4);
  CHECK(f.sleeps.size() == 3);
}

TEST_CASE("expired credentials are fetched again once", "[iot-client]") {
  Fixture f;
  int calls = 0;
  f.iot.next = [&](const FakeRequest&) {
    return ++calls == 1 ? FakeIot::aws_error(403, "ExpiredTokenException", "The security token included in the request is expired")
                        : FakeResponse::json("{}");
  };
  auto r = f.client.call("ListSecurityProfiles");
  REQUIRE(std::holds_alternative<nlohmann::json>(r));
  CHECK(f.credential_calls == 2);
  CHECK(f.sleeps.empty());
}

TEST_CASE("a clock-skew error is corrected from the server's Date and signed again", "[iot-client]") {
  Fixture f;
  f.iot.server_now = t0 + 3'600'000;  // the server is an hour ahead
  f.iot.next = [](const FakeRequest&) { return FakeResponse::json(R"({"endpointAddress": "abc-ats.iot.eu-west-1.amazonaws.com"})"); };
  f.server.set_handler([&](const FakeRequest& r) {
    auto resp = f.iot.handle(r);
    resp.headers.emplace_back("Date", "Sat, 05 Dec 2026 03:00:00 GMT");
    return resp;
  });
  auto r = f.client.call("DescribeEndpoint", {{"endpointType", "iot:Data-ATS"}});
  REQUIRE(std::holds_alternative<nlohmann::json>(r));
  CHECK(std::get<nlohmann::json>(r)["endpointAddress"] == "abc-ats.iot.eu-west-1.amazonaws.com");
  CHECK(f.iot.bad_signatures == 1);
  CHECK(f.server.request_count() == 2);
}

TEST_CASE("malformed JSON from the service is an error, not a crash", "[iot-client]") {
  Fixture f;
  f.iot.next = [](const FakeRequest&) { return FakeResponse::json("{\"truncated\": "); };
  auto r = f.client.call("ListSecurityProfiles");
  REQUIRE(std::holds_alternative<AwsError>(r));
  CHECK(std::get<AwsError>(r).code == "MalformedResponse");
  CHECK(f.server.request_count() == 1);
}

TEST_CASE("calls are paced to the operation's API rate limit", "[iot-client]") {
  Fixture f;
  auto o = f.options();
  o.rate_limit = true;
  o.tps["CreateThing"] = 4;
  IotClient paced(o, [] { return Expected<Credentials>(keys); });
  f.iot.next = [](const FakeRequest&) { return FakeResponse::json(R"({"thingName": "t"})"); };
  for (int i = 0; i < 3; ++i) REQUIRE(std::holds_alternative<nlohmann::json>(paced.call("CreateThing", {{"thingName", "t"}})));
  REQUIRE(f.sleeps.size() == 2);
  CHECK(f.sleeps[0] == Millis(250));
  CHECK(f.sleeps[1] == Millis(250));
}

TEST_CASE("connection failures are retried, then reported with the endpoint", "[iot-client]") {
  ManualClock clock(t0);
  IotClientOptions o;
  o.region = "eu-west-1";
  o.endpoint_url = "http://127.0.0.1:" + std::to_string(fleetsim::test::free_port());
  o.clock = &clock;
  o.sleep = [&](Millis d) { clock.advance(d); };
  o.max_attempts = 3;
  o.rate_limit = false;
  IotClient client(o, [] { return Expected<Credentials>(keys); });
  auto r = client.call("ListSecurityProfiles");
  REQUIRE(std::holds_alternative<AwsError>(r));
  const auto& e = std::get<AwsError>(r);
  CHECK(e.code == "ConnectError");
  CHECK(e.attempts == 3);
  CHECK(e.message.find("127.0.0.1") != std::string::npos);
}
