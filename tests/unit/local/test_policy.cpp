// The AWS IoT policy evaluator and the registry authority the broker asks at CONNECT.
#include "sim/local/policy.hpp"

#include <catch2/catch.hpp>

#include <chrono>

#include "sim/aws/provision.hpp"
#include "sim/local/authority.hpp"
#include "sim/local/store.hpp"

using namespace fleetsim;
using namespace fleetsim::local;

namespace {

const std::string region = "us-east-1", account = "123456789012";
const std::string arn = "arn:aws:iot:us-east-1:123456789012:";

std::shared_ptr<const PolicyDocument> parse(const std::string& text) {
  auto doc = PolicyDocument::parse(text);
  if (!doc) FAIL(doc.error());
  return std::make_shared<const PolicyDocument>(doc.value());
}

ConnectionVariables attached(const std::string& thing) { return {thing, thing, std::nullopt, {}}; }
ConnectionVariables unattached(const std::string& client_id) { return {client_id, std::nullopt, std::nullopt, {}}; }

CompiledPolicy compile(const std::vector<std::string>& documents, const ConnectionVariables& vars) {
  std::vector<std::shared_ptr<const PolicyDocument>> docs;
  for (const auto& d : documents) docs.push_back(parse(d));
  return CompiledPolicy(docs, vars, region, account);
}

// One statement, 2012-10-17.
std::string statement(const std::string& effect, const std::string& action, const std::string& resource,
                      const std::string& extra = "") {
  return R"({"Version":"2012-10-17","Statement":{"Effect":")" + effect + R"(","Action":)" + action +
         R"(,"Resource":)" + resource + extra + "}}";
}

std::string malformed(const std::string& text) {
  auto e = check_policy_document(text);
  return e ? *e : "(accepted)";
}

aws::ProvisionPlan fleet_plan() {
  aws::ProvisionPlan plan;
  plan.scenario = "quickstart";
  plan.things = {{"meter-1", "meters"}, {"meter-2", "meters"}};
  plan.publish_topics = {"fleet/{thing}/telemetry"};
  plan.subscribe_topics = {"fleet/{thing}/commands"};
  plan.device_metrics = true;
  return plan;
}

}  // namespace

TEST_CASE("provisioning's policy lets a thing connect as itself and use only its own topics", "[policy]") {
  const std::string document = aws::thing_policy_document(fleet_plan(), region, account);
  REQUIRE_FALSE(check_policy_document(document));
  const auto me = compile({document}, attached("meter-1"));

  CHECK(me.may_connect());
  CHECK(me.may_publish("fleet/meter-1/telemetry"));
  CHECK(me.may_subscribe("fleet/meter-1/commands"));
  CHECK(me.may_receive("fleet/meter-1/commands"));
  CHECK(me.may_publish("$aws/things/meter-1/defender/metrics/json"));
  CHECK(me.may_subscribe("$aws/things/meter-1/defender/metrics/json/accepted"));
  CHECK(me.may_receive("$aws/things/meter-1/defender/metrics/json/rejected"));

  // Another thing's topics, near misses, and actions the policy does not grant.
  CHECK_FALSE(me.may_publish("fleet/meter-2/telemetry"));
  CHECK_FALSE(me.may_publish("fleet/meter-1/telemetry/extra"));
  CHECK_FALSE(me.may_publish("fleet/meter-1/commands"));
  CHECK_FALSE(me.may_subscribe("fleet/meter-2/commands"));
  CHECK_FALSE(me.may_subscribe("fleet/+/commands"));  // + is literal in the policy, not a grant of every thing
  CHECK_FALSE(me.may_subscribe("fleet/#"));
  CHECK_FALSE(me.may_receive("fleet/meter-2/commands"));
  CHECK_FALSE(me.may_publish("$aws/things/meter-2/defender/metrics/json"));
  CHECK_FALSE(me.allows(IotAction::connect, "meter-2"));

  // The same document for meter-2 grants meter-2's topics instead.
  const auto other = compile({document}, attached("meter-2"));
  CHECK(other.may_connect());
  CHECK(other.may_publish("fleet/meter-2/telemetry"));
  CHECK_FALSE(other.may_publish("fleet/meter-1/telemetry"));

  // A certificate not attached to a thing named like the client id: the thing variable has no value.
  const auto stranger = compile({document}, unattached("meter-1"));
  CHECK_FALSE(stranger.may_connect());
  CHECK_FALSE(stranger.may_publish("fleet/meter-1/telemetry"));
}

