// Test that the header is self-contained.
#include <atomic>
#include <catch2/catch.hpp>
#include <chrono>
#include <filesystem>
#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "sim/aws/credentials.hpp"
#include "tests/support/process.hpp"
#include "tests/unit/aws/fake_http_server.hpp"

using namespace fleetsim;
using namespace fleetsim::aws;
using Catch::Matchers::Contains;
using Catch::Matchers::StartsWith;
using fleetsim::test::FakeHttpServer;
using fleetsim::test::FakeRequest;
using fleetsim::test::FakeResponse;
using json = nlohmann::json;
namespace fs = std::filesystem;

namespace {

constexpr EpochMillis t0 = 1'796'436'000'000;  // 2026-12-05T02:00:00Z
constexpr EpochMillis minute = 60'000;

// A temporary home directory and an environment map; IMDS is disabled unless a test points it somewhere.
struct Sandbox {
  test::TempDir dir;
  std::map<std::string, std::string> env;

  std::string home() const { return dir.path(); }
  std::string aws_dir() const { return dir.path() + "/.aws"; }

  std::string write_aws(const std::string& name, const std::string& content) const {
    fs::create_directories(aws_dir());
    return dir.write(".aws/" + name, content);
  }
  // An executable shell script in the sandbox (in `sub`, created when needed).
  std::string script(const std::string& name, const std::string& body, const std::string& sub = "bin") const {
    fs::create_directories(dir.path() + "/" + sub);
    auto path = dir.write(sub + "/" + name, "#!/bin/sh\n" + body);
    fs::permissions(path, fs::perms::owner_all, fs::perm_options::replace);
    return path;
  }

  AwsConfigOptions options(const std::string& profile = {}) const {
    AwsConfigOptions o;
    o.profile = profile;
    o.home = home();
    auto e = env;
    if (!e.contains("AWS_EC2_METADATA_SERVICE_ENDPOINT")) e.emplace("AWS_EC2_METADATA_DISABLED", "true");
    o.environment = map_environment(e);
    o.container_endpoint = "http://127.0.0.1:9";  // only used when a test sets the relative URI
    o.imds_timeout = std::chrono::milliseconds(500);
    return o;
  }

  Expected<Credentials> resolve(const std::string& profile = {}) const {
    static const SystemClock clock;
    return resolve_credentials(options(profile), clock);
  }
};

std::string error_of(const Expected<Credentials>& r) {
  REQUIRE_FALSE(r);
  return r.error();
}

std::string metadata_json(const std::string& akid, EpochMillis expiration) {
  return json{{"Code", "Success"},        {"Type", "AWS-HMAC"},
              {"AccessKeyId", akid},      {"SecretAccessKey", "secret-" + akid},
              {"Token", "token-" + akid}, {"Expiration", format_rfc3339(expiration)}}
      .dump();
}

std::string sts_xml(const std::string& akid, const std::string& secret, const std::string& token,
                    EpochMillis expiration) {
  return R"(<AssumeRoleWithWebIdentityResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/">
  <AssumeRoleWithWebIdentityResult>
    <SubjectFromWebIdentityToken>system:serviceaccount:fleet:sim</SubjectFromWebIdentityToken>
    <AssumedRoleUser>
      <Arn>arn:aws:sts::123456789012:assumed-role/fleet/fleet-session</Arn>
      <AssumedRoleId>AROAEXAMPLE:fleet-session</AssumedRoleId>
    </AssumedRoleUser>
    <Credentials>
      <SessionToken>)" +
         token + R"(</SessionToken>
      <SecretAccessKey>)" +
         secret + R"(</SecretAccessKey>
      <Expiration>)" +
         format_rfc3339(expiration) + R"(</Expiration>
      <AccessKeyId>)" +
         akid + R"(</AccessKeyId>
    </Credentials>
    <Provider>arn:aws:iam::123456789012:oidc-provider/example</Provider>
  </AssumeRoleWithWebIdentityResult>
  <ResponseMetadata><RequestId>c6104cbe-af31-11e0-8154-cbc7ccf896c7</RequestId></ResponseMetadata>
</AssumeRoleWithWebIdentityResponse>)";
}

const char* credentials_file = R"(# keys for the fleet simulator
[default]
aws_access_key_id = AKIDDEFAULT
aws_secret_access_key = SECRETDEFAULT

; dev carries a session token
[dev]
aws_access_key_id=AKIDDEV
aws_secret_access_key=SECRETDEV
aws_session_token = TOKENDEV

[both]
AWS_ACCESS_KEY_ID = AKIDCREDSBOTH
Aws_Secret_Access_Key = SECRETCREDSBOTH

[legacy]
aws_access_key_id = AKIDLEGACY
aws_secret_access_key = SECRETLEGACY
aws_security_token = LEGACYTOKEN
)";

const char* config_file = R"(# ~/.aws/config
[default]
region = us-east-1

[profile dev]
region: eu-west-1
s3 =
  max_concurrent_requests = 20
  addressing_style = path
output = json

[profile cfgonly]   ; static keys in the config file
aws_access_key_id = AKIDCFG
aws_secret_access_key = SECRETCFG
region = ap-southeast-2

[profile "with space"]
aws_access_key_id = AKIDSPACE
aws_secret_access_key = SECRETSPACE

[profile both]
aws_access_key_id = AKIDCONFIGBOTH
aws_secret_access_key = SECRETCONFIGBOTH

[sso-session corp]
sso_start_url = https://example.awsapps.com/start

