#pragma once
// The local emulator's REST API: the AWS IoT and Device Defender operations fleetsim and the AWS CLI use,
// on loopback, over HTTP or HTTPS (a server certificate from the local CA), with AWS's paths, shapes and
// errors. Every request is checked with SigV4 against the configured local credentials; state survives a
// restart (see store.hpp). Boost.Beast on asio: keep-alive, a deadline on every connection step,
// request bodies up to 1 MiB (413 beyond).
//
//   auto server = ApiServer::create({.state_dir = "state"});   // errors say what to fix
//   auto port = (*server)->start();                            // its own thread; or start(io_context&)
//   aws iot list-things --endpoint-url http://127.0.0.1:PORT --region us-east-1   (with the local keys)
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>

#include "sim/aws/credentials_types.hpp"
#include "sim/core/clock.hpp"
#include "sim/core/expected.hpp"
#include "sim/core/pki.hpp"
#include "sim/local/context.hpp"
#include "sim/local/router.hpp"
#include "sim/local/store.hpp"

namespace boost::asio {
class io_context;
}

namespace fleetsim::local {

/// The emulator's fixed access key (documented in the README; these keys open nothing at AWS).
inline constexpr const char* local_access_key_id = "AKIAFLEETSIMLOCAL";
inline constexpr const char* local_secret_access_key = "fleetsim/local/emulator/NotASecretKey000";
/// The local credentials as the SigV4 code takes them.
aws::Credentials local_credentials();

struct ApiServerOptions {
  std::string address = "127.0.0.1";   ///< where to listen (loopback unless on purpose)
  std::uint16_t port = 0;               ///< 0: a free port, see ApiServer::port()
  bool tls = false;                     ///< HTTPS with a server certificate for 127.0.0.1, ::1 and localhost
  std::filesystem::path state_dir;      ///< "" keeps the state in memory only
  bool durable = true;                  ///< fsync the journal before answering (see Store::open)
  std::filesystem::path ca_dir;         ///< the local CA (ca.pem, ca.key); "" = state_dir/ca, or in memory
  std::string region = "us-east-1";
  std::string account_id = default_account_id;
  aws::Credentials credentials = local_credentials();
  std::string data_endpoint_host = "127.0.0.1";  ///< DescribeEndpoint's answer (the local broker)
  std::uint16_t data_endpoint_port = 8883;       ///< appended as ":port" unless 8883
  pki::KeyAlgorithm key_algorithm = pki::KeyAlgorithm::ec_p256;  ///< of CreateKeysAndCertificate's keys
  /// Scenario time for creation and modification dates (default: the system clock). SigV4 dates are
  /// checked against the wall clock and, failing that, against this clock, so both real clients and
  /// fleetsim's own (which may sign with a time-compressed clock) are accepted.
  const Clock* clock = nullptr;
  std::size_t max_body = 1 << 20;       ///< larger requests get 413
  std::size_t max_connections = 1024;   ///< more are closed on accept
  std::chrono::milliseconds handshake_timeout{10'000};
  std::chrono::milliseconds idle_timeout{60'000};   ///< between requests on a kept-alive connection
  std::chrono::milliseconds io_timeout{30'000};     ///< reading a request, writing a response
};

class ApiServer {
 public:
  /// Opens the state directory and the CA (creating them on first use); listens on nothing yet.
  static Expected<std::unique_ptr<ApiServer>> create(ApiServerOptions options);
  ~ApiServer();  ///< stop()
  ApiServer(const ApiServer&) = delete;
  ApiServer& operator=(const ApiServer&) = delete;

  /// The operations; add or replace handlers before start().
  Router& router();
  /// Listens and serves on `ioc`, which the caller runs (from any number of threads) and which must
  /// outlive the server. Returns the port.
  Expected<std::uint16_t> start(boost::asio::io_context& ioc);
  /// Listens and serves on its own io_context with `threads` threads.
  Expected<std::uint16_t> start(unsigned threads = 1);
  /// Stops accepting, closes every connection, waits for its own threads and writes a final snapshot.
  void stop();

  std::uint16_t port() const;
  /// "http://127.0.0.1:PORT" or "https://..." (IPv6 addresses in brackets), for --endpoint-url.
  std::string url() const;
  /// The local CA certificate, which issues CreateKeysAndCertificate's and the HTTPS server's certificates.
  const pki::Certificate& ca_certificate() const;
  /// Its PEM file (for a client's ca_file or the AWS CLI's --ca-bundle); "" when the CA is in memory.
  std::filesystem::path ca_file() const;
  Store& store();
  /// The CA and its key (the broker's server certificate and client verification use the same CA).
  std::shared_ptr<const pki::CertifiedKey> ca() const;
  /// What DescribeEndpoint answers; call before start() (the broker's port may be known only then).
  void set_data_endpoint(std::string host, std::uint16_t port);

 private:
  struct Core;
  explicit ApiServer(std::shared_ptr<Core> core);
  std::shared_ptr<Core> core_;
};

}  // namespace fleetsim::local
