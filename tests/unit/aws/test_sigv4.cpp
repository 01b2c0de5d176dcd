// Test that the header is self-contained.
#include "sim/aws/sigv4.hpp"

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include <cctype>
#include <fstream>
#include <optional>
#include <string>
#include <utility>
#include <vector>

using namespace fleetsim;
using namespace fleetsim::aws;
using json = nlohmann::json;

namespace {

constexpr EpochMillis jan1_0000z = 1'704'067'200'000;  // 2024-01-01T00:00:00Z
constexpr EpochMillis second = 1'000;
constexpr EpochMillis minute = 60'000;

const json& sigv4_vectors() {
  static const json doc = [] {
    std::ifstream in(std::string(FLEETSIM_SOURCE_DIR) + "/tests/data/sigv4/vectors.json");
    REQUIRE(in);
    return json::parse(in);
  }();
  return doc;
}

QueryParams query_of(const json& c) {
  QueryParams q;
  for (const auto& p : c["query"]) q.emplace_back(p[0].get<std::string>(), p[1].get<std::string>());
  return q;
}

Headers headers_of(const json& list) {
  Headers h;
  for (const auto& p : list) h.emplace_back(p[0].get<std::string>(), p[1].get<std::string>());
  return h;
}

Credentials make_credentials(std::string akid, std::string secret, std::string token = "",
                             std::optional<EpochMillis> expiration = std::nullopt) {
  Credentials c;
  c.access_key_id = std::move(akid);
  c.secret_access_key = std::move(secret);
  c.session_token = std::move(token);
  c.expiration = expiration;
  return c;
}

Credentials credentials_of(const json& c) {
  return make_credentials(c["access_key_id"], c["secret_access_key"], c["session_token"]);
}

SigningRequest request_of(const json& c) {
  SigningRequest r;
  r.method = c["method"];
  r.host = c["host"];
  r.path = c["path"];
  r.query = query_of(c);
  r.headers = headers_of(c["headers"]);
  r.body = c["body"];
  return r;
}

// A key store holding exactly this vector's credentials.
CredentialLookup lookup_for(const Credentials& known) {
  return [known](std::string_view akid) -> std::optional<Credentials> {
    if (akid == known.access_key_id) return known;
    return std::nullopt;
  };
}

std::string header(const Headers& headers, std::string_view name) {
  for (const auto& [k, v] : headers) {
    std::string lower;
    for (char c : k) lower += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    if (lower == name) return v;
  }
  return {};
}

void set_header(Headers& headers, std::string_view name, std::string value) {
  for (auto& [k, v] : headers) {
    std::string lower;
    for (char c : k) lower += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    if (lower == name) v = value;
  }
}

// A request signed by sign() plus what verify() needs to check it.
struct Signed {
  json c;
  SigningRequest request;
  Credentials credentials;
  std::string region, service;
  EpochMillis at = 0;

  VerifyResult verify_at(EpochMillis now, const Headers& headers, std::string_view target, std::string_view body,
                         const CredentialLookup& lookup) const {
    return verify(request.method, target, headers, body, lookup, region, service, now);
  }
  VerifyResult verify_as_sent(EpochMillis now) const {
    return verify_at(now, request.headers, request.target(), request.body, lookup_for(credentials));
  }
};

Signed sign_vector(const json& c) {
  Signed s{c, request_of(c), credentials_of(c), c["region"], c["service"], c["epoch_ms"].get<EpochMillis>()};
  sign(s.request, s.credentials, s.region, s.service, s.at);
  return s;
}

}  // namespace

//---------------------------------------------------------------------------------------------------
// Building blocks

TEST_CASE("sigv4 encoding leaves only the unreserved characters", "[sigv4]") {
  CHECK(sigv4_encode("AZaz09-_.~") == "AZaz09-_.~");
  CHECK(sigv4_encode("a b+c/d:e=f&g%") == "a%20b%2Bc%2Fd%3Ae%3Df%26g%25");
  CHECK(sigv4_encode("café ✓") == "caf%C3%A9%20%E2%9C%93");
  CHECK(sigv4_decode("a%20b%2bc+d%zz%4") == "a b+c+d%zz%4");
  CHECK(sigv4_decode(sigv4_encode("naïve /:?#[]@!$&'()*+,;=")) == "naïve /:?#[]@!$&'()*+,;=");
}