[notaprofile]
aws_access_key_id = AKIDNOTAPROFILE
aws_secret_access_key = SECRETNOTAPROFILE
)";

}  // namespace

//----------------------------------------------------------------------------------------------------------------
// Command lines and INI files

TEST_CASE("split_command_line splits like shlex.split, without a shell", "[credentials]") {
  using V = std::vector<std::string>;
  CHECK(*split_command_line("") == V{});
  CHECK(*split_command_line("  a b\t c  ") == V{"a", "b", "c"});
  CHECK(*split_command_line(R"("/opt/my tools/creds" --profile 'two words')") ==
        V{"/opt/my tools/creds", "--profile", "two words"});
  CHECK(*split_command_line(R"(a\ b c)") == V{"a b", "c"});
  CHECK(*split_command_line(R"("q\"uote" "back\\slash" "keep\n" 'lit\eral')") ==
        V{"q\"uote", "back\\slash", "keep\\n", "lit\\eral"});
  CHECK(*split_command_line("'' x\"y\"z") == V{"", "xyz"});
  CHECK(*split_command_line("$HOME ~/x `id` ;") == V{"$HOME", "~/x", "`id`", ";"});  // no shell expansion
  CHECK_THAT(split_command_line("a 'b").error(), Contains("unclosed single quote"));
  CHECK_THAT(split_command_line("a \"b").error(), Contains("unclosed double quote"));
  CHECK_THAT(split_command_line("a \\").error(), Contains("backslash"));
}

TEST_CASE("parse_aws_ini reads files as botocore's configparser does", "[credentials]") {
  auto ini = parse_aws_ini(
      "# comment\n"
      "  ; indented comment\n"
      "\n"
      "[ spaced ]\n"
      "Region = eu-west-1 # kept: botocore has no inline comments\n"
      "Output:json\r\n"
      "[profile dev]  # a comment after the header\n"
      "s3 =\n"
      "    max_concurrent_requests = 20\n"
      "    addressing_style = path\n"
      "region = us-west-2\n"
      "multi = first\n"
      "  second\n",
      "config");
  REQUIRE(ini);
  REQUIRE(ini->contains("spaced"));
  REQUIRE(ini->contains("profile dev"));
  const auto& spaced = ini->at("spaced").values;
  CHECK(spaced.at("region") == "eu-west-1 # kept: botocore has no inline comments");
  CHECK(spaced.at("output") == "json");
  const auto& dev = ini->at("profile dev");
  CHECK(dev.values.at("region") == "us-west-2");
  CHECK(dev.values.at("multi") == "first\nsecond");
  CHECK_FALSE(dev.values.contains("s3"));
  CHECK(dev.nested.at("s3").at("max_concurrent_requests") == "20");
  CHECK(dev.nested.at("s3").at("addressing_style") == "path");

  SECTION("errors name file and line but never quote the line") {
    auto e = parse_aws_ini("[default]\naws_access_key_id = AKID\nwJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY\n",
                           "/x/credentials");
    REQUIRE_FALSE(e);
    CHECK_THAT(e.error(), StartsWith("/x/credentials:3: "));
    CHECK_THAT(e.error(), !Contains("wJalrXUtnFEMI"));
    CHECK_THAT(parse_aws_ini("region = us-east-1\n", "c").error(),
               Contains("c:1: ") && Contains("before any [section]"));
    CHECK_THAT(parse_aws_ini("[]\n", "c").error(), Contains("c:1: "));
  }
}

TEST_CASE("the profile comes from --profile, AWS_PROFILE, AWS_DEFAULT_PROFILE, then default", "[credentials]") {
  auto env = map_environment({{"AWS_PROFILE", "p-env"}, {"AWS_DEFAULT_PROFILE", "p-default-env"}});
  CHECK(choose_profile("p-param", env).name == "p-param");
  CHECK(choose_profile("p-param", env).source == ProfileSource::parameter);
  CHECK(choose_profile("", env).name == "p-env");
  CHECK(choose_profile("", env).source == ProfileSource::aws_profile);
  auto env2 = map_environment({{"AWS_PROFILE", ""}, {"AWS_DEFAULT_PROFILE", "p-default-env"}});
  CHECK(choose_profile("", env2).name == "p-default-env");
  CHECK(choose_profile("", env2).source == ProfileSource::aws_default_profile);
  auto none = choose_profile("", map_environment({}));
  CHECK(none.name == "default");
  CHECK_FALSE(none.must_exist());
}

//----------------------------------------------------------------------------------------------------------------
// Environment, shared credentials file, config file

