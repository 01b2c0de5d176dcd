#include "tests/support/mosquitto.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <fstream>
#include <stdexcept>

namespace fleetsim::test {

namespace {
bool accepts_connections(int port) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = htons(static_cast<uint16_t>(port));
  bool ok = connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0;
  close(fd);
  return ok;
}

template <class T>
T must(Expected<T> e, const char* what) {
  if (!e) throw std::runtime_error(std::string(what) + ": " + e.error());
  return std::move(e.value());
}
}  // namespace

Mosquitto::Mosquitto(const std::string& dir, Options options) : dir_(dir), options_(std::move(options)), port_(free_port()) {
  log_file_ = dir_ + "/mosquitto.log";
  conf_file_ = dir_ + "/mosquitto.conf";
  std::ofstream conf(conf_file_);
  conf << "listener " << port_ << " 127.0.0.1\n"
       << "allow_anonymous true\nmax_queued_messages 100000\nmax_inflight_messages 0\n"
       << "log_dest file " << log_file_ << "\nlog_type all\nconnection_messages true\n";
  if (geteuid() == 0) conf << "user root\n";  // it would drop to 'mosquitto' and lose our files
  if (options_.tls) {
    ca_ = must(pki::create_ca("fleetsim test CA"), "create CA");
    ca_file_ = dir_ + "/ca.pem";
    must(pki::write_certificate(ca_file_, ca_->certificate), "write CA");
    auto server = must(pki::issue_server_certificate(ca_->certificate, ca_->key, "localhost", {"localhost", "127.0.0.1"}),
                       "issue server certificate");
    must(pki::write_certificate(dir_ + "/server.pem", server.certificate), "write server certificate");
    must(pki::write_private_key(dir_ + "/server.key", server.key), "write server key");
    conf << "cafile " << ca_file_ << "\ncertfile " << dir_ << "/server.pem\nkeyfile " << dir_ << "/server.key\n"
         << "require_certificate true\nuse_identity_as_username true\n";
  }
  if (!options_.acl.empty()) {
    std::ofstream(dir_ + "/acl") << options_.acl;
    conf << "acl_file " << dir_ << "/acl\n";
  }
  conf.close();
  start();
}

Mosquitto::~Mosquitto() { stop(); }

void Mosquitto::start() {
  process_ = std::make_unique<ChildProcess>(std::vector<std::string>{"/usr/sbin/mosquitto", "-c", conf_file_}, dir_);
  if (!wait_until([&] { return accepts_connections(port_) || !process_->running(); }, std::chrono::seconds(10)) ||
      !process_->running())
    throw std::runtime_error("mosquitto did not start: " + log());
}

void Mosquitto::stop() {
  if (!process_) return;
  process_->signal(SIGTERM);
  process_->wait(std::chrono::seconds(10));
  process_.reset();
}

std::string Mosquitto::url() const {
  return std::string(options_.tls ? "mqtts://" : "mqtt://") + "127.0.0.1:" + std::to_string(port_);
}

void Mosquitto::issue_client(const std::string& dir, const std::string& name) const {
  auto c = must(pki::issue_client_certificate(ca_->certificate, ca_->key, name), "issue client certificate");
  must(pki::write_certificate(dir + "/" + name + ".pem", c.certificate), "write client certificate");
  must(pki::write_private_key(dir + "/" + name + ".key", c.key), "write client key");
}

}  // namespace fleetsim::test