TEST_CASE("the canonical path is normalised and encoded once more", "[sigv4]") {
  CHECK(canonical_path("") == "/");
  CHECK(canonical_path("/") == "/");
  CHECK(canonical_path("/things/dev%3A1/principals") == "/things/dev%253A1/principals");
  CHECK(canonical_path("//things//dev-1//") == "/things/dev-1/");
  CHECK(canonical_path("/things/./a/../b/.") == "/things/b");
  CHECK(canonical_path("/../..") == "/");
  CHECK(canonical_path("/a~b/c d") == "/a~b/c%20d");
}

TEST_CASE("the canonical query string sorts by encoded key, then value", "[sigv4]") {
  QueryParams q{{"nextToken", "a/b+c="}, {"maxResults", "5"}};
  CHECK(canonical_query_string(q) == "maxResults=5&nextToken=a%2Fb%2Bc%3D");
  CHECK(query_string(q) == "nextToken=a%2Fb%2Bc%3D&maxResults=5");
  CHECK(canonical_query_string({}) == "");
  CHECK(query_string({}) == "");
  CHECK(canonical_query_string({{"a0", "1"}, {"a:b", "2"}, {"t", "b"}, {"t", "a"}, {"k", ""}}) ==
        "a%3Ab=2&a0=1&k=&t=a&t=b");
}

TEST_CASE("header values are trimmed with inner whitespace collapsed", "[sigv4]") {
  CHECK(canonical_header_value("  a   b\t\tc  ") == "a b c");
  CHECK(canonical_header_value("") == "");
  CHECK(canonical_header_value(" \t ") == "");
  CHECK(signs_header("host"));
  CHECK(signs_header("content-type"));
  CHECK(signs_header("x-amz-security-token"));
  CHECK(signs_header("x-amzn-principal"));
  CHECK_FALSE(signs_header("x-amzn-trace-id"));
  CHECK_FALSE(signs_header("user-agent"));
  CHECK_FALSE(signs_header("content-length"));
  CHECK_FALSE(signs_header("amz-sdk-invocation-id"));
}

TEST_CASE("a received target splits into the raw path and decoded query pairs", "[sigv4]") {
  Target t = split_target("/things/dev%3A1?b=x%20y&flag&&a=1%2B2+3&a=");
  CHECK(t.path == "/things/dev%3A1");
  CHECK(t.query == QueryParams{{"b", "x y"}, {"flag", ""}, {"a", "1+2+3"}, {"a", ""}});
  CHECK(split_target("").path.empty());
  CHECK(split_target("/x?").query.empty());
}

