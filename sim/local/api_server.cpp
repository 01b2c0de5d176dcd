#include "sim/local/api_server.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>

#include <algorithm>
#include <ctime>
#include <map>
#include <mutex>
#include <thread>

#include "sim/aws/sigv4.hpp"
#include "sim/local/handler_support.hpp"
#include "sim/local/handlers.hpp"

namespace fleetsim::local {

namespace net = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace ssl = net::ssl;
using tcp = net::ip::tcp;

namespace {

constexpr auto tuple_awaitable = net::as_tuple(net::use_awaitable);
constexpr std::size_t max_header_bytes = 64 * 1024;

// "Mon, 01 Jan 2024 00:00:00 GMT" (the Date header; clients correct their clock skew from it).
std::string http_date(EpochMillis t) {
  const std::time_t secs = static_cast<std::time_t>(t / 1000);
  std::tm tm{};
  gmtime_r(&secs, &tm);
  char buf[64];
  std::strftime(buf, sizeof buf, "%a, %d %b %Y %H:%M:%S GMT", &tm);
  return buf;
}

std::string dump(const nlohmann::json& j) { return j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace); }

// A connection the server can close from stop().
struct Closable {
  virtual ~Closable() = default;
  virtual void close() = 0;
};

template <class Stream>
struct Connection final : Closable, std::enable_shared_from_this<Connection<Stream>> {
  Stream stream;
  beast::flat_buffer buffer;
  template <class... Args>
  explicit Connection(Args&&... args) : stream(std::forward<Args>(args)...) {}
  void close() override {
    net::post(stream.get_executor(), [self = this->shared_from_this()] {
      beast::error_code ignored;
      beast::get_lowest_layer(self->stream).socket().close(ignored);
    });
  }
};

}  // namespace

aws::Credentials local_credentials() {
  return aws::Credentials{local_access_key_id, local_secret_access_key, "", std::nullopt, "fleetsim local emulator"};
}

struct ApiServer::Core : std::enable_shared_from_this<ApiServer::Core> {
  ApiServerOptions options;
  ServiceConfig config;
  std::unique_ptr<Store> store;
  Router router;
  SystemClock wall;
  std::filesystem::path ca_path;
  std::optional<ssl::context> tls;
  net::io_context* ioc = nullptr;
  std::unique_ptr<tcp::acceptor> acceptor;
  std::uint16_t port = 0;
  std::unique_ptr<net::io_context> own_ioc;
  std::vector<std::thread> threads;
  std::mutex mutex;  // guards connections and stopped
  std::map<Closable*, std::weak_ptr<Closable>> connections;
  bool stopped = false;

  const Clock& clock() const { return options.clock ? *options.clock : wall; }

  //-------------------------------------------------------------------------------------------------
  // One request: SigV4, route, deserialize, run the handler on the locked state, answer as AWS does.

  http::response<http::string_body> respond(int status, unsigned version, const std::string& request_id,
                                            std::string body) {
    http::response<http::string_body> res{static_cast<http::status>(status), version};
    res.set(http::field::content_type, "application/json");
    res.set("x-amzn-RequestId", request_id);
    res.set(http::field::date, http_date(wall.now()));
    res.body() = std::move(body);
    return res;
  }

  http::response<http::string_body> error_response(const ApiError& e, unsigned version, const std::string& request_id) {
    auto res = respond(e.status, version, request_id, e.body());
    res.set("x-amzn-ErrorType", e.code + ":");
    return res;
  }

