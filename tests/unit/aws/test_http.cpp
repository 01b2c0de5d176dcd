#include "sim/aws/http.hpp"

#include <catch2/catch.hpp>

#include "tests/support/process.hpp"
#include "tests/unit/aws/fake_http_server.hpp"

using namespace fleetsim;
using namespace fleetsim::aws;
using fleetsim::test::FakeHttpServer;
using fleetsim::test::FakeRequest;
using fleetsim::test::FakeResponse;

TEST_CASE("URLs: schemes, ports, IPv6, targets", "[http]") {
  auto u = parse_url("https://iot.eu-west-1.amazonaws.com/things/x?y=1");
  REQUIRE(u);
  CHECK(u->tls);
  CHECK(u->port == 443);
  CHECK(u->target == "/things/x?y=1");
  CHECK(u->authority() == "iot.eu-west-1.amazonaws.com");
  auto local = parse_url("http://[::1]:8080");
  REQUIRE(local);
  CHECK(local->host == "::1");
  CHECK(local->authority() == "[::1]:8080");
  CHECK(local->target == "/");
  CHECK(parse_url("http://h?x=1")->target == "/?x=1");
  CHECK_FALSE(parse_url("ftp://h"));
  CHECK_FALSE(parse_url("http://h:0"));
  CHECK_FALSE(parse_url("http://:80"));
  CHECK(uri_encode("a b/c:d~") == "a%20b%2Fc%3Ad~");
  CHECK(uri_encode("a/b", true) == "a/b");
}

TEST_CASE("requests reach the server with their method, headers and body; the connection is reused", "[http]") {
  FakeHttpServer server([](const FakeRequest& r) { return FakeResponse::json("{\"echo\":\"" + r.body + "\"}", 201); });
  HttpClient client;
  for (int i = 0; i < 3; ++i) {
    auto r = client.send({"POST", server.url() + "/p?q=1", {{"X-Test", "yes"}}, "body" + std::to_string(i)});
    REQUIRE(std::holds_alternative<HttpResponse>(r));
    const auto& resp = std::get<HttpResponse>(r);
    CHECK(resp.status == 201);
    CHECK(resp.body == "{\"echo\":\"body" + std::to_string(i) + "\"}");
    CHECK(resp.header("content-type") == "application/json");
  }
  auto requests = server.requests();
  REQUIRE(requests.size() == 3);
  CHECK(requests[0].method == "POST");
  CHECK(requests[0].target == "/p?q=1");
  CHECK(requests[0].header("X-Test") == "yes");
  CHECK(requests[0].header("Host") == "127.0.0.1:" + std::to_string(server.port()));
  CHECK(server.connection_count() == 1);  // keep-alive: one connection served all three
}

TEST_CASE("a server that closes after each answer is followed by a fresh connection", "[http]") {
  FakeHttpServer server([](const FakeRequest&) {
    auto r = FakeResponse::json("{}");
    r.close = true;
    return r;
  });
  HttpClient client;
  for (int i = 0; i < 3; ++i) {
    auto r = client.send({"GET", server.url() + "/", {}, ""});
    REQUIRE(std::holds_alternative<HttpResponse>(r));
  }
  CHECK(server.request_count() == 3);
  CHECK(server.connection_count() == 3);
}

TEST_CASE("the deadline bounds a server that does not answer", "[http]") {
  FakeHttpServer server([](const FakeRequest&) {
    auto r = FakeResponse::json("{}");
    r.delay = std::chrono::seconds(5);
    return r;
  });
  HttpClient client;
  auto start = std::chrono::steady_clock::now();
  auto r = client.send({"GET", server.url() + "/slow", {}, "", std::chrono::milliseconds(300)});
  auto took = std::chrono::steady_clock::now() - start;
  REQUIRE(std::holds_alternative<HttpError>(r));
  CHECK(std::get<HttpError>(r).kind == HttpError::Kind::timeout);
  CHECK(took < std::chrono::seconds(3));
}

TEST_CASE("connection refused and bad URLs are errors that say where", "[http]") {
  HttpClient client;
  int port = fleetsim::test::free_port();
  auto r = client.send({"GET", "http://127.0.0.1:" + std::to_string(port) + "/", {}, ""});
  REQUIRE(std::holds_alternative<HttpError>(r));
  CHECK(std::get<HttpError>(r).kind == HttpError::Kind::connect);
  CHECK(std::get<HttpError>(r).message.find("127.0.0.1:" + std::to_string(port)) != std::string::npos);
  auto bad = client.send({"GET", "nope", {}, ""});
  CHECK(std::get<HttpError>(bad).kind == HttpError::Kind::bad_url);
}
