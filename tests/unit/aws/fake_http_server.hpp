#pragma once
// A plain HTTP/1.1 server on 127.0.0.1 for tests that need a real peer (container credentials endpoint,
// IMDS, STS, the IoT API): Boost.Beast on its own thread and io_context, a port from binding port 0,
// keep-alive connections, and one handler call per request.
//
// The handler runs on the server's thread: do not use Catch2 assertions in it. Record or compute the
// answer there, and check requests() from the test afterwards.
#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace fleetsim::test {

/// One request as the server received it.
struct FakeRequest {
  std::string method;  ///< "GET", "PUT", ...
  std::string target;  ///< path and query, as on the request line
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;

  /// The first header with this name (case-insensitive), or "".
  std::string header(std::string_view name) const;
  bool has_header(std::string_view name) const;
  /// The body as application/x-www-form-urlencoded fields (percent-decoding, '+' as space).
  std::map<std::string, std::string> form() const;
};

/// What the handler answers.
struct FakeResponse {
  int status = 200;
  std::vector<std::pair<std::string, std::string>> headers;  ///< Content-Length is added
  std::string body;
  std::chrono::milliseconds delay{0};  ///< wait this long before answering (timeouts), without blocking the server
  bool close = false;                  ///< close the connection after this answer

  static FakeResponse text(int status, std::string body, std::string content_type = "text/plain");
  static FakeResponse json(std::string body, int status = 200) {
    return text(status, std::move(body), "application/json");
  }
  static FakeResponse xml(std::string body, int status = 200) { return text(status, std::move(body), "text/xml"); }
};

class FakeHttpServer {
 public:
  using Handler = std::function<FakeResponse(const FakeRequest&)>;

  /// Binds 127.0.0.1:0 and starts serving. Without a handler every request gets 404.
  explicit FakeHttpServer(Handler handler = {});
  /// Stops the thread and closes every connection.
  ~FakeHttpServer();
  FakeHttpServer(const FakeHttpServer&) = delete;
  FakeHttpServer& operator=(const FakeHttpServer&) = delete;

  std::uint16_t port() const;
  /// "http://127.0.0.1:PORT" (no trailing slash).
  std::string url() const;
  /// Replaces the handler for the requests that arrive from now on.
  void set_handler(Handler handler);
  /// Every request received so far, in order of arrival.
  std::vector<FakeRequest> requests() const;
  std::size_t request_count() const;
  /// Connections accepted so far (keep-alive reuse shows as fewer connections than requests).
  std::size_t connection_count() const;
  void clear_requests();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace fleetsim::test