TEST_CASE("an explicit Deny wins over any Allow, in the same or another document", "[policy]") {
  const std::string allow_all = statement("Allow", R"("iot:*")", R"("*")");
  const std::string deny_secret = statement("Deny", R"("iot:Publish")", "\"" + arn + "topic/secret/*\"");
  const auto p = compile({allow_all, deny_secret}, attached("t"));
  CHECK(p.may_publish("public/x"));
  CHECK_FALSE(p.may_publish("secret/x"));
  CHECK(p.may_subscribe("secret/x"));  // the Deny names Publish only
  CHECK(p.may_receive("secret/x"));

  const std::string both = R"({"Version":"2012-10-17","Statement":[
      {"Effect":"Deny","Action":"iot:Connect","Resource":")" + arn + R"(client/banned-*"},
      {"Effect":"Allow","Action":"iot:Connect","Resource":"*"}]})";
  CHECK(compile({both}, unattached("device-1")).may_connect());
  CHECK_FALSE(compile({both}, unattached("banned-7")).may_connect());

  // No statement at all: default deny.
  const auto none = compile({}, attached("t"));
  CHECK_FALSE(none.may_connect());
  CHECK_FALSE(none.may_publish("a"));
}

TEST_CASE("* matches any run of characters across levels, ? exactly one character", "[policy]") {
  const auto p = compile({statement("Allow", R"(["iot:Publish","iot:Receive"])",
                                    "[\"" + arn + "topic/sensor/?/temp\",\"" + arn + "topic/logs/*\"]")},
                         attached("t"));
  CHECK(p.may_publish("sensor/1/temp"));
  CHECK(p.may_publish("sensor/é/temp"));  // one character, two bytes
  CHECK_FALSE(p.may_publish("sensor/12/temp"));
  CHECK_FALSE(p.may_publish("sensor//temp"));
  CHECK(p.may_publish("logs/a/b/c"));
  CHECK(p.may_publish("logs/"));
  CHECK_FALSE(p.may_publish("logs"));
  CHECK_FALSE(p.may_publish("Logs/a"));  // resources are case-sensitive
  CHECK(p.may_receive("logs/x"));
  CHECK_FALSE(p.may_subscribe("logs/x"));

  // Wildcards in the ARN's own fields, and in the middle of a topic.
  const auto q = compile({statement("Allow", R"("iot:Publish")", R"("arn:aws:iot:*:123456789012:topic/a/*/z")")},
                         attached("t"));
  CHECK(q.may_publish("a/b/z"));
  CHECK(q.may_publish("a/b/c/z"));
  CHECK_FALSE(q.may_publish("a/b/c"));
  const auto wrong_account = compile({statement("Allow", R"("iot:*")", R"("arn:aws:iot:*:999999999999:*")")}, attached("t"));
  CHECK_FALSE(wrong_account.may_publish("a"));

  // Action names: wildcards and case-insensitivity; NotAction.
  const auto a = compile({statement("Allow", R"(["IOT:PUB*","iot:?eceive"])", R"("*")")}, attached("t"));
  CHECK(a.may_publish("x"));
  CHECK(a.may_receive("x"));
  CHECK_FALSE(a.may_subscribe("x"));
  CHECK_FALSE(a.may_connect());
  const auto n = compile({R"({"Version":"2012-10-17","Statement":{"Effect":"Allow","NotAction":"iot:Subscribe","Resource":"*"}})"},
                         attached("t"));
  CHECK(n.may_connect());
  CHECK(n.may_publish("x"));
  CHECK_FALSE(n.may_subscribe("x"));
}

TEST_CASE("topicfilter resources take + and # literally; topic resources are for topic names", "[policy]") {
  const auto p = compile({statement("Allow", R"("iot:Subscribe")",
                                    "[\"" + arn + "topicfilter/a/+/b\",\"" + arn + "topicfilter/c/#\",\"" + arn +
                                        "topic/d/*\"]")},
                         attached("t"));
  CHECK(p.may_subscribe("a/+/b"));
  CHECK_FALSE(p.may_subscribe("a/x/b"));
  CHECK(p.may_subscribe("c/#"));
  CHECK_FALSE(p.may_subscribe("c/x"));
  CHECK_FALSE(p.may_subscribe("c/+"));
  CHECK_FALSE(p.may_subscribe("d/x"));  // a topic/ resource does not grant Subscribe

  const auto any_filter = compile({statement("Allow", R"("iot:Subscribe")", "\"" + arn + "topicfilter/e/*\"")},
                                  attached("t"));
  CHECK(any_filter.may_subscribe("e/#"));
  CHECK(any_filter.may_subscribe("e/+/x"));
  CHECK_FALSE(any_filter.may_subscribe("#"));
}

TEST_CASE("policy variables are substituted before matching and stand for themselves", "[policy]") {
  const std::string doc = R"({"Version":"2012-10-17","Statement":[
      {"Effect":"Allow","Action":"iot:Publish","Resource":[
        ")" + arn + R"(topic/c/${iot:ClientId}",
        ")" + arn + R"(topic/t/${iot:Connection.Thing.ThingName}/*",
        ")" + arn + R"(topic/type/${iot:Connection.Thing.ThingTypeName}",
        ")" + arn + R"(topic/site/${iot:Connection.Thing.Attributes[site]}",
        ")" + arn + R"(topic/attached/${iot:Connection.Thing.IsAttached}",
        ")" + arn + R"(topic/star${*}/q${?}/d${$}"]}]})";
  ConnectionVariables vars{"client-1", "thing-1", "meter", {{"site", "berlin"}}};
  const auto p = compile({doc}, vars);
  CHECK(p.may_publish("c/client-1"));
  CHECK_FALSE(p.may_publish("c/client-2"));
  CHECK(p.may_publish("t/thing-1/x"));
  CHECK_FALSE(p.may_publish("t/thing-2/x"));
  CHECK(p.may_publish("type/meter"));
  CHECK(p.may_publish("site/berlin"));
  CHECK_FALSE(p.may_publish("site/paris"));
  CHECK(p.may_publish("attached/true"));
  CHECK(p.may_publish("star*/q?/d$"));
  CHECK_FALSE(p.may_publish("starX/q?/d$"));  // ${*} is a literal star
  CHECK_FALSE(p.may_publish("star*/qX/d$"));

  // A value's wildcard characters are literal too.
  const auto wild_id = compile({doc}, unattached("a*"));
  CHECK(wild_id.may_publish("c/a*"));
  CHECK_FALSE(wild_id.may_publish("c/abc"));
  // Without a thing, the thing variables have no value and their resources match nothing.
  CHECK(wild_id.may_publish("attached/false"));
  CHECK_FALSE(wild_id.may_publish("t/${iot:Connection.Thing.ThingName}/x"));
  CHECK_FALSE(wild_id.may_publish("site/berlin"));
  // A thing without the attribute or the type.
  const auto plain = compile({doc}, attached("thing-1"));
  CHECK_FALSE(plain.may_publish("type/meter"));
  CHECK_FALSE(plain.may_publish("site/"));

  // A Deny whose variable has no value denies nothing.
  const auto d = compile({statement("Allow", R"("iot:Publish")", R"("*")"),
                          statement("Deny", R"("iot:Publish")", "\"" + arn + "topic/${iot:Connection.Thing.ThingName}\"")},
                         unattached("x"));
  CHECK(d.may_publish("x"));
  // 2008-10-17 (and no Version) predate variables: the text is literal.
  const auto old = compile({R"({"Version":"2008-10-17","Statement":{"Effect":"Allow","Action":"iot:Publish","Resource":")" + arn +
                            R"(topic/${iot:ClientId}"}})"},
                           unattached("me"));
  CHECK_FALSE(old.may_publish("me"));
  CHECK(old.may_publish("${iot:ClientId}"));
}