  std::variant<nlohmann::json, ApiError> execute(const http::request<http::string_body>& req,
                                                 const std::string& request_id) {
    aws::Headers headers;
    for (const auto& field : req) headers.emplace_back(std::string(field.name_string()), std::string(field.value()));
    const std::string method(req.method_string());
    const std::string_view target(req.target().data(), req.target().size());

    auto lookup = [this](std::string_view id) -> std::optional<aws::Credentials> {
      if (id == options.credentials.access_key_id) return options.credentials;
      return std::nullopt;
    };
    // botocore signed IoT as "execute-api" until its model switched to "iot" (Debian's AWS CLI 2.9 still
    // does); AWS accepts both, so do we.
    auto check = [&](EpochMillis now) {
      auto v = aws::verify(method, target, headers, req.body(), lookup, config.region, "iot", now);
      if (v.error == aws::VerifyError::invalid_scope && v.message.find("service") != std::string::npos)
        v = aws::verify(method, target, headers, req.body(), lookup, config.region, "execute-api", now);
      return v;
    };
    auto verified = check(wall.now());
    if (verified.error == aws::VerifyError::signature_expired && options.clock) verified = check(options.clock->now());
    if (!verified) {
      ApiError e;
      e.status = aws::http_status(verified.error);
      e.code = std::string(verified.code());
      e.message = verified.message;
      return e;
    }

    const aws::Target parts = aws::split_target(target);
    Labels labels;
    const aws::OperationModel* op = match_operation(method, parts.path, labels);
    if (!op) return unknown_operation("No operation matches " + method + " " + parts.path);
    const Router::Entry* entry = router.find(op->name);
    if (!entry) return unknown_operation(std::string(op->name) + " is not implemented by the fleetsim local emulator");
    auto input = deserialize(*op, labels, parts.query, headers, req.body());
    if (auto* e = std::get_if<ApiError>(&input)) return *e;

    std::optional<ApiResult> result;
    const EpochMillis now = clock().now();
    auto saved = store->write([&](State& state) {
      RequestContext ctx{state, config, now, request_id};
      try {
        result = entry->handler(ctx, std::get<nlohmann::json>(input));
      } catch (const std::exception& ex) {
        result = internal_failure(std::string(op->name) + " failed in the local emulator: " + ex.what());
      }
    });
    if (!saved) return internal_failure("The local emulator could not save its state: " + saved.error());
    if (auto* e = std::get_if<ApiError>(&*result)) return *e;
    return std::get<nlohmann::json>(std::move(*result));
  }

  http::response<http::string_body> handle(const http::request<http::string_body>& req) {
    const std::string rid = request_id();
    auto outcome = execute(req, rid);
    http::response<http::string_body> res =
        std::holds_alternative<ApiError>(outcome)
            ? error_response(std::get<ApiError>(outcome), req.version(), rid)
            : respond(200, req.version(), rid, dump(std::get<nlohmann::json>(outcome)));
    res.keep_alive(req.keep_alive());
    res.prepare_payload();
    return res;
  }

  //-------------------------------------------------------------------------------------------------
  // Connections

  template <class Stream>
  net::awaitable<void> serve(std::shared_ptr<Connection<Stream>> conn) {
    auto self = shared_from_this();
    auto& stream = conn->stream;
    auto& lowest = beast::get_lowest_layer(stream);
    if constexpr (!std::is_same_v<Stream, beast::tcp_stream>) {
      lowest.expires_after(options.handshake_timeout);
      auto [ec] = co_await stream.async_handshake(ssl::stream_base::server, tuple_awaitable);
      if (ec) co_return;
    }
    for (;;) {
      http::request_parser<http::string_body> parser;
      parser.body_limit(options.max_body);
      parser.header_limit(max_header_bytes);
      lowest.expires_after(options.idle_timeout);
      auto [hec, hn] = co_await http::async_read_header(stream, conn->buffer, parser, tuple_awaitable);
      beast::error_code ec = hec;
      if (!ec && parser.get()[http::field::expect] == "100-continue") {
        lowest.expires_after(options.io_timeout);
        http::response<http::empty_body> go{http::status::continue_, parser.get().version()};
        auto [cec, cn] = co_await http::async_write(stream, go, tuple_awaitable);
        ec = cec;
      }
      if (!ec && !parser.is_done()) {
        lowest.expires_after(options.io_timeout);
        auto [bec, bn] = co_await http::async_read(stream, conn->buffer, parser, tuple_awaitable);
        ec = bec;
      }
      if (ec == http::error::body_limit || ec == http::error::header_limit) {
        const bool body = ec == http::error::body_limit;
        ApiError e = body ? payload_too_large("The request is larger than " + std::to_string(options.max_body) + " bytes")
                          : invalid_request("The request headers are larger than " + std::to_string(max_header_bytes) + " bytes");
        auto res = error_response(e, 11, request_id());
        if (!body) res.result(http::status::request_header_fields_too_large);
        res.keep_alive(false);
        res.prepare_payload();
        lowest.expires_after(options.io_timeout);
        co_await http::async_write(stream, res, tuple_awaitable);
        break;
      }
      if (ec) break;  // closed, timed out or not HTTP: nothing to answer
      auto res = handle(parser.get());
      lowest.expires_after(options.io_timeout);
      auto [wec, wn] = co_await http::async_write(stream, res, tuple_awaitable);
      if (wec || !res.keep_alive()) break;
    }
    lowest.expires_after(options.handshake_timeout);
    if constexpr (!std::is_same_v<Stream, beast::tcp_stream>) {
      co_await stream.async_shutdown(tuple_awaitable);
    } else {
      beast::error_code ignored;
      stream.socket().shutdown(tcp::socket::shutdown_send, ignored);
    }
  }