TEST_CASE("environment credentials come first", "[credentials]") {
  Sandbox s;
  s.write_aws("credentials", credentials_file);
  s.write_aws("config", config_file);
  s.env = {{"AWS_ACCESS_KEY_ID", "AKIDENV"}, {"AWS_SECRET_ACCESS_KEY", "SECRETENV"}};

  SECTION("long-term keys") {
    auto c = s.resolve();
    REQUIRE(c);
    CHECK(c->access_key_id == "AKIDENV");
    CHECK(c->secret_access_key == "SECRETENV");
    CHECK(c->session_token.empty());
    CHECK_FALSE(c->expiration);
    CHECK(c->source == "environment");
  }
  SECTION("session token, and the legacy AWS_SECURITY_TOKEN") {
    s.env["AWS_SECURITY_TOKEN"] = "LEGACY";
    CHECK(s.resolve()->session_token == "LEGACY");
    s.env["AWS_SESSION_TOKEN"] = "SESSION";
    CHECK(s.resolve()->session_token == "SESSION");
  }
  SECTION("AWS_CREDENTIAL_EXPIRATION makes them temporary") {
    s.env["AWS_CREDENTIAL_EXPIRATION"] = "2099-01-01T00:00:00Z";
    CHECK(s.resolve()->expiration == *parse_rfc3339("2099-01-01T00:00:00Z"));
  }
  SECTION("AWS_PROFILE does not skip the environment") {
    s.env["AWS_PROFILE"] = "dev";
    CHECK(s.resolve()->access_key_id == "AKIDENV");
  }
  SECTION("an explicit --profile skips the environment") {
    auto c = s.resolve("dev");
    REQUIRE(c);
    CHECK(c->access_key_id == "AKIDDEV");
    CHECK(c->session_token == "TOKENDEV");
  }
  SECTION("a key id without a secret is an error that names the variable, not the value") {
    s.env.erase("AWS_SECRET_ACCESS_KEY");
    auto e = error_of(s.resolve());
    CHECK_THAT(e, Contains("AWS_SECRET_ACCESS_KEY is not"));
    CHECK_THAT(e, !Contains("AKIDENV"));
  }
}

TEST_CASE("shared credentials and config files with several profiles", "[credentials]") {
  Sandbox s;
  auto creds_path = s.write_aws("credentials", credentials_file);
  auto config_path = s.write_aws("config", config_file);

  SECTION("default profile from the credentials file") {
    auto c = s.resolve();
    REQUIRE(c);
    CHECK(c->access_key_id == "AKIDDEFAULT");
    CHECK(c->secret_access_key == "SECRETDEFAULT");
    CHECK(c->source == "shared credentials file " + creds_path + " [default]");
  }
  SECTION("a named profile, keys case-insensitive, legacy token") {
    s.env["AWS_PROFILE"] = "both";
    CHECK(s.resolve()->access_key_id == "AKIDCREDSBOTH");  // the credentials file comes before the config file
    CHECK(s.resolve("legacy")->session_token == "LEGACYTOKEN");
  }
  SECTION("static keys in the config file") {
    auto c = s.resolve("cfgonly");
    REQUIRE(c);
    CHECK(c->access_key_id == "AKIDCFG");
    CHECK(c->source == "config file " + config_path + " [profile cfgonly]");
    CHECK(s.resolve("with space")->access_key_id == "AKIDSPACE");
  }
  SECTION("AWS_SHARED_CREDENTIALS_FILE and AWS_CONFIG_FILE, with ~ expanded") {
    s.dir.write("elsewhere-creds", "[default]\naws_access_key_id = AKIDELSEWHERE\naws_secret_access_key = X\n");
    s.dir.write("elsewhere-config",
                "[profile only-here]\naws_access_key_id = AKIDCFGELSEWHERE\naws_secret_access_key = Y\n");
    s.env["AWS_SHARED_CREDENTIALS_FILE"] = "~/elsewhere-creds";
    s.env["AWS_CONFIG_FILE"] = s.dir.path() + "/elsewhere-config";
    CHECK(s.resolve()->access_key_id == "AKIDELSEWHERE");
    CHECK(s.resolve("only-here")->access_key_id == "AKIDCFGELSEWHERE");
    CHECK_FALSE(s.resolve("dev"));  // ~/.aws/credentials is no longer read
  }
  SECTION("a key id without a secret in a file is an error without the values") {
    s.write_aws("credentials", "[default]\naws_access_key_id = AKIDHALF\n");
    auto e = error_of(s.resolve());
    CHECK_THAT(e, Contains(creds_path) && Contains("no aws_secret_access_key"));
    CHECK_THAT(e, !Contains("AKIDHALF"));
  }
  SECTION("a malformed file is an error") {
    s.write_aws("config", "[default]\nthis line has no equals sign\n");
    CHECK_THAT(error_of(s.resolve()), Contains(config_path + ":2: "));
  }
}

TEST_CASE("a named profile that does not exist is an error naming the files", "[credentials]") {
  Sandbox s;
  auto creds_path = s.write_aws("credentials", credentials_file);
  auto config_path = s.write_aws("config", config_file);

  auto e = error_of(s.resolve("nope"));
  CHECK_THAT(e, Contains("'nope'") && Contains("--profile") && Contains(config_path) && Contains(creds_path));
  CHECK_THAT(e, Contains("cfgonly"));  // lists the profiles there

  s.env["AWS_PROFILE"] = "devv";
  e = error_of(s.resolve());
  CHECK_THAT(e, Contains("AWS_PROFILE") && Contains("did you mean 'dev'?"));

  // Sections of the config file without "profile " are not profiles.
  CHECK_THAT(error_of(s.resolve("notaprofile")), Contains("could not be found"));

  SECTION("missing files are named as missing") {
    Sandbox empty;
    auto msg = error_of(empty.resolve("work"));
    CHECK_THAT(msg, Contains(empty.aws_dir() + "/config (does not exist)") &&
                        Contains(empty.aws_dir() + "/credentials (does not exist)"));
  }
  SECTION("an unnamed default profile need not exist") {
    Sandbox empty;
    CHECK_THAT(error_of(empty.resolve()), Contains("no AWS credentials found for profile 'default'"));
  }
}

