#pragma once
// One thing's transport: plain TCP or TLS (mutual authentication with the thing's own certificate),
// on the worker's io_context. Reads go through a reactor-style wait plus a non-blocking read into the
// worker's shared buffer, so an idle plain connection holds no read buffer of its own.
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl.hpp>

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
  /// Calls `done(ec, bytes)`; bytes == 0 with no error never happens (EOF is an error).
  void async_read(std::span<char> buffer, std::function<void(std::error_code, std::size_t)> done);
  /// Writes all of `data` (which must stay alive until `done`).
  void async_write(const std::string& data, Handler done);
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
};

}  // namespace fleetsim::fleet