TEST_CASE("connection-level conditions decide a statement once per connection", "[policy]") {
  const std::string attached_only = statement("Allow", R"("iot:Connect")", R"("*")",
                                              R"(,"Condition":{"Bool":{"iot:Connection.Thing.IsAttached":["true"]}})");
  CHECK(compile({attached_only}, attached("t")).may_connect());
  CHECK_FALSE(compile({attached_only}, unattached("t")).may_connect());

  const std::string like = statement("Allow", R"("iot:Connect")", R"("*")",
                                     R"(,"Condition":{"StringLike":{"iot:ClientId":["sensor-*","gw-?"]}})");
  CHECK(compile({like}, unattached("sensor-12")).may_connect());
  CHECK(compile({like}, unattached("gw-1")).may_connect());
  CHECK_FALSE(compile({like}, unattached("gw-12")).may_connect());

  // Absent keys: false for a plain operator, true for IfExists, Null and the Not operators.
  const std::string type_equals = statement("Allow", R"("iot:Connect")", R"("*")",
                                            R"(,"Condition":{"StringEquals":{"iot:Connection.Thing.ThingTypeName":"meter"}})");
  const std::string type_if_exists = statement(
      "Allow", R"("iot:Connect")", R"("*")",
      R"(,"Condition":{"StringEqualsIfExists":{"iot:Connection.Thing.ThingTypeName":"meter"}})");
  const std::string type_not = statement("Allow", R"("iot:Connect")", R"("*")",
                                         R"(,"Condition":{"StringNotEquals":{"iot:Connection.Thing.ThingTypeName":"meter"}})");
  const std::string no_type = statement("Allow", R"("iot:Connect")", R"("*")",
                                        R"(,"Condition":{"Null":{"iot:Connection.Thing.ThingTypeName":"true"}})");
  ConnectionVariables meter{"m", "m", "meter", {}};
  CHECK(compile({type_equals}, meter).may_connect());
  CHECK_FALSE(compile({type_equals}, attached("m")).may_connect());
  CHECK(compile({type_if_exists}, attached("m")).may_connect());
  CHECK(compile({type_not}, attached("m")).may_connect());
  CHECK_FALSE(compile({type_not}, meter).may_connect());
  CHECK(compile({no_type}, attached("m")).may_connect());
  CHECK_FALSE(compile({no_type}, meter).may_connect());

  // NotResource: everything but the listed resources.
  const auto nr = compile({R"({"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"iot:Publish","NotResource":")" +
                           arn + R"(topic/private/*"}})"},
                          attached("t"));
  CHECK(nr.may_publish("public/x"));
  CHECK_FALSE(nr.may_publish("private/x"));
}

