#include "sim/aws/http.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/connect.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <openssl/ssl.h>

#include <charconv>
#include <map>
#include <optional>

namespace fleetsim::aws {

namespace net = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = net::ip::tcp;

std::string Url::authority() const {
  std::string h = host.find(':') != std::string::npos ? "[" + host + "]" : host;
  return (tls && port == 443) || (!tls && port == 80) ? h : h + ":" + std::to_string(port);
}

Expected<Url> parse_url(std::string_view text) {
  Url u;
  std::string_view rest;
  if (text.starts_with("https://")) {
    rest = text.substr(8);
  } else if (text.starts_with("http://")) {
    u.tls = false;
    u.port = 80;
    rest = text.substr(7);
  } else {
    return unexpected("'" + std::string(text) + "' is not an http:// or https:// URL");
  }
  auto slash = rest.find_first_of("/?");
  auto authority = rest.substr(0, slash);
  u.target = slash == std::string_view::npos ? "/" : std::string(rest.substr(slash));
  if (u.target.front() == '?') u.target.insert(0, "/");
  std::string_view port_text;
  if (authority.starts_with("[")) {
    auto close = authority.find(']');
    if (close == std::string_view::npos) return unexpected("'" + std::string(text) + "': unclosed '[' in the host");
    u.host = std::string(authority.substr(1, close - 1));
    if (close + 1 < authority.size() && authority[close + 1] == ':') port_text = authority.substr(close + 2);
  } else {
    auto colon = authority.rfind(':');
    u.host = std::string(authority.substr(0, colon));
    if (colon != std::string_view::npos) port_text = authority.substr(colon + 1);
  }
  if (u.host.empty()) return unexpected("'" + std::string(text) + "' has no host");
  if (!port_text.empty()) {
    unsigned port = 0;
    auto [p, ec] = std::from_chars(port_text.data(), port_text.data() + port_text.size(), port);
    if (ec != std::errc{} || p != port_text.data() + port_text.size() || port == 0 || port > 65535)
      return unexpected("'" + std::string(text) + "': the port must be 1 to 65535");
    u.port = static_cast<std::uint16_t>(port);
  }
  return u;
}

std::string uri_encode(std::string_view s, bool keep_slash) {
  static constexpr char hex[] = "0123456789ABCDEF";
  std::string out;
  out.reserve(s.size());
  for (unsigned char c : s) {
    bool unreserved = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
                      c == '_' || c == '.' || c == '~' || (keep_slash && c == '/');
    if (unreserved) {
      out += static_cast<char>(c);
    } else {
      out += '%';
      out += hex[c >> 4];
      out += hex[c & 15];
    }
  }
  return out;
}

std::string HttpResponse::header(std::string_view name) const {
  for (const auto& [k, v] : headers)
    if (beast::iequals(k, name)) return v;
  return {};
}

namespace {

// One kept-alive connection to a host.
struct Connection {
  std::optional<beast::tcp_stream> plain;
  std::optional<beast::ssl_stream<beast::tcp_stream>> secure;
  beast::flat_buffer buffer;
  beast::tcp_stream& lowest() { return secure ? beast::get_lowest_layer(*secure) : *plain; }
};

using Result = std::variant<HttpResponse, HttpError>;
constexpr auto tuple_awaitable = net::as_tuple(net::use_awaitable);

}  // namespace

struct HttpClient::Impl {
  HttpClientOptions options;
  net::io_context ioc{1};
  net::ssl::context tls{net::ssl::context::tls_client};
  std::map<std::string, std::unique_ptr<Connection>> pool;

  explicit Impl(HttpClientOptions o) : options(std::move(o)) {
    SSL_CTX_set_min_proto_version(tls.native_handle(), TLS1_2_VERSION);
    boost::system::error_code ec;
    if (options.verify_peer) {
      tls.set_verify_mode(net::ssl::verify_peer);
      if (options.ca_file.empty()) tls.set_default_verify_paths(ec);
      else tls.load_verify_file(options.ca_file, ec);
    } else {
      tls.set_verify_mode(net::ssl::verify_none);
    }
    ca_error = ec ? "cannot load the CA bundle '" + options.ca_file + "': " + ec.message() : "";
  }
  std::string ca_error;

  net::awaitable<Result> open(Connection& c, const Url& u, std::chrono::steady_clock::time_point deadline) {
    auto where = u.host + ":" + std::to_string(u.port);
    tcp::resolver resolver(ioc);
    auto [rec, results] = co_await resolver.async_resolve(u.host, std::to_string(u.port), tuple_awaitable);
    if (rec) co_return HttpError{HttpError::Kind::resolve, "cannot resolve " + u.host + ": " + rec.message()};
    if (u.tls) c.secure.emplace(ioc, tls);
    else c.plain.emplace(ioc);
    c.lowest().expires_at(deadline);
    auto [cec, ep] = co_await c.lowest().async_connect(results, tuple_awaitable);
    if (cec == beast::error::timeout) co_return HttpError{HttpError::Kind::timeout, "connecting to " + where + " timed out"};
    if (cec) co_return HttpError{HttpError::Kind::connect, "cannot connect to " + where + ": " + cec.message()};
    if (u.tls) {
      SSL_set_tlsext_host_name(c.secure->native_handle(), u.host.c_str());  // SNI
      if (options.verify_peer) c.secure->set_verify_callback(net::ssl::host_name_verification(u.host));
      c.lowest().expires_at(deadline);
      auto [hec] = co_await c.secure->async_handshake(net::ssl::stream_base::client, tuple_awaitable);
      if (hec == beast::error::timeout) co_return HttpError{HttpError::Kind::timeout, "TLS handshake with " + where + " timed out"};
      if (hec) co_return HttpError{HttpError::Kind::tls, "TLS handshake with " + where + " failed: " + hec.message()};
    }
    co_return HttpResponse{};
  }