TEST_CASE("region: --region, AWS_REGION, AWS_DEFAULT_REGION, then the profile", "[credentials]") {
  Sandbox s;
  s.write_aws("config", config_file);
  auto region = [&](const std::string& param, const std::string& profile = {}) {
    auto o = s.options(profile);
    o.region = param;
    return resolve_region(o);
  };
  s.env = {{"AWS_REGION", "us-west-1"}, {"AWS_DEFAULT_REGION", "us-west-2"}};
  CHECK(*region("eu-north-1") == "eu-north-1");
  CHECK(*region("") == "us-west-1");
  s.env.erase("AWS_REGION");
  CHECK(*region("") == "us-west-2");
  s.env.erase("AWS_DEFAULT_REGION");
  CHECK(*region("") == "us-east-1");  // [default]
  CHECK(*region("", "dev") == "eu-west-1");
  s.env["AWS_PROFILE"] = "cfgonly";
  CHECK(*region("") == "ap-southeast-2");

  SECTION("a region in the credentials file counts too (botocore merges the files)") {
    s.write_aws("credentials", "[creds-region]\nregion = sa-east-1\n");
    CHECK(*region("", "creds-region") == "sa-east-1");
  }
  SECTION("no region says what to set") {
    auto e = region("", "with space");
    REQUIRE_FALSE(e);
    CHECK_THAT(e.error(), Contains("--region") && Contains("AWS_REGION") && Contains("[profile with space]") &&
                              Contains(s.aws_dir() + "/config"));
    Sandbox empty;
    auto o = empty.options();
    CHECK_THAT(resolve_region(o).error(), Contains("[default]"));
  }
  SECTION("a malformed region is refused") {
    CHECK_THAT(region("us-east-1.evil.example/").error(), Contains("not an AWS region name") && Contains("--region"));
  }
  SECTION("a missing named profile is an error here too") {
    CHECK_THAT(region("", "nope").error(), Contains("could not be found"));
  }
  SECTION("the provider answers for its own profile") {
    CredentialProvider p(s.options("dev"));
    CHECK(*p.region() == "eu-west-1");
    CHECK(p.profile().name == "dev");
  }
}

//----------------------------------------------------------------------------------------------------------------
// credential_process

TEST_CASE("credential_process runs without a shell and reads its JSON", "[credentials]") {
  Sandbox s;
  // Prints its second argument as the key id, so the test sees how the command line was split.
  auto ok = s.script("print creds.sh",
                     "printf '{\"Version\": 1, \"AccessKeyId\": \"%s\", \"SecretAccessKey\": \"PROCSECRET\", "
                     "\"SessionToken\": \"PROCTOKEN\", \"Expiration\": \"2099-01-01T00:00:00+00:00\"}\\n' \"$2\"\n",
                     "bin dir");
  auto profile_with = [&](const std::string& command) {
    s.write_aws("config", "[profile proc]\nregion = us-east-1\ncredential_process = " + command + "\n");
  };

  SECTION("quoted path with a space, quoted argument") {
    profile_with("\"" + ok + "\" --key 'AKID PROC'");
    auto c = s.resolve("proc");
    REQUIRE(c);
    CHECK(c->access_key_id == "AKID PROC");
    CHECK(c->secret_access_key == "PROCSECRET");
    CHECK(c->session_token == "PROCTOKEN");
    CHECK(c->expiration == *parse_rfc3339("2099-01-01T00:00:00Z"));
    CHECK(c->source == "credential_process of profile 'proc'");
  }
  SECTION("keys in the credentials file come before credential_process") {
    profile_with("\"" + ok + "\" --key AKIDPROC");
    s.write_aws("credentials", "[proc]\naws_access_key_id = AKIDFILE\naws_secret_access_key = S\n");
    CHECK(s.resolve("proc")->access_key_id == "AKIDFILE");
  }
  SECTION("a non-zero exit fails with its stderr, never its stdout") {
    auto fail = s.script("fail.sh",
                         "echo '{\"Version\":1,\"AccessKeyId\":\"AKIDLEAK\",\"SecretAccessKey\":\"LEAKED\"}'\n"
                         "echo 'session expired: run corp-login first' >&2\nexit 1\n");
    profile_with(fail + " --secret-arg hunter2");
    auto e = error_of(s.resolve("proc"));
    CHECK_THAT(e, Contains("credential_process") && Contains("exited with status 1") &&
                      Contains("session expired: run corp-login first") && Contains(fail));
    CHECK_THAT(e, !Contains("LEAKED") && !Contains("hunter2"));
  }
  SECTION("a process that hangs is killed after the timeout") {
    profile_with(s.script("slow.sh", "sleep 20\n"));
    auto o = s.options("proc");
    o.process_timeout = std::chrono::milliseconds(300);
    auto start = std::chrono::steady_clock::now();
    static const SystemClock clock;
    auto r = resolve_credentials(o, clock);
    CHECK(std::chrono::steady_clock::now() - start < std::chrono::seconds(5));
    CHECK_THAT(error_of(r), Contains("did not finish within 0.3 s"));
  }
  SECTION("output that is not JSON is not quoted back") {
    profile_with(s.script("junk.sh", "echo 'AccessKeyId=AKIDJUNK SecretAccessKey=JUNKSECRET'\n"));
    auto e = error_of(s.resolve("proc"));
    CHECK_THAT(e, Contains("did not print a JSON object"));
    CHECK_THAT(e, !Contains("JUNKSECRET"));
  }
  SECTION("only Version 1") {
    profile_with(s.script("v2.sh", "echo '{\"Version\": 2, \"AccessKeyId\": \"A\", \"SecretAccessKey\": \"B\"}'\n"));
    CHECK_THAT(error_of(s.resolve("proc")), Contains("Version 2") && Contains("only Version 1"));
  }
  SECTION("a missing key is named") {
    profile_with(s.script("nokey.sh", "echo '{\"Version\": 1, \"AccessKeyId\": \"A\"}'\n"));
    CHECK_THAT(error_of(s.resolve("proc")), Contains("no SecretAccessKey"));
  }
  SECTION("a program that does not exist") {
    profile_with(s.dir.path() + "/no-such-program");
    CHECK_THAT(error_of(s.resolve("proc")), Contains("could not be started"));
  }
  SECTION("an unclosed quote") {
    profile_with("\"" + ok);
    CHECK_THAT(error_of(s.resolve("proc")), Contains("unclosed double quote"));
  }
}