TEST_CASE("X-Amz-Date round-trips and rejects malformed dates", "[sigv4]") {
  CHECK(amz_date(jan1_0000z) == "20240101T000000Z");
  CHECK(amz_date(jan1_0000z + 999) == "20240101T000000Z");
  CHECK(amz_date(jan1_0000z - 1) == "20231231T235959Z");
  CHECK(parse_amz_date("20240101T000000Z") == jan1_0000z);
  CHECK(parse_amz_date("20240229T123456Z") == jan1_0000z + (59LL * 86'400 + 12 * 3600 + 34 * 60 + 56) * 1000);
  for (auto bad : {"", "20240101T000000", "2024-01-01T00:00:00Z", "20240230T000000Z", "20240101T240000Z",
                   "20240101T000060Z", "2024010AT000000Z", "20240101 000000Z"})
    CHECK_FALSE(parse_amz_date(bad));
}

TEST_CASE("the signing key matches AWS's documented example", "[sigv4]") {
  // docs.aws.amazon.com, "Examples of how to derive a signing key for Signature Version 4".
  std::string key = signing_key("wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", "20120215", "us-east-1", "iam");
  static constexpr char digits[] = "0123456789abcdef";
  std::string hex;
  for (unsigned char c : key) hex += {digits[c >> 4], digits[c & 15]};
  CHECK(hex == "f4780e2d9f65fa895f9c67b32ce1baf0b0d8a43505a000a1a9e090d414db404d");
}

//---------------------------------------------------------------------------------------------------
// Signing against botocore

TEST_CASE("botocore vectors: sign() reproduces canonical request, string to sign and Authorization", "[sigv4]") {
  const json& cases = sigv4_vectors()["cases"];
  REQUIRE(cases.size() >= 20);
  for (const json& c : cases) {
    DYNAMIC_SECTION(c["name"].get<std::string>()) {
      SigningRequest r = request_of(c);
      // Milliseconds are truncated, as botocore's strftime does.
      SigningResult s = sign(r, credentials_of(c), c["region"].get<std::string>(), c["service"].get<std::string>(),
                             c["epoch_ms"].get<EpochMillis>() + 456);
      CHECK(s.canonical_request == c["canonical_request"].get<std::string>());
      CHECK(s.string_to_sign == c["string_to_sign"].get<std::string>());
      CHECK(s.authorization == c["authorization"].get<std::string>());
      CHECK(header(r.headers, "authorization") == c["authorization"].get<std::string>());
      // The wire query is encoded exactly as botocore puts it in the URL.
      CHECK(query_string(r.query) == c["wire_query"].get<std::string>());
      std::string expected_target = c["target"];
      if (expected_target.empty() || expected_target.front() == '?') expected_target.insert(0, "/");
      CHECK(r.target() == expected_target);
      // Every header botocore added carries the same value here.
      const Headers botocore_headers = headers_of(c["signed_request_headers"]);
      CHECK(header(r.headers, "x-amz-date") == header(botocore_headers, "x-amz-date"));
      CHECK(header(r.headers, "x-amz-security-token") == header(botocore_headers, "x-amz-security-token"));
      CHECK(header(r.headers, "host") == c["host"].get<std::string>());
      CHECK(s.signed_headers.find("user-agent") == std::string::npos);
    }
  }
}

TEST_CASE("sign() replaces a previous attempt's signature, date and token", "[sigv4]") {
  SigningRequest r;
  r.host = "iot.eu-west-1.amazonaws.com";
  r.path = "/things";
  r.headers = {{"authorization", "stale"}, {"X-AMZ-DATE", "20000101T000000Z"}, {"x-amz-security-token", "old"},
               {"User-Agent", "fleetsim"}};
  Credentials long_term = make_credentials("AKIDEXAMPLE", "secret", "");
  SigningResult first = sign(r, long_term, "eu-west-1", "iot", jan1_0000z);
  CHECK(r.headers.size() == 4);  // Host, User-Agent, X-Amz-Date, Authorization
  CHECK(header(r.headers, "x-amz-date") == "20240101T000000Z");
  CHECK(header(r.headers, "x-amz-security-token").empty());
  CHECK(first.signed_headers == "host;x-amz-date");
  CHECK(first.credential_scope == "20240101/eu-west-1/iot/aws4_request");

  // Signing again (a retry) gives the same request, not a second set of headers.
  Headers before = r.headers;
  sign(r, long_term, "eu-west-1", "iot", jan1_0000z);
  CHECK(r.headers == before);

  Credentials temporary = make_credentials("ASIAEXAMPLE", "secret", "token+/=", jan1_0000z + 3'600'000);
  SigningResult with_token = sign(r, temporary, "eu-west-1", "iot", jan1_0000z);
  CHECK(header(r.headers, "x-amz-security-token") == "token+/=");
  CHECK(with_token.signed_headers == "host;x-amz-date;x-amz-security-token");
}

TEST_CASE("sign() refuses to sign without a host or credentials", "[sigv4]") {
  SigningRequest r;
  Credentials c = make_credentials("AKIDEXAMPLE", "secret", "");
  CHECK_THROWS_AS(sign(r, c, "eu-west-1", "iot", jan1_0000z), std::invalid_argument);
  r.host = "iot.eu-west-1.amazonaws.com";
  CHECK_THROWS_AS(sign(r, Credentials{}, "eu-west-1", "iot", jan1_0000z), std::invalid_argument);
  r.headers.clear();
  r.host.clear();
  r.headers = {{"Host", "localhost:4566"}};
  CHECK_NOTHROW(sign(r, c, "eu-west-1", "iot", jan1_0000z));
}

//---------------------------------------------------------------------------------------------------
// Verification

TEST_CASE("botocore vectors: verify() accepts the requests botocore signed", "[sigv4][verify]") {
  for (const json& c : sigv4_vectors()["cases"]) {
    DYNAMIC_SECTION(c["name"].get<std::string>()) {
      Headers headers = headers_of(c["signed_request_headers"]);
      headers.emplace_back("Host", c["host"].get<std::string>());  // added by the HTTP client
      headers.emplace_back("Content-Length", std::to_string(c["body"].get<std::string>().size()));
      headers.emplace_back("amz-sdk-invocation-id", "5c4e6f9e-0000-4000-8000-000000000000");
      std::string target = c["target"];
      if (target.empty()) target = "/";
      VerifyResult v = verify(c["method"].get<std::string>(), target, headers, c["body"].get<std::string>(),
                              lookup_for(credentials_of(c)), c["region"].get<std::string>(),
                              c["service"].get<std::string>(), c["epoch_ms"].get<EpochMillis>() + 90 * second);
      INFO(v.message);
      CHECK(v.ok());
      CHECK(v.canonical_request == c["canonical_request"].get<std::string>());
      CHECK(v.string_to_sign == c["string_to_sign"].get<std::string>());
      CHECK(v.access_key_id == c["access_key_id"].get<std::string>());
    }
  }
}

TEST_CASE("botocore vectors: verify() rejects every tampered request", "[sigv4][verify]") {
  for (const json& c : sigv4_vectors()["cases"]) {
    DYNAMIC_SECTION(c["name"].get<std::string>()) {
      const Signed s = sign_vector(c);
      const EpochMillis now = s.at + 2 * minute;
      const std::string target = s.request.target();
      const auto lookup = lookup_for(s.credentials);
      auto verify_with = [&](const Headers& h, std::string_view t, std::string_view body) {
        return s.verify_at(now, h, t, body, lookup);
      };
      auto mismatch = [](const VerifyResult& v) {
        INFO(v.message);
        return v.error == VerifyError::signature_does_not_match;
      };

      REQUIRE(s.verify_as_sent(now).ok());

      SECTION("an unsigned extra header is accepted") {
        Headers h = s.request.headers;
        h.emplace_back("User-Agent", "aws-cli/2.15.0 Python/3.11");
        h.emplace_back("X-Forwarded-For", "10.0.0.1");
        h.emplace_back("amz-sdk-request", "attempt=1; max=3");
        CHECK(verify_with(h, target, s.request.body).ok());
      }
      SECTION("body changed") {
        CHECK(mismatch(verify_with(s.request.headers, target, s.request.body + " ")));
      }
      SECTION("a signed header changed") {
        Headers h = s.request.headers;
        set_header(h, "host", "iot.eu-west-2.amazonaws.com");
        CHECK(mismatch(verify_with(h, target, s.request.body)));
        if (!header(s.request.headers, "content-type").empty()) {
          Headers ct = s.request.headers;
          set_header(ct, "content-type", "text/plain");
          CHECK(mismatch(verify_with(ct, target, s.request.body)));
        }
      }
      SECTION("the date changed within the same day") {
        Headers h = s.request.headers;
        set_header(h, "x-amz-date", amz_date(s.at - second));
        if (amz_date(s.at - second).substr(0, 8) == amz_date(s.at).substr(0, 8))
          CHECK(mismatch(verify_with(h, target, s.request.body)));
      }
      SECTION("query changed") {
        CHECK(mismatch(verify_with(s.request.headers, target + (s.request.query.empty() ? "?" : "&") + "extra=1",
                                   s.request.body)));
        if (!s.request.query.empty()) {
          QueryParams q = s.request.query;
          q.back().second += "x";
          std::string changed = (s.request.path.empty() ? "/" : s.request.path) + "?" + query_string(q);
          CHECK(mismatch(verify_with(s.request.headers, changed, s.request.body)));
        }
      }
      SECTION("path changed") {
        CHECK(mismatch(verify_with(s.request.headers, "/other" + target, s.request.body)));
      }
      SECTION("method changed") {
        CHECK(mismatch(verify(s.request.method == "PATCH" ? "PUT" : "PATCH", target, s.request.headers,
                              s.request.body, lookup, s.region, s.service, now)));
      }
      SECTION("wrong secret") {
        Credentials other = s.credentials;
        other.secret_access_key += "x";
        VerifyResult v = s.verify_at(now, s.request.headers, target, s.request.body, lookup_for(other));
        CHECK(v.error == VerifyError::signature_does_not_match);
        CHECK(v.code() == "SignatureDoesNotMatch");
        CHECK(v.message ==
              "The request signature we calculated does not match the signature you provided. Check your AWS "
              "Secret Access Key and signing method. Consult the service documentation for details.");
        CHECK(http_status(v.error) == 403);
      }
      SECTION("unknown access key") {
        VerifyResult v = s.verify_at(now, s.request.headers, target, s.request.body,
                                     [](std::string_view) { return std::optional<Credentials>{}; });
        CHECK(v.error == VerifyError::unrecognized_client);
        CHECK(v.code() == "UnrecognizedClientException");
        CHECK(v.message == "The security token included in the request is invalid.");
      }
      SECTION("clock skew beyond 5 min") {
        CHECK(s.verify_as_sent(s.at + 5 * minute).ok());
        CHECK(s.verify_as_sent(s.at - 5 * minute).ok());
        VerifyResult late = s.verify_as_sent(s.at + 5 * minute + second);
        CHECK(late.error == VerifyError::signature_expired);
        CHECK(late.code() == "InvalidSignatureException");
        CHECK_THAT(late.message, Catch::Matchers::StartsWith("Signature expired: " + amz_date(s.at)));
        VerifyResult early = s.verify_as_sent(s.at - 5 * minute - second);
        CHECK(early.error == VerifyError::signature_expired);
        CHECK_THAT(early.message, Catch::Matchers::StartsWith("Signature not yet current: " + amz_date(s.at)));
      }
      SECTION("scope region wrong") {
        std::string other_region = s.region == "us-east-1" ? "eu-west-1" : "us-east-1";
        VerifyResult v = verify(s.request.method, target, s.request.headers, s.request.body, lookup, other_region,
                                s.service, now);
        CHECK(v.error == VerifyError::invalid_scope);
        CHECK(v.message == "Credential should be scoped to a valid region, not '" + s.region + "'. ");
      }
      SECTION("scope service wrong") {
        VerifyResult v = verify(s.request.method, target, s.request.headers, s.request.body, lookup, s.region,
                                "execute-api", now);
        CHECK(v.error == VerifyError::invalid_scope);
        CHECK(v.message == "Credential should be scoped to correct service: 'execute-api'. ");
      }
      if (s.credentials.has_session_token()) {
        SECTION("session token missing or wrong") {
          Headers dropped = s.request.headers;
          std::erase_if(dropped, [](const auto& h) { return h.first == "X-Amz-Security-Token"; });
          CHECK(verify_with(dropped, target, s.request.body).error == VerifyError::unrecognized_client);
          Headers wrong = s.request.headers;
          set_header(wrong, "x-amz-security-token", "forged");
          CHECK(verify_with(wrong, target, s.request.body).error == VerifyError::unrecognized_client);
        }
        SECTION("expired temporary credentials") {
          Credentials expired = s.credentials;
          expired.expiration = now - second;
          VerifyResult v = s.verify_at(now, s.request.headers, target, s.request.body, lookup_for(expired));
          CHECK(v.error == VerifyError::expired_token);
          CHECK(v.code() == "ExpiredTokenException");
        }
      }
    }
  }
}

TEST_CASE("verify() messages mirror AWS's", "[sigv4][verify]") {
  Credentials known = make_credentials("AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", "");
  SigningRequest r;
  r.host = "iot.eu-west-1.amazonaws.com";
  r.path = "/things/dev%3A1/principals";
  sign(r, known, "eu-west-1", "iot", jan1_0000z);
  const auto lookup = lookup_for(known);
  auto check = [&](const Headers& h, EpochMillis now = jan1_0000z) {
    return verify("GET", r.target(), h, "", lookup, "eu-west-1", "iot", now);
  };
  auto with_authorization = [&](std::string value) {
    Headers h = r.headers;
    set_header(h, "authorization", std::move(value));
    return h;
  };

  SECTION("the signed request passes, at the exact time and with an extra unsigned header") {
    CHECK(check(r.headers).ok());
    Headers h = r.headers;
    h.emplace_back("User-Agent", "curl/8.0");
    CHECK(check(h).ok());
  }
  SECTION("expired, with AWS's exact wording") {
    VerifyResult v = check(r.headers, jan1_0000z + 10 * minute);
    CHECK(v.error == VerifyError::signature_expired);
    CHECK(v.message ==
          "Signature expired: 20240101T000000Z is now earlier than 20240101T000500Z (20240101T001000Z - 5 min.)");
    VerifyResult custom = verify("GET", r.target(), r.headers, "", lookup, "eu-west-1", "iot",
                                 jan1_0000z + 20 * minute, std::chrono::minutes(15));
    CHECK(custom.message ==
          "Signature expired: 20240101T000000Z is now earlier than 20240101T000500Z (20240101T002000Z - 15 min.)");
  }
  SECTION("not yet current") {
    VerifyResult v = check(r.headers, jan1_0000z - 10 * minute);
    CHECK(v.message ==
          "Signature not yet current: 20240101T000000Z is still later than 20231231T235500Z (20231231T235000Z + 5 "
          "min.)");
  }
  SECTION("no Authorization header") {
    Headers h = r.headers;
    std::erase_if(h, [](const auto& x) { return x.first == "Authorization"; });
    VerifyResult v = check(h);
    CHECK(v.error == VerifyError::missing_authentication_token);
    CHECK(v.code() == "MissingAuthenticationToken");
    CHECK(v.message == "Missing Authentication Token");
  }
  SECTION("not a SigV4 Authorization header") {
    VerifyResult v = check(with_authorization("Bearer eyJhbGciOi"));
    CHECK(v.error == VerifyError::incomplete_signature);
    CHECK(v.code() == "IncompleteSignature");
    CHECK(v.message ==
          "Authorization header requires 'Credential' parameter. Authorization header requires 'Signature' "
          "parameter. Authorization header requires 'SignedHeaders' parameter. Authorization=Bearer eyJhbGciOi");
  }
  SECTION("a part of the Authorization header is missing") {
    std::string auth = header(r.headers, "authorization");
    std::string without_signature = auth.substr(0, auth.find(", Signature="));
    VerifyResult v = check(with_authorization(without_signature));
    CHECK(v.error == VerifyError::incomplete_signature);
    CHECK(v.message == "Authorization header requires 'Signature' parameter. Authorization=" + without_signature);
  }
  SECTION("a part without an equals sign") {
    VerifyResult v = check(with_authorization("AWS4-HMAC-SHA256 Credential AKIDEXAMPLE/20240101/eu-west-1/iot/aws4_request"));
    CHECK(v.error == VerifyError::incomplete_signature);
    CHECK_THAT(v.message, Catch::Matchers::Contains("not a valid key=value pair (missing equal-sign)"));
  }
  SECTION("no X-Amz-Date") {
    Headers h = r.headers;
    std::erase_if(h, [](const auto& x) { return x.first == "X-Amz-Date"; });
    VerifyResult v = check(h);
    CHECK(v.error == VerifyError::incomplete_signature);
    CHECK_THAT(v.message, Catch::Matchers::StartsWith(
                              "Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header. "));
  }
  SECTION("malformed X-Amz-Date") {
    Headers h = r.headers;
    set_header(h, "x-amz-date", "2024-01-01T00:00:00Z");
    CHECK(check(h).error == VerifyError::incomplete_signature);
  }
  SECTION("X-Amz-Date on another day than the scope") {
    Headers h = r.headers;
    set_header(h, "x-amz-date", "20240102T000000Z");
    VerifyResult v = check(h, jan1_0000z + 24 * 60 * minute);
    CHECK(v.error == VerifyError::invalid_scope);
    CHECK(v.message ==
          "Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date from HTTP: '20240101' != "
          "'20240102', from '20240102T000000Z'.");
  }
  SECTION("a malformed credential scope") {
    VerifyResult v = check(with_authorization(
        "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20240101/eu-west-1, SignedHeaders=host;x-amz-date, Signature=00"));
    CHECK(v.error == VerifyError::incomplete_signature);
    VerifyResult t = check(with_authorization(
        "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20240101/eu-west-1/iot/aws5_request, SignedHeaders=host;x-amz-date, "
        "Signature=00"));
    CHECK(t.error == VerifyError::invalid_scope);
  }
  SECTION("host must be signed") {
    VerifyResult v = check(with_authorization(
        "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20240101/eu-west-1/iot/aws4_request, SignedHeaders=x-amz-date, "
        "Signature=00"));
    CHECK(v.error == VerifyError::incomplete_signature);
    CHECK(v.message == "'Host' or ':authority' must be a 'SignedHeader' in the AWS Authorization.");
  }
  SECTION("a token sent with long-term keys") {
    Headers h = r.headers;
    h.emplace_back("X-Amz-Security-Token", "unexpected");
    CHECK(check(h).error == VerifyError::unrecognized_client);
  }
  SECTION("a forged signature of the right length") {
    std::string auth = header(r.headers, "authorization");
    auth.back() = auth.back() == '0' ? '1' : '0';
    CHECK(check(with_authorization(auth)).error == VerifyError::signature_does_not_match);
  }
}

TEST_CASE("verify() requires a session token to be signed", "[sigv4][verify]") {
  Credentials temporary = make_credentials("ASIAEXAMPLE", "secret", "session-token");
  SigningRequest r;
  r.host = "iot.eu-west-1.amazonaws.com";
  r.path = "/things";
  // Sign with long-term-looking credentials, then add the token unsigned.
  sign(r, make_credentials("ASIAEXAMPLE", "secret", ""), "eu-west-1", "iot", jan1_0000z);
  r.headers.emplace_back("X-Amz-Security-Token", "session-token");
  VerifyResult v = verify("GET", r.target(), r.headers, "", lookup_for(temporary), "eu-west-1", "iot", jan1_0000z);
  CHECK(v.error == VerifyError::incomplete_signature);
  CHECK(v.message == "'X-Amz-Security-Token' must be a 'SignedHeader' in the AWS Authorization.");
}

TEST_CASE("verify() checks a declared x-amz-content-sha256 against the body", "[sigv4][verify]") {
  Credentials known = make_credentials("AKIDEXAMPLE", "secret", "");
  SigningRequest r;
  r.method = "POST";
  r.host = "localhost:4566";
  r.path = "/things/dev%3A1";
  r.body = R"({"a":1})";
  r.headers = {{"X-Amz-Content-SHA256", "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"}};
  SigningResult s = sign(r, known, "eu-west-1", "iot", jan1_0000z);
  // The declared hash is what was signed (botocore's rule) …
  CHECK_THAT(s.canonical_request,
             Catch::Matchers::EndsWith("\ne3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"));
  // … but the emulator refuses a declared hash that is not the body's.
  VerifyResult v = verify("POST", r.target(), r.headers, r.body, lookup_for(known), "eu-west-1", "iot", jan1_0000z);
  CHECK(v.error == VerifyError::signature_does_not_match);
  CHECK(verify("POST", r.target(), r.headers, "", lookup_for(known), "eu-west-1", "iot", jan1_0000z).ok());
}
