#pragma once
// A small HTTP/1.1 client for the AWS control plane (Boost.Beast over TCP or TLS with OpenSSL):
// synchronous to its caller, asynchronous inside with a deadline on every step (resolve, connect,
// handshake, write, read), one kept-alive connection per host reused between requests.
// Not thread-safe: one client per thread.
#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

#include "sim/core/expected.hpp"

namespace fleetsim::aws {

/// A parsed http:// or https:// URL.
struct Url {
  bool tls = true;
  std::string host;           ///< without brackets for IPv6
  std::uint16_t port = 443;
  std::string target = "/";   ///< path and query, as sent on the request line
  /// "host" or "host:port" when the port is not the scheme's default (the Host header).
  std::string authority() const;
};
Expected<Url> parse_url(std::string_view text);

using Headers = std::vector<std::pair<std::string, std::string>>;

struct HttpRequest {
  std::string method = "GET";
  std::string url;         ///< absolute: https://host[:port]/path?query
  Headers headers;         ///< Host and Content-Length are added when absent
  std::string body;
  std::chrono::milliseconds timeout{15'000};  ///< for the whole exchange
};

struct HttpResponse {
  int status = 0;
  Headers headers;
  std::string body;
  /// The first header with this name (case-insensitive), or "".
  std::string header(std::string_view name) const;
};

/// Why a request got no HTTP response at all (a response with any status is not an error here).
struct HttpError {
  enum class Kind { resolve, connect, tls, timeout, io, bad_url } kind;
  std::string message;  ///< says what failed and where (host:port)
};

struct HttpClientOptions {
  std::string ca_file;       ///< empty: the system trust store
  bool verify_peer = true;   ///< TLS peer verification (on unless turned off on purpose)
  std::size_t max_body = 64 * 1024 * 1024;
};

class HttpClient {
 public:
  explicit HttpClient(HttpClientOptions options = {});
  ~HttpClient();
  HttpClient(const HttpClient&) = delete;
  HttpClient& operator=(const HttpClient&) = delete;

  /// Sends the request and waits for the response; reuses the host's connection when it is still open
  /// (and retries once on a fresh one if a reused connection turns out to be closed).
  std::variant<HttpResponse, HttpError> send(const HttpRequest& request);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

/// Percent-encodes for a URL query or path segment: everything but A-Z a-z 0-9 - _ . ~
std::string uri_encode(std::string_view s, bool keep_slash = false);

}  // namespace fleetsim::aws