//----------------------------------------------------------------------------------------------------------------
// Container endpoint

TEST_CASE("container credentials from the ECS/EKS endpoint", "[credentials]") {
  Sandbox s;
  FakeHttpServer server([](const FakeRequest& r) {
    if (r.method == "GET" && r.target == "/v2/credentials/3f9a-uuid")
      return FakeResponse::json(metadata_json("AKIDECS", t0 + 360 * minute));
    if (r.method == "GET" && r.target == "/v1/credentials")
      return FakeResponse::json(metadata_json("AKIDPOD", t0 + 360 * minute));
    if (r.target == "/denied") return FakeResponse::json(R"({"code":"AccessDenied","message":"token rejected"})", 403);
    if (r.target == "/broken") return FakeResponse::text(500, "oops");
    return FakeResponse::text(404, "not found");
  });
  ManualClock clock(t0);

  SECTION("relative URI, Authorization from AWS_CONTAINER_AUTHORIZATION_TOKEN") {
    s.env["AWS_CONTAINER_CREDENTIALS_RELATIVE_URI"] = "/v2/credentials/3f9a-uuid";
    s.env["AWS_CONTAINER_AUTHORIZATION_TOKEN"] = "Bearer container-auth";
    auto o = s.options();
    o.container_endpoint = server.url();
    auto c = resolve_credentials(o, clock);
    REQUIRE(c);
    CHECK(c->access_key_id == "AKIDECS");
    CHECK(c->secret_access_key == "secret-AKIDECS");
    CHECK(c->session_token == "token-AKIDECS");
    CHECK(c->expiration == t0 + 360 * minute);
    CHECK(c->source == "container endpoint " + server.url());  // no path: it can be a capability
    auto reqs = server.requests();
    REQUIRE(reqs.size() == 1);
    CHECK(reqs[0].header("Authorization") == "Bearer container-auth");
  }
  SECTION("full URI on loopback, Authorization from AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE") {
    s.env["AWS_CONTAINER_CREDENTIALS_FULL_URI"] = server.url() + "/v1/credentials";
    s.env["AWS_CONTAINER_AUTHORIZATION_TOKEN"] = "ignored: the file wins";
    s.env["AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE"] = s.dir.write("pod-token", "eks-pod-identity-token\n");
    auto c = resolve_credentials(s.options(), clock);
    REQUIRE(c);
    CHECK(c->access_key_id == "AKIDPOD");
    REQUIRE(server.request_count() == 1);
    CHECK(server.requests()[0].header("Authorization") == "eks-pod-identity-token");
  }
  SECTION("no Authorization header unless one is configured") {
    s.env["AWS_CONTAINER_CREDENTIALS_FULL_URI"] = server.url() + "/v1/credentials";
    REQUIRE(resolve_credentials(s.options(), clock));
    CHECK_FALSE(server.requests()[0].has_header("Authorization"));
  }
  SECTION("a full URI over plain http to another host is refused without a request") {
    s.env["AWS_CONTAINER_CREDENTIALS_FULL_URI"] = "http://169.254.169.254.evil.example/creds";
    auto e = error_of(resolve_credentials(s.options(), clock));
    CHECK_THAT(e, Contains("must be https") && Contains("169.254.169.254.evil.example"));
    CHECK(server.request_count() == 0);
  }
  SECTION("an error answer is final and quotes the endpoint's message") {
    s.env["AWS_CONTAINER_CREDENTIALS_FULL_URI"] = server.url() + "/denied";
    s.env["AWS_CONTAINER_AUTHORIZATION_TOKEN"] = "Bearer secret-auth";
    auto e = error_of(resolve_credentials(s.options(), clock));
    CHECK_THAT(e, Contains("container endpoint") && Contains("HTTP 403: token rejected"));
    CHECK_THAT(e, !Contains("secret-auth") && !Contains("/denied"));
    CHECK(server.request_count() == 1);
  }
  SECTION("a server error is retried, three attempts in all") {
    s.env["AWS_CONTAINER_CREDENTIALS_FULL_URI"] = server.url() + "/broken";
    CHECK_THAT(error_of(resolve_credentials(s.options(), clock)), Contains("HTTP 500"));
    CHECK(server.request_count() == 3);
  }
  SECTION("a token with a line break is refused") {
    s.env["AWS_CONTAINER_CREDENTIALS_FULL_URI"] = server.url() + "/v1/credentials";
    s.env["AWS_CONTAINER_AUTHORIZATION_TOKEN"] = "abc\r\nX-Injected: 1";
    CHECK_THAT(error_of(resolve_credentials(s.options(), clock)), Contains("line break"));
    CHECK(server.request_count() == 0);
  }
}