  template <class Stream>
  void spawn(std::shared_ptr<Connection<Stream>> conn) {
    {
      std::lock_guard lock(mutex);
      connections[conn.get()] = conn;
    }
    auto executor = conn->stream.get_executor();
    net::co_spawn(executor, serve(conn), [self = shared_from_this(), raw = conn.get()](std::exception_ptr) {
      std::lock_guard lock(self->mutex);
      self->connections.erase(raw);
    });
  }

  net::awaitable<void> accept_loop() {
    auto self = shared_from_this();
    for (;;) {
      auto [ec, socket] = co_await acceptor->async_accept(net::make_strand(*ioc), tuple_awaitable);
      if (ec == net::error::operation_aborted || !acceptor->is_open()) co_return;
      if (ec) continue;  // e.g. too many open files: keep serving the connections we have
      {
        std::lock_guard lock(mutex);
        if (stopped) co_return;
        if (connections.size() >= options.max_connections) continue;  // closes the socket
      }
      if (tls) spawn(std::make_shared<Connection<beast::ssl_stream<beast::tcp_stream>>>(std::move(socket), *tls));
      else spawn(std::make_shared<Connection<beast::tcp_stream>>(std::move(socket)));
    }
  }
};

//---------------------------------------------------------------------------------------------------

ApiServer::ApiServer(std::shared_ptr<Core> core) : core_(std::move(core)) {}

ApiServer::~ApiServer() { stop(); }

Expected<std::unique_ptr<ApiServer>> ApiServer::create(ApiServerOptions options) {
  auto core = std::make_shared<Core>();
  auto store = Store::open(options.state_dir, options.durable);
  if (!store) return unexpected("local API state: " + store.error());
  core->store = std::move(store.value());

  std::filesystem::path ca_dir = options.ca_dir;
  if (ca_dir.empty() && !options.state_dir.empty()) ca_dir = options.state_dir / "ca";
  std::optional<pki::CertifiedKey> ca;
  if (!ca_dir.empty()) {
    auto loaded = pki::ensure_local_ca(ca_dir);
    if (!loaded) return unexpected("local CA: " + loaded.error());
    ca = *loaded;
    core->ca_path = ca_dir / "ca.pem";
  } else {
    auto created = pki::create_ca("fleetsim local CA");
    if (!created) return unexpected("local CA: " + created.error());
    ca = *created;
  }
  core->config.region = options.region;
  core->config.account_id = options.account_id;
  core->config.data_endpoint_host = options.data_endpoint_host;
  core->config.data_endpoint_port = options.data_endpoint_port;
  core->config.key_algorithm = options.key_algorithm;
  core->config.ca = std::make_shared<const pki::CertifiedKey>(*ca);

  if (options.tls) {
    std::vector<std::string> sans{"127.0.0.1", "::1", "localhost"};
    if (options.address != "0.0.0.0" && options.address != "::" &&
        std::find(sans.begin(), sans.end(), options.address) == sans.end())
      sans.push_back(options.address);
    auto server_cert = pki::issue_server_certificate(ca->certificate, ca->key, "fleetsim local API", sans);
    if (!server_cert) return unexpected("local API server certificate: " + server_cert.error());
    core->tls.emplace(ssl::context::tls_server);
    auto& ctx = *core->tls;
    ctx.set_options(ssl::context::default_workarounds | ssl::context::no_sslv2 | ssl::context::no_sslv3 |
                    ssl::context::no_tlsv1 | ssl::context::no_tlsv1_1 | ssl::context::single_dh_use);
    const std::string cert_pem = server_cert->certificate.to_pem() + ca->certificate.to_pem();
    const std::string key_pem = server_cert->key.to_pem();
    beast::error_code ec;
    ctx.use_certificate_chain(net::buffer(cert_pem), ec);
    if (!ec) ctx.use_private_key(net::buffer(key_pem), ssl::context::pem, ec);
    if (ec) return unexpected("local API TLS context: " + ec.message());
  }
  core->options = std::move(options);
  register_all_handlers(core->router);
  return std::unique_ptr<ApiServer>(new ApiServer(std::move(core)));
}