TEST_CASE("malformed policy documents are refused with a message that names the fault", "[policy]") {
  CHECK_THAT(malformed("{\"Version\":"), Catch::Contains("not valid JSON"));
  CHECK_THAT(malformed("[]"), Catch::Contains("must be a JSON object"));
  CHECK_THAT(malformed(R"({"Version":"2012-10-17"})"), Catch::Contains("no Statement"));
  CHECK_THAT(malformed(R"({"Version":"2012-10-17","Statement":"x"})"), Catch::Contains("Statement must be an object"));
  CHECK_THAT(malformed(R"({"Version":"2020-01-01","Statement":[]})"), Catch::Contains("Version must be \"2012-10-17\""));
  CHECK_THAT(malformed(R"({"Version":"2012-10-17","Statement":[],"Extra":1})"), Catch::Contains("unknown element \"Extra\""));
  CHECK_THAT(malformed(statement("allow", R"("iot:Connect")", R"("*")")),
             Catch::Contains("Statement.Effect must be \"Allow\" or \"Deny\", not \"allow\""));
  CHECK_THAT(malformed(R"({"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"iot:Connect","Resource":"*"},
                                                             {"Effect":"Allow","Resource":"*"}]})"),
             Catch::Contains("Statement[1] has no Action"));
  CHECK_THAT(malformed(R"({"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"iot:Connect","NotAction":"iot:Publish","Resource":"*"}})"),
             Catch::Contains("both Action and NotAction"));
  CHECK_THAT(malformed(statement("Allow", R"("Publish")", R"("*")")), Catch::Contains("\"Publish\" is not service:action"));
  CHECK_THAT(malformed(statement("Allow", R"([])", R"("*")")), Catch::Contains("Statement.Action must be a string or a non-empty array"));
  CHECK_THAT(malformed(statement("Allow", R"("iot:Publish")", R"("topic/a")")),
             Catch::Contains("Statement.Resource \"topic/a\" must be an ARN"));
  CHECK_THAT(malformed(statement("Allow", R"("iot:Publish")", R"(["*", 3])")), Catch::Contains("must hold strings only"));
  CHECK_THAT(malformed(statement("Allow", R"("iot:Publish")", R"("*")", R"(,"Principal":"*")")),
             Catch::Contains("Principal, which AWS IoT policies do not have"));
  CHECK_THAT(malformed(statement("Allow", R"("iot:Publish")", R"("*")", R"(,"Condition":{"NumericLessThan":{"x":"1"}})")),
             Catch::Contains("NumericLessThan is not supported by the local emulator"));
  CHECK_THAT(malformed(statement("Allow", R"("iot:Publish")", R"("*")",
                                 R"(,"Condition":{"ForAnyValue:StringEquals":{"x":"1"}})")),
             Catch::Contains("ForAnyValue and ForAllValues are not supported"));

  // AWS's size limit counts characters without whitespace.
  std::string padded = statement("Allow", R"("iot:Publish")", "\"" + arn + "topic/" + std::string(1900, 'a') + "\"");
  CHECK_FALSE(check_policy_document(padded));
  padded.insert(padded.size() - 2, std::string(200, ' '));
  CHECK_FALSE(check_policy_document(padded));
  std::string big = statement("Allow", R"("iot:Publish")", "\"" + arn + "topic/" + std::string(2000, 'a') + "\"");
  CHECK_THAT(malformed(big), Catch::Contains("AWS IoT allows at most 2048"));

  // The examples AWS's documentation gives are accepted.
  CHECK_FALSE(check_policy_document(
      R"({"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":["iot:Connect"],"Resource":["*"],
          "Condition":{"Bool":{"iot:Connection.Thing.IsAttached":["true"]}}}]})"));
  CHECK_FALSE(check_policy_document(R"({"Version":"2012-10-17","Statement":[{"Action":["iot:*"],"Effect":"Allow","Resource":"*"}]})"));
}