//----------------------------------------------------------------------------------------------------------------
// IMDS

TEST_CASE("IMDSv2: a token first, then the role, then its credentials", "[credentials]") {
  Sandbox s;
  std::atomic<bool> refuse_token{false};
  FakeHttpServer server([&](const FakeRequest& r) {
    const std::string creds = "/latest/meta-data/iam/security-credentials/";
    if (r.method == "PUT" && r.target == "/latest/api/token") {
      if (refuse_token) return FakeResponse::text(403, "");
      if (r.header("x-aws-ec2-metadata-token-ttl-seconds").empty()) return FakeResponse::text(400, "");
      return FakeResponse::text(200, "IMDSTOKEN-1");
    }
    bool v2 = r.header("x-aws-ec2-metadata-token") == "IMDSTOKEN-1";
    if (!v2 && !refuse_token) return FakeResponse::text(401, "");
    if (r.method == "GET" && r.target == creds) return FakeResponse::text(200, "fleet-role\n");
    if (r.method == "GET" && r.target == creds + "fleet-role")
      return FakeResponse::json(metadata_json("AKIDIMDS", t0 + 360 * minute));
    return FakeResponse::text(404, "");
  });
  ManualClock clock(t0);
  s.env["AWS_EC2_METADATA_SERVICE_ENDPOINT"] = server.url() + "/";

  SECTION("IMDSv2") {
    auto c = resolve_credentials(s.options(), clock);
    REQUIRE(c);
    CHECK(c->access_key_id == "AKIDIMDS");
    CHECK(c->session_token == "token-AKIDIMDS");
    CHECK(c->expiration == t0 + 360 * minute);
    CHECK(c->source == "instance metadata (role fleet-role)");
    auto reqs = server.requests();
    REQUIRE(reqs.size() == 3);
    CHECK(reqs[0].method == "PUT");
    CHECK(reqs[0].target == "/latest/api/token");
    CHECK(reqs[0].header("x-aws-ec2-metadata-token-ttl-seconds") == "21600");
    CHECK(reqs[1].method == "GET");
    CHECK(reqs[1].target == "/latest/meta-data/iam/security-credentials/");
    CHECK(reqs[1].header("x-aws-ec2-metadata-token") == "IMDSTOKEN-1");
    CHECK(reqs[2].target == "/latest/meta-data/iam/security-credentials/fleet-role");
    CHECK(reqs[2].header("x-aws-ec2-metadata-token") == "IMDSTOKEN-1");
  }
  SECTION("a refused token request falls back to IMDSv1, as botocore does") {
    refuse_token = true;
    auto c = resolve_credentials(s.options(), clock);
    REQUIRE(c);
    CHECK(c->source == "instance metadata (role fleet-role, IMDSv1)");
    CHECK_FALSE(server.requests()[1].has_header("x-aws-ec2-metadata-token"));
  }
  SECTION("unless IMDSv1 is disabled") {
    refuse_token = true;
    s.env["AWS_EC2_METADATA_V1_DISABLED"] = "true";
    CHECK_THAT(error_of(resolve_credentials(s.options(), clock)), Contains("IMDSv1 is disabled"));
  }
  SECTION("AWS_EC2_METADATA_DISABLED turns it off") {
    s.env["AWS_EC2_METADATA_DISABLED"] = "TRUE";
    CHECK_THAT(error_of(resolve_credentials(s.options(), clock)), Contains("AWS_EC2_METADATA_DISABLED is true"));
    CHECK(server.request_count() == 0);
  }
  SECTION("a slow metadata service fails within the step timeout") {
    server.set_handler([](const FakeRequest&) {
      FakeResponse r = FakeResponse::text(200, "late");
      r.delay = std::chrono::milliseconds(3000);
      return r;
    });
    auto o = s.options();
    o.imds_timeout = std::chrono::milliseconds(200);
    auto start = std::chrono::steady_clock::now();
    auto e = error_of(resolve_credentials(o, clock));
    CHECK(std::chrono::steady_clock::now() - start < std::chrono::milliseconds(2000));
    CHECK_THAT(e, Contains("instance metadata (IMDS): no credentials from " + server.url()) && Contains("0.2 s"));
  }
}

//----------------------------------------------------------------------------------------------------------------
// Web identity

