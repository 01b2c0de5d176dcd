// The emulator's Detect read side (training summaries, active violations, violation events, verification
// states) and detect mitigation tasks, driven through fleetsim's IoT client over the real REST API, with
// the detector's rows seeded straight into the store.
#include <catch2/catch.hpp>

#include "sim/aws/iot_client.hpp"
#include "sim/local/api_server.hpp"
#include "tests/support/process.hpp"

using namespace fleetsim;
using namespace fleetsim::local;
using nlohmann::json;

namespace {

constexpr EpochMillis t0 = 1'700'000'000'000;

struct Fixture {
  std::unique_ptr<ApiServer> api;
  explicit Fixture(const std::string& state_dir = "") {
    ApiServerOptions o;
    o.state_dir = state_dir;
    auto created = ApiServer::create(std::move(o));
    if (!created) FAIL(created.error());
    api = std::move(created.value());
    auto port = api->start(1);
    if (!port) FAIL(port.error());
  }
  aws::IotClient client() const {
    aws::IotClientOptions o;
    o.region = "us-east-1";
    o.endpoint_url = api->url();
    o.rate_limit = false;
    o.max_attempts = 1;
    o.sleep = [](Millis) {};
    return aws::IotClient(o, []() -> Expected<aws::Credentials> { return local_credentials(); });
  }
};

json ok(const aws::AwsResult<json>& r) {
  if (const auto* e = std::get_if<aws::AwsError>(&r)) FAIL(e->describe());
  return std::get<json>(r);
}

void fails(const aws::AwsResult<json>& r, int status, const std::string& code) {
  REQUIRE(std::holds_alternative<aws::AwsError>(r));
  const auto& e = std::get<aws::AwsError>(r);
  INFO(e.describe());
  CHECK(e.status == status);
  CHECK(e.code == code);
}

json behavior(const std::string& name, bool suppress, bool ml = true) {
  json b = {{"name", name}, {"metric", "aws:num-messages-sent"}, {"suppressAlerts", suppress}};
  b["criteria"] = ml ? json{{"mlDetectionConfig", {{"confidenceLevel", "MEDIUM"}}}}
                     : json{{"comparisonOperator", "greater-than"}, {"value", {{"count", 100}}}, {"durationSeconds", 300}};
  return b;
}

json event(const std::string& id, const std::string& thing, const json& b, const std::string& type, EpochMillis t) {
  json e = {{"violationId", id}, {"thingName", thing}, {"securityProfileName", "p"}, {"behavior", b},
            {"metricValue", {{"count", 500}}}, {"violationEventType", type}, {"violationEventTime", t}};
  if (b["criteria"].contains("mlDetectionConfig")) e["violationEventAdditionalInfo"] = {{"confidenceLevel", "MEDIUM"}};
  return e;
}

std::string key(EpochMillis t, const std::string& id, const std::string& type) {
  char k[24];
  std::snprintf(k, sizeof k, "%013lld", static_cast<long long>(t));
  return std::string(k) + "/" + id + "/" + type;
}

// Profile "p"; thing-1 in alarm on a suppressed ML behavior (v1, still active), thing-2 alarmed and cleared
// on an unsuppressed static rule (v2), thing-1 again on the ML behavior later (v3, active).
void seed(ApiServer& api) {
  json ml = behavior("sent-ml", true), rule = behavior("sent-rule", false, false);
  auto s = api.store().write([&](State& st) {
    SecurityProfile p;
    p.name = "p";
    p.arn = "arn:aws:iot:us-east-1:123456789012:securityprofile/p";
    p.behaviors = json::array({ml, rule});
    st.security_profiles.put("p", p);
    for (auto [id, thing, b, type, t] : std::vector<std::tuple<std::string, std::string, json, std::string, EpochMillis>>{
             {"v1", "thing-1", ml, "in-alarm", t0 + 60'000},
             {"v2", "thing-2", rule, "in-alarm", t0 + 120'000},
             {"v2", "thing-2", rule, "alarm-cleared", t0 + 420'000},
             {"v3", "thing-1", ml, "in-alarm", t0 + 900'000}})
      st.violation_events.put(key(t, id, type), event(id, thing, b, type, t));
    for (auto [id, t] : std::vector<std::pair<std::string, EpochMillis>>{{"v1", t0 + 60'000}, {"v3", t0 + 900'000}})
      st.active_violations.put(id, json{{"violationId", id}, {"thingName", "thing-1"}, {"securityProfileName", "p"},
                                        {"behavior", ml}, {"lastViolationValue", {{"count", 500}}},
                                        {"violationEventAdditionalInfo", {{"confidenceLevel", "MEDIUM"}}},
                                        {"violationStartTime", t}, {"lastViolationTime", t}});
    st.training_summaries.put("p/sent-ml", json{{"securityProfileName", "p"}, {"behaviorName", "sent-ml"},
                                                {"modelStatus", "ACTIVE"}, {"datapointsCollectionPercentage", 100.0},
                                                {"trainingDataCollectionStartDate", t0}, {"lastModelRefreshDate", t0 + 3'600'000}});
  });
  REQUIRE(s);
}

double seconds(EpochMillis t) { return double(t) / 1000.0; }

}  // namespace

TEST_CASE("ListViolationEvents filters by time, thing, type and suppression, and pages in time order",
          "[local][violations]") {
  Fixture f;
  seed(*f.api);
  auto client = f.client();
  json all = {{"startTime", seconds(t0)}, {"endTime", seconds(t0 + 3'600'000)}, {"listSuppressedAlerts", true}};
  auto events = ok(client.call("ListViolationEvents", all))["violationEvents"];
  REQUIRE(events.size() == 4);
  CHECK(events[0]["violationId"] == "v1");
  CHECK(events[0]["violationEventTime"].get<double>() == Approx(seconds(t0 + 60'000)));
  CHECK(events[2]["violationEventType"] == "alarm-cleared");
  CHECK(events[0]["violationEventAdditionalInfo"]["confidenceLevel"] == "MEDIUM");

  // Without listSuppressedAlerts the suppressed ML behavior's events are left out.
  json unsuppressed = all;
  unsuppressed.erase("listSuppressedAlerts");
  auto visible = ok(client.call("ListViolationEvents", unsuppressed))["violationEvents"];
  REQUIRE(visible.size() == 2);
  CHECK(visible[0]["violationId"] == "v2");

  // The time range is inclusive and cuts at both ends.
  json window = all;
  window["startTime"] = seconds(t0 + 120'000);
  window["endTime"] = seconds(t0 + 420'000);
  CHECK(ok(client.call("ListViolationEvents", window))["violationEvents"].size() == 2);

  json by_thing = all;
  by_thing["thingName"] = "thing-1";
  CHECK(ok(client.call("ListViolationEvents", by_thing))["violationEvents"].size() == 2);
  json by_type = all;
  by_type["behaviorCriteriaType"] = "STATIC";
  CHECK(ok(client.call("ListViolationEvents", by_type))["violationEvents"].size() == 2);

  // Paging one at a time walks the same four events in order.
  json paged = all;
  paged["maxResults"] = 1;
  std::vector<std::string> ids;
  for (int i = 0; i < 10; ++i) {
    auto page = ok(client.call("ListViolationEvents", paged));
    for (const auto& e : page["violationEvents"]) ids.push_back(e["violationId"]);
    if (!page.contains("nextToken")) break;
    paged["nextToken"] = page["nextToken"];
  }
  CHECK(ids == std::vector<std::string>{"v1", "v2", "v2", "v3"});

  json backwards = {{"startTime", seconds(t0 + 60'000)}, {"endTime", seconds(t0)}};
  fails(client.call("ListViolationEvents", backwards), 400, "InvalidRequestException");
}

TEST_CASE("ListActiveViolations and the training summaries read what the detector wrote", "[local][violations]") {
  Fixture f;
  seed(*f.api);
  auto client = f.client();
  auto active = ok(client.call("ListActiveViolations", {{"listSuppressedAlerts", true}}))["activeViolations"];
  REQUIRE(active.size() == 2);
  CHECK(active[0]["violationStartTime"].get<double>() == Approx(seconds(t0 + 60'000)));
  CHECK(ok(client.call("ListActiveViolations", json::object()))["activeViolations"].empty());  // all suppressed
  fails(client.call("ListActiveViolations", {{"securityProfileName", "nope"}}), 404, "ResourceNotFoundException");

  auto summaries = ok(client.call("GetBehaviorModelTrainingSummaries", {{"securityProfileName", "p"}}))["summaries"];
  REQUIRE(summaries.size() == 1);
  CHECK(summaries[0]["modelStatus"] == "ACTIVE");
  CHECK(summaries[0]["lastModelRefreshDate"].get<double>() == Approx(seconds(t0 + 3'600'000)));
  fails(client.call("GetBehaviorModelTrainingSummaries", {{"maxResults", 11}}), 400, "InvalidRequestException");

  // A profile the detector has not evaluated yet already shows its ML models waiting for data.
  ok(client.call("CreateSecurityProfile", {{"securityProfileName", "fresh"},
                                           {"behaviors", json::array({behavior("new-ml", false), behavior("new-rule", false, false)})}}));
  auto fresh = ok(client.call("GetBehaviorModelTrainingSummaries", {{"securityProfileName", "fresh"}}))["summaries"];
  REQUIRE(fresh.size() == 1);  // the rule has no model
  CHECK(fresh[0]["behaviorName"] == "new-ml");
  CHECK(fresh[0]["modelStatus"] == "PENDING_BUILD");
  CHECK(fresh[0]["datapointsCollectionPercentage"] == 0);
  CHECK_FALSE(fresh[0].contains("trainingDataCollectionStartDate"));
  CHECK(ok(client.call("GetBehaviorModelTrainingSummaries", json::object()))["summaries"].size() == 2);
}

TEST_CASE("PutVerificationStateOnViolation marks the violation and its events, and survives a restart",
          "[local][violations]") {
  test::TempDir dir;
  {
    Fixture f(dir.path());
    seed(*f.api);
    auto client = f.client();
    ok(client.call("PutVerificationStateOnViolation",
                   {{"violationId", "v1"}, {"verificationState", "TRUE_POSITIVE"}, {"verificationStateDescription", "flood"}}));
    fails(client.call("PutVerificationStateOnViolation", {{"violationId", "v9"}, {"verificationState", "FALSE_POSITIVE"}}),
          400, "InvalidRequestException");
    fails(client.call("PutVerificationStateOnViolation", {{"violationId", "v1"}, {"verificationState", "MAYBE"}}), 400,
          "InvalidRequestException");
  }
  Fixture again(dir.path());
  auto client = again.client();
  auto active = ok(client.call("ListActiveViolations", {{"listSuppressedAlerts", true}, {"verificationState", "TRUE_POSITIVE"}}));
  REQUIRE(active["activeViolations"].size() == 1);
  CHECK(active["activeViolations"][0]["verificationStateDescription"] == "flood");
  auto events = ok(client.call("ListViolationEvents", {{"startTime", seconds(t0)}, {"endTime", seconds(t0 + 3'600'000)},
                                                       {"listSuppressedAlerts", true}, {"verificationState", "TRUE_POSITIVE"}}));
  REQUIRE(events["violationEvents"].size() == 1);
  CHECK(events["violationEvents"][0]["violationId"] == "v1");
}

TEST_CASE("A detect mitigation task deactivates certificates and quarantines things", "[local][violations]") {
  Fixture f;
  seed(*f.api);
  auto client = f.client();
  ok(client.call("CreateThing", {{"thingName", "thing-1"}}));
  ok(client.call("CreateThingGroup", {{"thingGroupName", "quarantine"}}));
  auto cert = ok(client.call("CreateKeysAndCertificate", {{"setAsActive", true}}));
  ok(client.call("AttachThingPrincipal", {{"thingName", "thing-1"}, {"principal", cert["certificateArn"]}}));
  const std::string role = "arn:aws:iam::123456789012:role/mitigation";
  ok(client.call("CreateMitigationAction", {{"actionName", "deactivate"}, {"roleArn", role},
                                            {"actionParams", {{"updateDeviceCertificateParams", {{"action", "DEACTIVATE"}}}}}}));
  ok(client.call("CreateMitigationAction", {{"actionName", "quarantine"}, {"roleArn", role},
                                            {"actionParams", {{"addThingsToThingGroupParams", {{"thingGroupNames", {"quarantine"}}}}}}}));
  ok(client.call("CreateMitigationAction", {{"actionName", "sns"}, {"roleArn", role},
                                            {"actionParams", {{"publishFindingToSnsParams", {{"topicArn", "arn:aws:sns:us-east-1:123456789012:t"}}}}}}));
  json start = {{"taskId", "task-1"},
                {"target", {{"violationIds", {"v1"}}}},
                {"actions", {"deactivate", "quarantine", "sns"}},
                {"clientRequestToken", "token-1"}};
  CHECK(ok(client.call("StartDetectMitigationActionsTask", start))["taskId"] == "task-1");
  CHECK(ok(client.call("StartDetectMitigationActionsTask", start))["taskId"] == "task-1");  // the same request again
  json other = start;
  other["clientRequestToken"] = "token-2";
  fails(client.call("StartDetectMitigationActionsTask", other), 400, "TaskAlreadyExistsException");

  auto described = ok(client.call("DescribeDetectMitigationActionsTask", {{"taskId", "task-1"}}))["taskSummary"];
  CHECK(described["taskStatus"] == "SUCCESSFUL");
  CHECK(described["taskStatistics"]["actionsExecuted"] == 2);
  CHECK(described["taskStatistics"]["actionsSkipped"] == 1);
  CHECK(described["actionsDefinition"].size() == 3);

  auto c = ok(client.call("DescribeCertificate", {{"certificateId", cert["certificateId"]}}));
  CHECK(c["certificateDescription"]["status"] == "INACTIVE");
  auto members = ok(client.call("ListThingsInThingGroup", {{"thingGroupName", "quarantine"}}))["things"];
  CHECK(members == json::array({"thing-1"}));

  auto executions = ok(client.call("ListDetectMitigationActionsExecutions", {{"taskId", "task-1"}}))["actionsExecutions"];
  REQUIRE(executions.size() == 3);
  CHECK(executions[2]["status"] == "SKIPPED");
  CHECK(executions[2]["thingName"] == "thing-1");
  auto tasks = ok(client.call("ListDetectMitigationActionsTasks", {{"startTime", 0}, {"endTime", 4'000'000'000.0}}))["tasks"];
  CHECK(tasks.size() == 1);
  fails(client.call("CancelDetectMitigationActionsTask", {{"taskId", "task-1"}}), 400, "InvalidRequestException");
  fails(client.call("DescribeDetectMitigationActionsTask", {{"taskId", "nope"}}), 404, "ResourceNotFoundException");
}