//---------------------------------------------------------------------------------------------------
// The registry authority

namespace {

const std::string meter_cert(64, 'a'), stranger_cert(64, 'b'), inactive_cert(64, 'c'), connect_only_cert(64, 'd');
const std::string group_cert(64, 'e');

std::string cert_arn(const std::string& id) { return arn + "cert/" + id; }

void add_certificate(State& s, const std::string& id, const std::string& status, std::set<std::string> policies,
                     const std::string& thing = "") {
  Certificate c;
  c.id = id;
  c.arn = cert_arn(id);
  c.status = status;
  c.policies = policies;
  for (const auto& p : policies) s.policies.edit(p)->targets.insert(c.arn);
  if (!thing.empty()) {
    c.things.insert(thing);
    s.things.edit(thing)->principals.insert(c.arn);
  }
  s.certificates.put(id, std::move(c));
}

void add_thing(State& s, const std::string& name, std::set<std::string> groups = {}) {
  Thing t;
  t.name = name;
  t.arn = arn + "thing/" + name;
  t.groups = groups;
  for (const auto& g : groups) s.thing_groups.edit(g)->things.insert(name);
  s.things.put(name, std::move(t));
}

void add_policy(State& s, const std::string& name, const std::string& document) {
  Policy p;
  p.name = name;
  p.arn = arn + "policy/" + name;
  p.document = document;
  s.policies.put(name, std::move(p));
}

void add_group(State& s, const std::string& name, const std::string& parent = "") {
  ThingGroup g;
  g.name = name;
  g.arn = arn + "thinggroup/" + name;
  g.parent = parent;
  s.thing_groups.put(name, std::move(g));
}

// The registry provisioning leaves, plus the odd cases.
void fill(Store& store) {
  auto status = store.write([](State& s) {
    add_policy(s, "fleet", aws::thing_policy_document(fleet_plan(), region, account));
    add_policy(s, "connect-any", statement("Allow", R"("iot:Connect")", R"("*")"));
    add_policy(s, "deny-connect", statement("Deny", R"("iot:Connect")", "\"" + arn + "client/meter-3\""));
    add_policy(s, "group-publish", statement("Allow", R"("iot:Publish")", "\"" + arn + "topic/group/*\""));
    add_group(s, "all");
    add_group(s, "meters", "all");
    add_thing(s, "meter-1");
    add_thing(s, "meter-2");
    add_thing(s, "meter-3", {"meters"});
    add_thing(s, "meter-4");
    add_certificate(s, meter_cert, "ACTIVE", {"fleet"}, "meter-1");
    add_certificate(s, stranger_cert, "ACTIVE", {"fleet"});  // attached to no thing
    add_certificate(s, inactive_cert, "INACTIVE", {"fleet"}, "meter-2");
    add_certificate(s, group_cert, "ACTIVE", {"fleet", "deny-connect"}, "meter-3");
    add_certificate(s, connect_only_cert, "ACTIVE", {"connect-any"}, "meter-4");
    s.policies.edit("group-publish")->targets.insert(arn + "thinggroup/all");
  });
  REQUIRE(status);
}

ConnectionIdentity who(const std::string& client_id, const std::string& cert) { return {client_id, cert, "127.0.0.1"}; }

}  // namespace