TEST_CASE("web identity: AssumeRoleWithWebIdentity at STS", "[credentials]") {
  Sandbox s;
  const std::string role = "arn:aws:iam::123456789012:role/fleet";
  std::atomic<int> calls{0};
  FakeHttpServer server([&](const FakeRequest& r) {
    auto form = r.form();
    if (r.method != "POST" || form["Action"] != "AssumeRoleWithWebIdentity") return FakeResponse::text(400, "bad");
    if (form["WebIdentityToken"] == "expired.jwt.token")
      return FakeResponse::xml(R"(<ErrorResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/">
  <Error><Type>Sender</Type><Code>ExpiredTokenException</Code><Message>Token expired: current date/time 1796436000 must be before the expiration date/time 1796435000</Message></Error>
  <RequestId>8a1a5d2e-0000-0000-0000-000000000000</RequestId>
</ErrorResponse>)",
                               400);
    int n = ++calls;
    return FakeResponse::xml(sts_xml("ASIASTS" + std::to_string(n), "sts/secret+" + std::to_string(n),
                                     "sts-session&amp;token-" + std::to_string(n), t0 + 60 * minute * n));
  });
  ManualClock clock(t0);
  auto token_path = s.dir.write("token", "eyJhbGciOi.first.sig\n");

  SECTION("from the environment, unsigned, with the form fields") {
    s.env = {{"AWS_WEB_IDENTITY_TOKEN_FILE", token_path},
             {"AWS_ROLE_ARN", role},
             {"AWS_ROLE_SESSION_NAME", "fleet-session"},
             {"AWS_ENDPOINT_URL_STS", server.url()}};
    auto c = resolve_credentials(s.options(), clock);
    REQUIRE(c);
    CHECK(c->access_key_id == "ASIASTS1");
    CHECK(c->secret_access_key == "sts/secret+1");
    CHECK(c->session_token == "sts-session&token-1");
    CHECK(c->expiration == t0 + 60 * minute);
    CHECK(c->source == "web identity (" + role + " via STS)");
    auto reqs = server.requests();
    REQUIRE(reqs.size() == 1);
    CHECK(reqs[0].target == "/");
    CHECK_THAT(reqs[0].header("Content-Type"), StartsWith("application/x-www-form-urlencoded"));
    CHECK_FALSE(reqs[0].has_header("Authorization"));
    auto form = reqs[0].form();
    CHECK(form.size() == 5);
    CHECK(form["Action"] == "AssumeRoleWithWebIdentity");
    CHECK(form["Version"] == "2011-06-15");
    CHECK(form["RoleArn"] == role);
    CHECK(form["RoleSessionName"] == "fleet-session");
    CHECK(form["WebIdentityToken"] == "eyJhbGciOi.first.sig");
  }
  SECTION("from the profile, with the default session name") {
    s.write_aws("config", "[profile wi]\nweb_identity_token_file = " + token_path + "\nrole_arn = " + role +
                              "\nregion = eu-central-1\n");
    auto o = s.options("wi");
    o.sts_endpoint = server.url();
    auto c = resolve_credentials(o, clock);
    REQUIRE(c);
    CHECK(c->access_key_id == "ASIASTS1");
    CHECK_THAT(server.requests()[0].form()["RoleSessionName"], StartsWith("fleetsim-session-"));
  }
  SECTION("an STS error is reported with its code and message, never the token") {
    s.dir.write("token", "expired.jwt.token");
    s.env = {
        {"AWS_WEB_IDENTITY_TOKEN_FILE", token_path}, {"AWS_ROLE_ARN", role}, {"AWS_ENDPOINT_URL_STS", server.url()}};
    auto e = error_of(resolve_credentials(s.options(), clock));
    CHECK_THAT(e, Contains("web identity") && Contains("HTTP 400 ExpiredTokenException") &&
                      Contains("Token expired: current date/time") && Contains(role));
    CHECK_THAT(e, !Contains("expired.jwt.token"));
  }
  SECTION("a token file without a role is an error") {
    s.env = {{"AWS_WEB_IDENTITY_TOKEN_FILE", token_path}};
    CHECK_THAT(error_of(resolve_credentials(s.options(), clock)), Contains("AWS_ROLE_ARN"));
  }
  SECTION("a token file that does not exist is an error") {
    s.env = {{"AWS_WEB_IDENTITY_TOKEN_FILE", s.dir.path() + "/missing"}, {"AWS_ROLE_ARN", role}};
    CHECK_THAT(error_of(resolve_credentials(s.options(), clock)), Contains("does not exist"));
  }
  SECTION("refreshing reads the rotated token again") {
    s.env = {
        {"AWS_WEB_IDENTITY_TOKEN_FILE", token_path}, {"AWS_ROLE_ARN", role}, {"AWS_ENDPOINT_URL_STS", server.url()}};
    CredentialProvider p(s.options(), &clock);
    REQUIRE(p.get()->access_key_id == "ASIASTS1");
    s.dir.write("token", "eyJhbGciOi.second.sig");
    clock.set(t0 + 56 * minute);
    REQUIRE(p.get()->access_key_id == "ASIASTS2");
    auto reqs = server.requests();
    REQUIRE(reqs.size() == 2);
    CHECK(reqs[1].form()["WebIdentityToken"] == "eyJhbGciOi.second.sig");
  }
}

//----------------------------------------------------------------------------------------------------------------
// Refresh

