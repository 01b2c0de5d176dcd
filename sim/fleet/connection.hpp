#pragma once
// One thing's transport: plain TCP or TLS (mutual authentication with the thing's own certificate),
// on the worker's io_context. Reads go through a reactor-style wait plus a non-blocking read into the
// worker's shared buffer, so an idle plain connection holds no read buffer of its own.
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/write.hpp>

#include <cstring>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <system_error>

#include "sim/core/expected.hpp"
#include "sim/core/pki.hpp"

namespace fleetsim::fleet {

namespace net = boost::asio;
using tcp = net::ip::tcp;

/// How things reach the broker.
struct TransportSettings {
  std::vector<tcp::endpoint> endpoints;  ///< resolved once at start
  bool tls = false;
  std::string server_name;               ///< SNI and the name verified in the broker's certificate
  std::vector<std::string> alpn;         ///< e.g. x-amzn-mqtt-ca for AWS IoT on port 443
  std::string ca_file;                   ///< empty: the system's trust store
  bool verify_peer = true;
  /// Local addresses to connect from, spread over things: each gives another ~28k ephemeral ports,
  /// which is how one machine passes ~28k connections to one broker address. Empty: the kernel picks.
  std::vector<net::ip::address> source_addresses;
};

/// A client TLS context: TLS 1.2+, peer verification (unless turned off), the CA, ALPN.
Expected<std::shared_ptr<net::ssl::context>> make_client_tls_context(const TransportSettings& settings);

class Connection {
 public:
  using Handler = std::function<void(std::error_code)>;

  explicit Connection(net::io_context& ioc) : ioc_(ioc) {}
  ~Connection() { close(); }

  /// Connects TCP (trying each endpoint) and, for TLS, runs the handshake presenting `identity`.
  /// `source_index` picks the local address (modulo the list) when settings.source_addresses is set.
  void async_open(const TransportSettings& settings, net::ssl::context* tls_context,
                  const pki::CertifiedKey* identity, Handler done, std::size_t source_index = 0);
  /// Waits until the socket is readable, then reads what is there into `buffer` (non-blocking).
  /// Calls `done(std::error_code, std::size_t bytes)`; EOF is an error. Templates, not std::function:
  /// these run once per message and a type-erased handler would allocate each time.
  template <class ReadHandler>
  void async_read(std::span<char> buffer, ReadHandler&& done);
  /// Writes all of `data` (which must stay alive until `done(std::error_code)`).
  template <class WriteHandler>
  void async_write(const std::string& data, WriteHandler&& done);
  /// Closes at once; pending handlers get operation_aborted.
  void close();
  bool is_open() const;
  /// Bytes the last open's TLS handshake negotiated, for diagnostics ("" for plain).
  std::string alpn_selected() const;

 private:
  tcp::socket& lowest();
  void connect_next(const TransportSettings& settings, std::size_t index, net::ssl::context* tls_context,
                    const pki::CertifiedKey* identity, Handler done);
  std::size_t source_index_ = 0;
  net::io_context& ioc_;
  std::optional<tcp::socket> plain_;
  std::unique_ptr<net::ssl::stream<tcp::socket>> tls_;
  static constexpr std::size_t tls_read_chunk = 4096;  ///< per TLS connection; a record may take several reads
  std::string tls_buffer_;
};

template <class ReadHandler>
void Connection::async_read(std::span<char> buffer, ReadHandler&& done) {
  if (tls_) {
    // OpenSSL can complete a read from data it already decrypted, and asio then defers the handler: the
    // bytes would sit in `buffer` (which a worker shares among its things) while other reads overwrite
    // it. So TLS reads land in the connection's own buffer and are copied when the handler runs.
    if (tls_buffer_.empty()) tls_buffer_.resize(tls_read_chunk);
    tls_->async_read_some(net::buffer(tls_buffer_.data(), std::min(tls_buffer_.size(), buffer.size())),
                          [this, buffer, done = std::forward<ReadHandler>(done)](boost::system::error_code ec,
                                                                                  std::size_t n) mutable {
                            if (!ec) std::memcpy(buffer.data(), tls_buffer_.data(), n);
                            done(std::error_code(ec), n);
                          });
    return;
  }
  plain_->async_wait(tcp::socket::wait_read,
                     [this, buffer, done = std::forward<ReadHandler>(done)](boost::system::error_code ec) mutable {
                       if (ec) return done(std::error_code(ec), std::size_t{0});
                       boost::system::error_code rec;
                       plain_->non_blocking(true, rec);
                       std::size_t n = plain_->read_some(net::buffer(buffer.data(), buffer.size()), rec);
                       if (rec == net::error::would_block || rec == net::error::try_again)
                         return async_read(buffer, std::move(done));
                       done(std::error_code(rec), n);
                     });
}

template <class WriteHandler>
void Connection::async_write(const std::string& data, WriteHandler&& done) {
  auto on_written = [done = std::forward<WriteHandler>(done)](boost::system::error_code ec, std::size_t) mutable {
    done(std::error_code(ec));
  };
  if (tls_) net::async_write(*tls_, net::buffer(data), std::move(on_written));
  else net::async_write(*plain_, net::buffer(data), std::move(on_written));
}

}  // namespace fleetsim::fleet