TEST_CASE("the registry authority admits an active certificate connecting as its own thing", "[policy][authority]") {
  Store store;
  fill(store);
  RegistryAuthority authority(store, region, account);

  auto d = authority.authorize_connect(who("meter-1", meter_cert));
  REQUIRE(d.refusal == ConnectRefusal::none);
  REQUIRE(d.policy);
  CHECK(d.thing_name == "meter-1");
  CHECK(d.reason.empty());
  CHECK(d.policy->may_publish("fleet/meter-1/telemetry"));
  CHECK(d.policy->may_subscribe("fleet/meter-1/commands"));
  CHECK(d.policy->may_receive("fleet/meter-1/commands"));
  CHECK_FALSE(d.policy->may_publish("fleet/meter-2/telemetry"));
  CHECK_FALSE(d.policy->may_subscribe("fleet/#"));

  // The same certificate as another thing's client id: that thing is not attached to it.
  auto other = authority.authorize_connect(who("meter-2", meter_cert));
  CHECK(other.refusal == ConnectRefusal::not_authorized);
  CHECK_FALSE(other.policy);
  CHECK_THAT(other.reason, Catch::Contains("client/meter-2") && Catch::Contains("fleet") &&
                               Catch::Contains("no thing named like the client id"));
}

TEST_CASE("the registry authority refuses unknown, inactive and unattached certificates", "[policy][authority]") {
  Store store;
  fill(store);
  RegistryAuthority authority(store, region, account);

  auto none = authority.authorize_connect(who("meter-1", ""));
  CHECK(none.refusal == ConnectRefusal::bad_credentials);
  auto unknown = authority.authorize_connect(who("meter-1", std::string(64, 'f')));
  CHECK(unknown.refusal == ConnectRefusal::bad_credentials);
  CHECK_THAT(unknown.reason, Catch::Contains("not registered"));
  auto inactive = authority.authorize_connect(who("meter-2", inactive_cert));
  CHECK(inactive.refusal == ConnectRefusal::bad_credentials);
  CHECK_THAT(inactive.reason, Catch::Contains("INACTIVE"));
  // The fleet policy needs the thing: a certificate attached to none cannot connect, whatever the id.
  auto stranger = authority.authorize_connect(who("meter-1", stranger_cert));
  CHECK(stranger.refusal == ConnectRefusal::not_authorized);

  // Reactivating the certificate applies to the next CONNECT.
  REQUIRE(store.write([](State& s) { s.certificates.edit(inactive_cert)->status = "ACTIVE"; }));
  auto active = authority.authorize_connect(who("meter-2", inactive_cert));
  CHECK(active.refusal == ConnectRefusal::none);
  CHECK(active.thing_name == "meter-2");
}

TEST_CASE("the registry authority applies Deny, thing group policies and policy changes", "[policy][authority]") {
  Store store;
  fill(store);
  RegistryAuthority authority(store, region, account);

  // meter-3's certificate has the fleet policy and one that denies connecting as meter-3.
  auto denied = authority.authorize_connect(who("meter-3", group_cert));
  CHECK(denied.refusal == ConnectRefusal::not_authorized);

  // Connect-only: admitted, without a thing name variable in play, but may do nothing else; the thing
  // group policy (attached to a parent group) grants publishing once the thing is in the group.
  auto bare = authority.authorize_connect(who("anything", connect_only_cert));
  REQUIRE(bare.refusal == ConnectRefusal::none);
  CHECK(bare.thing_name.empty());
  CHECK_FALSE(bare.policy->may_publish("group/x"));
  REQUIRE(store.write([](State& s) {
    s.things.edit("meter-4")->groups.insert("meters");
    s.thing_groups.edit("meters")->things.insert("meter-4");
  }));
  auto grouped = authority.authorize_connect(who("meter-4", connect_only_cert));
  REQUIRE(grouped.refusal == ConnectRefusal::none);
  CHECK(grouped.thing_name == "meter-4");
  CHECK(grouped.policy->may_publish("group/x"));
  CHECK_FALSE(grouped.policy->may_publish("other/x"));
  // ...but not to a connection whose client id is not the thing's name.
  CHECK_FALSE(authority.authorize_connect(who("anything", connect_only_cert)).policy->may_publish("group/x"));

  // A changed document takes effect at the next CONNECT; the earlier decision keeps its rights.
  auto before = authority.authorize_connect(who("meter-1", meter_cert));
  REQUIRE(before.refusal == ConnectRefusal::none);
  REQUIRE(store.write([](State& s) {
    s.policies.edit("fleet")->document = statement("Allow", R"("iot:Connect")", "\"" + arn + "client/nobody\"");
  }));
  CHECK(authority.authorize_connect(who("meter-1", meter_cert)).refusal == ConnectRefusal::not_authorized);
  CHECK(before.policy->may_publish("fleet/meter-1/telemetry"));

  // A stored document that does not parse grants nothing and is named in the reason.
  REQUIRE(store.write([](State& s) { s.policies.edit("fleet")->document = "{not json"; }));
  auto broken = authority.authorize_connect(who("meter-1", meter_cert));
  CHECK(broken.refusal == ConnectRefusal::not_authorized);
  CHECK_THAT(broken.reason, Catch::Contains("fleet (malformed, ignored)"));
}

