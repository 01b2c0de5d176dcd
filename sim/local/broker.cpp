// The broker: TLS context, threads, the acceptor, client ids and CONNECT rates, stats.
#include "sim/local/broker.hpp"

#include <boost/asio/post.hpp>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include <algorithm>

#include "sim/local/broker_internal.hpp"

namespace fleetsim::local {

using namespace detail;

std::string_view to_string(RefusalReason r) {
  switch (r) {
    case RefusalReason::not_authorized: return "NOT_AUTHORIZED";
    case RefusalReason::bad_credentials: return "BAD_CREDENTIALS";
    case RefusalReason::identifier_rejected: return "IDENTIFIER_REJECTED";
    case RefusalReason::unacceptable_protocol: return "UNACCEPTABLE_PROTOCOL_VERSION";
    case RefusalReason::throttled: return "THROTTLED";
    case RefusalReason::count_: break;
  }
  return "UNKNOWN";
}

namespace detail {

bool Core::admit_connect(const std::string& client_id) {
  const double rate = options.connects_per_client_id_per_second;
  if (rate <= 0) return true;
  const double burst = std::max(1.0, rate);
  EpochMillis now = clock->now();
  std::lock_guard lock(clients_mutex);
  auto [it, fresh] = clients.try_emplace(client_id);
  auto& c = it->second;
  if (fresh) {
    c.tokens = burst;
    // Forget client ids that are idle with a full bucket, so random ids cannot grow the table forever.
    if (clients.size() > 2 * options.max_connections + 1024)
      std::erase_if(clients, [&](const auto& e) {
        return e.second.session.expired() && (now - e.second.last) * rate / 1000.0 >= burst;
      });
  } else {
    c.tokens = std::min(burst, c.tokens + double(std::max<EpochMillis>(0, now - c.last)) * rate / 1000.0);
  }
  c.last = now;
  if (c.tokens < 1.0) return false;
  c.tokens -= 1.0;
  return true;
}

void Core::take_client_id(const std::shared_ptr<Session>& s, const std::string& client_id) {
  std::shared_ptr<Session> previous;
  {
    std::lock_guard lock(clients_mutex);
    auto& c = clients[client_id];
    previous = c.session.lock();
    c.session = s;
  }
  if (previous && previous != s)
    net::post(previous->shard().ioc, [previous] { previous->kick(DisconnectReason::duplicate_client_id); });
}

void Core::release_client_id(const Session* s, const std::string& client_id) {
  std::lock_guard lock(clients_mutex);
  auto it = clients.find(client_id);
  if (it == clients.end()) return;
  auto holder = it->second.session.lock();
  if (!holder || holder.get() == s) it->second.session.reset();
}

}  // namespace detail

struct Broker::Impl : Core {
  std::optional<tcp::acceptor> acceptor;
  std::optional<net::steady_timer> retry;
  std::size_t next_shard = 0;
  std::uint16_t port = 0;
  bool running = false;
  std::atomic<std::uint64_t> refused_sockets{0};
  SystemClock system_clock;