Router& ApiServer::router() { return core_->router; }
Store& ApiServer::store() { return *core_->store; }

void ApiServer::set_data_endpoint(std::string host, std::uint16_t port) {
  core_->config.data_endpoint_host = std::move(host);
  core_->config.data_endpoint_port = port;
}

std::shared_ptr<const pki::CertifiedKey> ApiServer::ca() const { return core_->config.ca; }
std::uint16_t ApiServer::port() const { return core_->port; }
const pki::Certificate& ApiServer::ca_certificate() const { return core_->config.ca->certificate; }
std::filesystem::path ApiServer::ca_file() const { return core_->ca_path; }

std::string ApiServer::url() const {
  const std::string& a = core_->options.address;
  std::string host = a == "0.0.0.0" ? "127.0.0.1" : a == "::" ? "::1" : a;
  if (host.find(':') != std::string::npos) host = "[" + host + "]";
  return (core_->options.tls ? "https://" : "http://") + host + ":" + std::to_string(core_->port);
}

Expected<std::uint16_t> ApiServer::start(net::io_context& ioc) {
  auto& c = *core_;
  if (c.acceptor) return unexpected("the local API server is already started");
  beast::error_code ec;
  const auto address = net::ip::make_address(c.options.address, ec);
  if (ec) return unexpected("local API: '" + c.options.address + "' is not an IP address");
  const tcp::endpoint endpoint(address, c.options.port);
  auto acceptor = std::make_unique<tcp::acceptor>(net::make_strand(ioc));
  acceptor->open(endpoint.protocol(), ec);
  if (!ec) acceptor->set_option(net::socket_base::reuse_address(true), ec);
  if (!ec) acceptor->bind(endpoint, ec);
  if (!ec) acceptor->listen(net::socket_base::max_listen_connections, ec);
  if (ec)
    return unexpected("local API: cannot listen on " + c.options.address + ":" + std::to_string(c.options.port) + ": " +
                      ec.message() + (c.options.port ? "; choose another port or 0 for a free one" : ""));
  c.port = acceptor->local_endpoint().port();
  c.acceptor = std::move(acceptor);
  c.ioc = &ioc;
  net::co_spawn(c.acceptor->get_executor(), c.accept_loop(), net::detached);
  return c.port;
}

Expected<std::uint16_t> ApiServer::start(unsigned threads) {
  auto& c = *core_;
  if (c.acceptor) return unexpected("the local API server is already started");
  c.own_ioc = std::make_unique<net::io_context>(static_cast<int>(std::max(1u, threads)));
  auto port = start(*c.own_ioc);
  if (!port) return port;
  for (unsigned i = 0; i < std::max(1u, threads); ++i) c.threads.emplace_back([ioc = c.own_ioc.get()] { ioc->run(); });
  return port;
}

void ApiServer::stop() {
  auto& c = *core_;
  std::vector<std::shared_ptr<Closable>> open;
  {
    std::lock_guard lock(c.mutex);
    if (c.stopped) return;
    c.stopped = true;
    for (auto& [raw, weak] : c.connections)
      if (auto conn = weak.lock()) open.push_back(std::move(conn));
  }
  if (c.acceptor)
    net::post(c.acceptor->get_executor(), [core = core_] {
      beast::error_code ignored;
      core->acceptor->close(ignored);
    });
  for (auto& conn : open) conn->close();
  open.clear();  // a connection must not outlive the io_context it belongs to
  if (c.own_ioc) {
    // Give the closes a moment to run, then stop whatever is left (e.g. a TLS shutdown in progress).
    for (int i = 0; i < 100; ++i) {
      {
        std::lock_guard lock(c.mutex);
        if (c.connections.empty()) break;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    c.own_ioc->stop();
    for (auto& t : c.threads) t.join();
    c.threads.clear();
    c.acceptor.reset();
    c.own_ioc.reset();  // destroys what was still pending
  }
  c.store->checkpoint();
}

}  // namespace fleetsim::local