TEST_CASE("temporary credentials are refreshed 5 minutes before they expire", "[credentials]") {
  Sandbox s;
  std::atomic<int> calls{0};
  std::atomic<bool> failing{false};
  FakeHttpServer server([&](const FakeRequest&) {
    if (failing) return FakeResponse::json(R"({"message":"agent restarting"})", 503);
    int n = ++calls;
    // Each answer expires an hour after the previous one: t0+60m, t0+120m, ...
    return FakeResponse::json(metadata_json("AKID" + std::to_string(n), t0 + 60 * minute * n));
  });
  s.env["AWS_CONTAINER_CREDENTIALS_RELATIVE_URI"] = "/creds";
  auto o = s.options();
  o.container_endpoint = server.url();
  ManualClock clock(t0);
  CredentialProvider p(o, &clock);

  REQUIRE(p.get()->access_key_id == "AKID1");
  CHECK(p.get()->source == "container endpoint " + server.url());
  CHECK(p.fetch_count() == 1);

  clock.set(t0 + 55 * minute - 1);  // just before expiry - 5 min: cached
  CHECK(p.get()->access_key_id == "AKID1");
  CHECK(server.request_count() == 1);

  clock.set(t0 + 55 * minute);  // expiry - 5 min: a second fetch
  CHECK(p.get()->access_key_id == "AKID2");
  CHECK(p.get()->expiration == t0 + 120 * minute);
  CHECK(server.request_count() == 2);
  CHECK(p.fetch_count() == 2);

  clock.set(t0 + 100 * minute);
  CHECK(p.get()->access_key_id == "AKID2");
  CHECK(server.request_count() == 2);

  SECTION("a failed refresh keeps the old credentials while they last, then is an error") {
    failing = true;
    clock.set(t0 + 116 * minute);  // advisory window: refresh fails (3 attempts), old ones still served
    CHECK(p.get()->access_key_id == "AKID2");
    CHECK(server.request_count() == 5);
    clock.set(t0 + 116 * minute + 10'000);  // within retry_interval: not asked again
    CHECK(p.get()->access_key_id == "AKID2");
    CHECK(server.request_count() == 5);
    clock.set(t0 + 119 * minute + 30'000);  // mandatory window: the failure is an error
    auto e = p.get();
    REQUIRE_FALSE(e);
    CHECK_THAT(e.error(),
               Contains("refreshing the credentials from container endpoint") && Contains("agent restarting"));
    failing = false;  // the next call walks the chain again
    clock.set(t0 + 119 * minute + 40'000);
    CHECK(p.get()->access_key_id == "AKID3");
  }
  SECTION("static credentials are never refetched") {
    Sandbox f;
    f.write_aws("credentials", credentials_file);
    CredentialProvider sp(f.options(), &clock);
    REQUIRE(sp.get()->access_key_id == "AKIDDEFAULT");
    clock.set(t0 + 100'000 * minute);
    REQUIRE(sp.get()->access_key_id == "AKIDDEFAULT");
    CHECK(sp.fetch_count() == 1);
  }
  SECTION("credentials that are already expired are refused") {
    clock.set(t0 + 1000 * minute);
    CredentialProvider late(o, &clock);
    CHECK_THAT(late.get().error(), Contains("expired at") && Contains("check the system clock"));
  }
}

//----------------------------------------------------------------------------------------------------------------
// The chain as a whole

TEST_CASE("when nothing is found, every provider and its reason are listed, without secrets", "[credentials]") {
  Sandbox s;
  s.env = {{"AWS_SECRET_ACCESS_KEY", "wJalrXUtnFEMI-SECRET"},
           {"AWS_EC2_METADATA_SERVICE_ENDPOINT", "http://127.0.0.1:" + std::to_string(test::free_port())}};
  s.write_aws("credentials", "[default]\naws_secret_access_key = FILE-SECRET-ONLY\n");
  auto e = error_of(s.resolve());
  INFO(e);
  CHECK_THAT(e, StartsWith("no AWS credentials found for profile 'default'; tried, in order:"));
  CHECK_THAT(e, Contains("\n  environment: AWS_SECRET_ACCESS_KEY is set but AWS_ACCESS_KEY_ID is not"));
  CHECK_THAT(e, Contains("\n  assume-role profile: profile 'default' has no role_arn"));
  CHECK_THAT(e, Contains("\n  web identity: AWS_WEB_IDENTITY_TOKEN_FILE is not set"));
  CHECK_THAT(e, Contains("\n  SSO profile: profile 'default' has no sso_* settings"));
  CHECK_THAT(
      e, Contains("\n  shared credentials file: " + s.aws_dir() + "/credentials [default] has no aws_access_key_id"));
  CHECK_THAT(e, Contains("\n  credential_process: profile 'default' has no credential_process"));
  CHECK_THAT(e, Contains("\n  config file: " + s.aws_dir() + "/config does not exist"));
  CHECK_THAT(e, Contains("\n  container endpoint: neither AWS_CONTAINER_CREDENTIALS_RELATIVE_URI"));
  CHECK_THAT(
      e, Contains("\n  instance metadata (IMDS): no credentials from http://127.0.0.1:") && Contains("not on EC2?"));
  CHECK_THAT(e, Contains("aws configure"));
  CHECK_THAT(e, !Contains("wJalrXUtnFEMI") && !Contains("FILE-SECRET-ONLY"));
}

TEST_CASE("assume-role and SSO profiles are reported as not supported yet", "[credentials]") {
  Sandbox s;
  s.write_aws("credentials", credentials_file);
  s.write_aws("config",
              "[profile ar]\nrole_arn = arn:aws:iam::123456789012:role/admin\nsource_profile = default\n"
              "[profile ar-broken]\nrole_arn = arn:aws:iam::123456789012:role/admin\n"
              "[profile corp]\nsso_session = corp\nsso_account_id = 123456789012\nsso_role_name = Admin\n");
  CHECK_THAT(error_of(s.resolve("ar")), Contains("assume-role profile: profile 'ar' assumes a role") &&
                                            Contains("not support") && Contains("export-credentials --profile ar"));
  CHECK_THAT(error_of(s.resolve("ar-broken")), Contains("neither source_profile nor credential_source"));
  CHECK_THAT(error_of(s.resolve("corp")), Contains("IAM Identity Center") && Contains("aws sso login --profile corp"));
  // Environment credentials still come first when the profile is not explicit.
  s.env = {{"AWS_PROFILE", "ar"}, {"AWS_ACCESS_KEY_ID", "AKIDENV"}, {"AWS_SECRET_ACCESS_KEY", "S"}};
  CHECK(s.resolve()->access_key_id == "AKIDENV");
}