  void accept();
  void tick(Shard& shard);
};

namespace {

constexpr auto tick_period = std::chrono::milliseconds(100);

Expected<std::shared_ptr<net::ssl::context>> server_tls(const BrokerOptions& o) {
  auto server = pki::issue_server_certificate(o.ca->certificate, o.ca->key, "fleetsim local broker",
                                              {"127.0.0.1", "::1", "localhost"});
  if (!server) return unexpected("cannot issue the broker's server certificate: " + server.error());
  auto ctx = std::make_shared<net::ssl::context>(net::ssl::context::tls_server);
  SSL_CTX* native = ctx->native_handle();
  SSL_CTX_set_min_proto_version(native, TLS1_2_VERSION);
  if (SSL_CTX_use_certificate(native, server->certificate.get()) != 1 ||
      SSL_CTX_use_PrivateKey(native, server->key.get()) != 1 ||
      X509_STORE_add_cert(SSL_CTX_get_cert_store(native), o.ca->certificate.get()) != 1)
    return unexpected("cannot load the broker's certificate, key or CA into OpenSSL");
  // The CA's name in the CertificateRequest: clients with several identities pick the right one.
  SSL_CTX_add_client_CA(native, o.ca->certificate.get());
  SSL_CTX_set_verify(native, o.require_client_certificate ? SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT : SSL_VERIFY_PEER,
                     nullptr);
  // Thousands of things reconnecting: let them resume instead of a full handshake each time.
  SSL_CTX_set_session_cache_mode(native, SSL_SESS_CACHE_SERVER);
  SSL_CTX_set_session_id_context(native, reinterpret_cast<const unsigned char*>("fleetsim"), 8);
  return ctx;
}

}  // namespace

Broker::Broker(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Broker::~Broker() { stop(); }

Expected<std::unique_ptr<Broker>> Broker::create(BrokerOptions options) {
  if (!options.authority) return unexpected("the broker needs an authority (BrokerOptions::authority)");
  if (options.tls && !options.ca) return unexpected("a TLS broker needs the local CA (BrokerOptions::ca)");
  if (options.threads == 0) options.threads = 1;
  auto impl = std::make_unique<Impl>();
  impl->clock = options.clock ? options.clock : &impl->system_clock;
  if (options.tls) {
    auto tls = server_tls(options);
    if (!tls) return unexpected(tls.error());
    impl->tls = std::move(*tls);
  }
  impl->options = std::move(options);
  return std::unique_ptr<Broker>(new Broker(std::move(impl)));
}

Expected<std::uint16_t> Broker::start() {
  auto& m = *impl_;
  if (m.running) return m.port;
  boost::system::error_code ec;
  auto address = net::ip::make_address(m.options.address, ec);
  if (ec) return unexpected("the broker address '" + m.options.address + "' is not an IP address");
  m.shards.clear();
  for (unsigned i = 0; i < m.options.threads; ++i) m.shards.push_back(std::make_unique<Shard>(i));
  auto& first = *m.shards.front();
  tcp::endpoint endpoint(address, m.options.port);
  m.acceptor.emplace(first.ioc);
  m.acceptor->open(endpoint.protocol(), ec);
  if (!ec) m.acceptor->set_option(tcp::acceptor::reuse_address(true), ec);
  if (!ec) m.acceptor->bind(endpoint, ec);
  if (!ec) m.acceptor->listen(net::socket_base::max_listen_connections, ec);
  if (ec) {
    m.acceptor.reset();
    m.shards.clear();
    return unexpected("the broker cannot listen on " + m.options.address + ":" + std::to_string(m.options.port) +
                      ": " + ec.message());
  }
  m.port = m.acceptor->local_endpoint().port();
  m.retry.emplace(first.ioc);
  m.stopping = false;
  m.running = true;
  m.accept();
  for (auto& s : m.shards) {
    s->work.emplace(s->ioc.get_executor());
    m.tick(*s);
    s->thread = std::thread([shard = s.get()] { shard->ioc.run(); });
  }
  return m.port;
}

void Broker::Impl::accept() {
  auto& target = *shards[next_shard];
  next_shard = (next_shard + 1) % shards.size();
  acceptor->async_accept(target.ioc, [this, &target](const boost::system::error_code& ec, tcp::socket socket) {
    if (stopping) return;
    if (ec) {
      // Out of descriptors, say: wait a little rather than spin on the error.
      log("broker: accept failed: " + ec.message());
      retry->expires_after(std::chrono::milliseconds(100));
      retry->async_wait([this](const boost::system::error_code& wec) {
        if (!wec && !stopping) accept();
      });
      return;
    }
    if (open_sockets.fetch_add(1, std::memory_order_relaxed) >= options.max_connections) {
      open_sockets.fetch_sub(1, std::memory_order_relaxed);
      refused_sockets.fetch_add(1, std::memory_order_relaxed);
      boost::system::error_code ignored;
      socket.close(ignored);
    } else {
      net::post(target.ioc, [this, &target, socket = std::move(socket)]() mutable {
        auto session = std::make_shared<Session>(*this, target, std::move(socket));
        target.sessions.push_back(session);
        session->start();
      });
    }
    accept();
  });
}

void Broker::Impl::tick(Shard& shard) {
  shard.tick.expires_after(tick_period);
  shard.tick.async_wait([this, &shard](const boost::system::error_code& ec) {
    if (ec || stopping) return;
    shard.now = std::chrono::steady_clock::now();
    for (auto& s : shard.sessions) s->on_tick(shard.now);
    std::erase_if(shard.sessions, [](const auto& s) { return s->closed(); });
    tick(shard);
  });
}

void Broker::stop() {
  auto& m = *impl_;
  if (!m.running) return;
  m.stopping = true;
  net::post(m.shards.front()->ioc, [&m] {
    boost::system::error_code ignored;
    m.acceptor->close(ignored);
    m.retry->cancel();
  });
  for (auto& s : m.shards) {
    net::post(s->ioc, [shard = s.get()] {
      shard->tick.cancel();
      for (auto& session : shard->sessions) session->kick(DisconnectReason::server_initiated);
    });
    s->work.reset();
  }
  for (auto& s : m.shards)
    if (s->thread.joinable()) s->thread.join();
  // Run what threads posted to each other after a loop had ended (deliveries, kicks): all no-ops now,
  // but they hold sessions, which must go while the broker is still whole.
  for (auto& s : m.shards) {
    s->ioc.restart();
    s->ioc.poll();
    s->sessions.clear();
  }
  m.acceptor.reset();
  m.retry.reset();
  m.running = false;
}

std::uint16_t Broker::port() const { return impl_->port; }

std::string Broker::url() const {
  const auto& o = impl_->options;
  std::string host = o.address.find(':') != std::string::npos ? "[" + o.address + "]" : o.address;
  return (o.tls ? "mqtts://" : "mqtt://") + host + ":" + std::to_string(impl_->port);
}

BrokerStats Broker::stats() const {
  BrokerStats out;
  auto get = [](const Counters::C& c) { return c.load(std::memory_order_relaxed); };
  for (const auto& s : impl_->shards) {
    const auto& c = s->counters;
    out.connections += get(c.connections);
    out.connections_accepted += get(c.connections_accepted);
    out.handshake_failures += get(c.handshake_failures);
    out.messages_in += get(c.messages_in);
    out.messages_out += get(c.messages_out);
    out.publishes_throttled += get(c.publishes_throttled);
    out.deliveries_dropped += get(c.deliveries_dropped);
    out.authorization_failures += get(c.authorization_failures);
    out.reports_accepted += get(c.reports_accepted);
    out.reports_rejected += get(c.reports_rejected);
    for (std::size_t i = 0; i < out.refusals.size(); ++i) out.refusals[i] += get(c.refusals[i]);
    for (std::size_t i = 0; i < out.disconnects.size(); ++i) out.disconnects[i] += get(c.disconnects[i]);
  }
  out.sockets_refused = impl_->refused_sockets.load(std::memory_order_relaxed);
  return out;
}

}  // namespace fleetsim::local
