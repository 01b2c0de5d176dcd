#pragma once
// A real mosquitto broker on a loopback port for system tests: plain or mutual TLS with certificates
// from a throwaway CA (clients' identity = certificate CN), an optional ACL, and a debug log that the
// tests read as broker-side evidence (connections, denied publishes).
#include <memory>
#include <string>
#include <vector>

#include "sim/core/pki.hpp"
#include "tests/support/process.hpp"

namespace fleetsim::test {

class Mosquitto {
 public:
  struct Options {
    bool tls = false;
    std::string acl = {};  ///< ACL file content (with use_identity_as_username for TLS); empty: none
  };
  Mosquitto(const std::string& dir, Options options);
  ~Mosquitto();

  void start();  ///< starts (again) on the same port and waits until it accepts connections
  void stop();   ///< SIGTERM and wait
  int port() const { return port_; }
  std::string url() const;
  const std::string& ca_file() const { return ca_file_; }
  std::string log() const { return read_text(log_file_); }
  /// Issues a client certificate signed by the broker's CA into dir/<name>.pem and .key.
  void issue_client(const std::string& dir, const std::string& name) const;

 private:
  std::string dir_;
  Options options_;
  int port_;
  std::string ca_file_, log_file_, conf_file_;
  std::optional<pki::CertifiedKey> ca_;
  std::unique_ptr<ChildProcess> process_;
};

}  // namespace fleetsim::test