TEST_CASE("the allow-all authority admits everyone as the thing named by the client id", "[policy][authority]") {
  AllowAllAuthority authority;
  auto d = authority.authorize_connect(who("anyone", ""));
  REQUIRE(d.refusal == ConnectRefusal::none);
  CHECK(d.thing_name == "anyone");
  CHECK(d.policy->may_publish("$aws/anything"));
  CHECK(d.policy->may_subscribe("#"));
  CHECK(d.policy->may_receive("x"));
}

//---------------------------------------------------------------------------------------------------
// Cost per question (run with: unit_local_policy "[.bench]")

namespace {

template <class F>
double ns_per_call(std::size_t n, F&& f) {
  const auto start = std::chrono::steady_clock::now();
  for (std::size_t i = 0; i < n; ++i) f(i);
  return std::chrono::duration<double, std::nano>(std::chrono::steady_clock::now() - start).count() /
         static_cast<double>(n);
}

}  // namespace

TEST_CASE("policy questions cost nanoseconds", "[.bench]") {
  const auto p = compile({aws::thing_policy_document(fleet_plan(), region, account)}, attached("meter-1"));
  constexpr std::size_t n = 2'000'000;
  std::size_t yes = 0;
  const double publish_own = ns_per_call(n, [&](std::size_t) { yes += p.may_publish("fleet/meter-1/telemetry"); });
  const double publish_other = ns_per_call(n, [&](std::size_t) { yes += p.may_publish("fleet/meter-2/telemetry"); });
  const double subscribe_metrics =
      ns_per_call(n, [&](std::size_t) { yes += p.may_subscribe("$aws/things/meter-1/defender/metrics/json/accepted"); });
  const double receive_own = ns_per_call(n, [&](std::size_t) { yes += p.may_receive("fleet/meter-1/commands"); });
  CHECK(yes == 3 * n);

  // A wider policy: a Deny and twenty globs in front of the match.
  std::string resources;
  for (int i = 0; i < 20; ++i) resources += "\"" + arn + "topic/app" + std::to_string(i) + "/*/data?\",";
  resources += "\"" + arn + "topic/fleet/${iot:Connection.Thing.ThingName}/*\"";
  const auto wide = compile({statement("Allow", R"("iot:Publish")", "[" + resources + "]"),
                             statement("Deny", R"("iot:Publish")", "\"" + arn + "topic/fleet/*/secret\"")},
                            attached("meter-1"));
  const double publish_wide = ns_per_call(n, [&](std::size_t) { yes += wide.may_publish("fleet/meter-1/telemetry"); });
  CHECK(yes == 4 * n);

  Store store;
  fill(store);
  RegistryAuthority authority(store, region, account);
  constexpr std::size_t connects = 20'000;
  std::size_t admitted = 0;
  const double connect = ns_per_call(connects, [&](std::size_t) {
    admitted += authority.authorize_connect(who("meter-1", meter_cert)).refusal == ConnectRefusal::none;
  });
  CHECK(admitted == connects);
  WARN("may_publish own topic: " << publish_own << " ns; other thing's topic: " << publish_other
                                 << " ns; may_subscribe metrics/accepted: " << subscribe_metrics
                                 << " ns; may_receive: " << receive_own << " ns; 22-pattern policy with a Deny: "
                                 << publish_wide << " ns; authorize_connect: " << connect / 1000.0 << " us");
}
