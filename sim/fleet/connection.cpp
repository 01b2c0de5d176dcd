#include "sim/fleet/connection.hpp"

#include <boost/asio/connect.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/write.hpp>
#include <openssl/ssl.h>

namespace fleetsim::fleet {

Expected<std::shared_ptr<net::ssl::context>> make_client_tls_context(const TransportSettings& s) {
  auto ctx = std::make_shared<net::ssl::context>(net::ssl::context::tls_client);
  boost::system::error_code ec;
  SSL_CTX_set_min_proto_version(ctx->native_handle(), TLS1_2_VERSION);
  if (s.verify_peer) {
    ctx->set_verify_mode(net::ssl::verify_peer, ec);
    if (s.ca_file.empty()) ctx->set_default_verify_paths(ec);
    else ctx->load_verify_file(s.ca_file, ec);
    if (ec)
      return unexpected("cannot load the CA bundle '" + (s.ca_file.empty() ? std::string("system default") : s.ca_file) +
                        "': " + ec.message());
  } else {
    ctx->set_verify_mode(net::ssl::verify_none, ec);
  }
  if (!s.alpn.empty()) {
    std::string wire;  // ALPN protocol list: length-prefixed names
    for (const auto& p : s.alpn) {
      wire += static_cast<char>(p.size());
      wire += p;
    }
    if (SSL_CTX_set_alpn_protos(ctx->native_handle(), reinterpret_cast<const unsigned char*>(wire.data()),
                                static_cast<unsigned>(wire.size())) != 0)
      return unexpected("cannot set ALPN protocols");
  }
  return ctx;
}

tcp::socket& Connection::lowest() { return tls_ ? tls_->next_layer() : *plain_; }

bool Connection::is_open() const { return tls_ ? tls_->next_layer().is_open() : plain_ && plain_->is_open(); }

void Connection::close() {
  boost::system::error_code ignored;
  if (tls_) tls_->next_layer().close(ignored);
  if (plain_) plain_->close(ignored);
}

void Connection::async_open(const TransportSettings& settings, net::ssl::context* tls_context,
                            const pki::CertifiedKey* identity, Handler done, std::size_t source_index) {
  source_index_ = source_index;
  close();
  tls_.reset();
  plain_.reset();
  if (settings.tls) tls_ = std::make_unique<net::ssl::stream<tcp::socket>>(ioc_, *tls_context);
  else plain_.emplace(ioc_);
  connect_next(settings, 0, tls_context, identity, std::move(done));
}

void Connection::connect_next(const TransportSettings& settings, std::size_t index, net::ssl::context* tls_context,
                              const pki::CertifiedKey* identity, Handler done) {
  if (index >= settings.endpoints.size()) {
    done(std::make_error_code(std::errc::host_unreachable));
    return;
  }
  const auto& endpoint = settings.endpoints[index];
  if (!settings.source_addresses.empty()) {
    const auto& source = settings.source_addresses[source_index_ % settings.source_addresses.size()];
    if (source.is_v4() == endpoint.address().is_v4()) {
      boost::system::error_code ec;
      lowest().open(endpoint.protocol(), ec);
      if (!ec) lowest().bind(tcp::endpoint(source, 0), ec);
      if (ec) {
        net::post(ioc_, [done = std::move(done), ec] { done(ec); });
        return;
      }
    }
  }
  lowest().async_connect(endpoint, [this, &settings, index, tls_context, identity,
                                                     done = std::move(done)](boost::system::error_code ec) mutable {
    if (ec == net::error::operation_aborted) return done(ec);
    if (ec) {
      if (index + 1 < settings.endpoints.size()) {
        boost::system::error_code ignored;
        lowest().close(ignored);
        return connect_next(settings, index + 1, tls_context, identity, std::move(done));
      }
      return done(ec);
    }
    boost::system::error_code nodelay_ec;
    lowest().set_option(tcp::no_delay(true), nodelay_ec);
    if (!tls_) return done({});
    SSL* ssl = tls_->native_handle();
    if (!settings.server_name.empty()) {
      SSL_set_tlsext_host_name(ssl, settings.server_name.c_str());  // SNI: mandatory for AWS IoT
      if (settings.verify_peer) {
        boost::system::error_code vec;
        tls_->set_verify_callback(net::ssl::host_name_verification(settings.server_name), vec);
      }
    }
    if (identity && (SSL_use_certificate(ssl, identity->certificate.get()) != 1 ||
                     SSL_use_PrivateKey(ssl, identity->key.get()) != 1))
      return done(std::make_error_code(std::errc::invalid_argument));
    tls_->async_handshake(net::ssl::stream_base::client, [done = std::move(done)](boost::system::error_code hec) {
      done(hec);
    });
  });
}

std::string Connection::alpn_selected() const {
  if (!tls_) return {};
  const unsigned char* proto = nullptr;
  unsigned len = 0;
  SSL_get0_alpn_selected(const_cast<net::ssl::stream<tcp::socket>&>(*tls_).native_handle(), &proto, &len);
  return std::string(reinterpret_cast<const char*>(proto), len);
}

}  // namespace fleetsim::fleet