  template <class Stream>
  net::awaitable<Result> exchange(Stream& stream, Connection& c, const Url& u, const HttpRequest& r,
                                  std::chrono::steady_clock::time_point deadline) {
    auto where = u.host + ":" + std::to_string(u.port);
    http::request<http::string_body> req;
    req.method_string(r.method);
    req.target(u.target);
    req.version(11);
    bool has_host = false, has_length = false;
    for (const auto& [k, v] : r.headers) {
      req.set(k, v);
      has_host |= beast::iequals(k, "host");
      has_length |= beast::iequals(k, "content-length");
    }
    if (!has_host) req.set(http::field::host, u.authority());
    req.body() = r.body;
    if (!has_length) req.prepare_payload();
    req.keep_alive(true);
    c.lowest().expires_at(deadline);
    auto [wec, written] = co_await http::async_write(stream, req, tuple_awaitable);
    if (wec == beast::error::timeout) co_return HttpError{HttpError::Kind::timeout, "sending to " + where + " timed out"};
    if (wec) co_return HttpError{HttpError::Kind::io, "sending to " + where + " failed: " + wec.message()};
    http::response_parser<http::string_body> parser;
    parser.body_limit(options.max_body);
    c.lowest().expires_at(deadline);
    auto [rec, read] = co_await http::async_read(stream, c.buffer, parser, tuple_awaitable);
    if (rec == beast::error::timeout) co_return HttpError{HttpError::Kind::timeout, "waiting for " + where + " timed out"};
    if (rec) co_return HttpError{HttpError::Kind::io, "reading from " + where + " failed: " + rec.message()};
    auto res = parser.release();
    HttpResponse out;
    out.status = static_cast<int>(res.result_int());
    for (const auto& f : res) out.headers.emplace_back(std::string(f.name_string()), std::string(f.value()));
    out.body = std::move(res.body());
    if (!res.keep_alive()) out.headers.emplace_back("x-fleetsim-close", "1");
    co_return out;
  }

  Result run(const Url& u, const HttpRequest& r) {
    if (u.tls && !ca_error.empty()) return HttpError{HttpError::Kind::tls, ca_error};
    auto deadline = std::chrono::steady_clock::now() + r.timeout;
    std::string key = (u.tls ? "https://" : "http://") + u.host + ":" + std::to_string(u.port);
    for (int attempt = 0; attempt < 2; ++attempt) {
      auto& slot = pool[key];
      bool reused = slot != nullptr;
      if (!slot) slot = std::make_unique<Connection>();
      Connection& c = *slot;
      std::optional<Result> result;
      net::co_spawn(
          ioc,
          [&]() -> net::awaitable<void> {
            if (!reused) {
              auto opened = co_await open(c, u, deadline);
              if (std::holds_alternative<HttpError>(opened)) {
                result = std::move(opened);
                co_return;
              }
            }
            if (c.secure) result = co_await exchange(*c.secure, c, u, r, deadline);
            else result = co_await exchange(*c.plain, c, u, r, deadline);
          },
          net::detached);
      ioc.restart();
      ioc.run();
      bool failed = !result || std::holds_alternative<HttpError>(*result);
      if (failed || !std::get<HttpResponse>(*result).header("x-fleetsim-close").empty()) pool.erase(key);
      // A kept-alive connection the server had closed meanwhile: try once more on a new one.
      if (failed && reused && std::get<HttpError>(*result).kind == HttpError::Kind::io) continue;
      if (!result) return HttpError{HttpError::Kind::io, "the request to " + key + " did not complete"};
      if (auto* resp = std::get_if<HttpResponse>(&*result))
        std::erase_if(resp->headers, [](const auto& h) { return h.first == "x-fleetsim-close"; });
      return std::move(*result);
    }
    return HttpError{HttpError::Kind::io, "the request to " + key + " failed twice"};
  }
};

HttpClient::HttpClient(HttpClientOptions options) : impl_(std::make_unique<Impl>(std::move(options))) {}
HttpClient::~HttpClient() = default;

std::variant<HttpResponse, HttpError> HttpClient::send(const HttpRequest& request) {
  auto url = parse_url(request.url);
  if (!url) return HttpError{HttpError::Kind::bad_url, url.error()};
  return impl_->run(*url, request);
}

}  // namespace fleetsim::aws
