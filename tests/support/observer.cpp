#include "tests/support/observer.hpp"

namespace fleetsim::test {

Observer::Observer(const std::string& host_port, const std::vector<std::string>& filters, const std::string& ca_file,
                   const std::string& cert, const std::string& key) {
  std::string uri = (ca_file.empty() ? "tcp://" : "ssl://") + host_port;
  client_ = std::make_unique<mqtt::async_client>(uri, "observer", mqtt::create_options(MQTTVERSION_3_1_1));
  client_->set_message_callback([this](mqtt::const_message_ptr m) {
    auto now = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch());
    const auto& p = m->get_payload_ref();
    std::lock_guard lock(mutex_);
    seen_.push_back({now.count(), m->get_topic(), p.size(), p.size() <= 65536 ? p.str() : std::string()});
  });
  auto builder = mqtt::connect_options_builder().clean_session(true).connect_timeout(std::chrono::seconds(10));
  if (!ca_file.empty())
    builder.ssl(mqtt::ssl_options_builder().trust_store(ca_file).key_store(cert).private_key(key).finalize());
  client_->connect(builder.finalize())->wait_for(std::chrono::seconds(10));
  if (!client_->is_connected()) throw std::runtime_error("observer could not connect to " + uri);
  for (const auto& f : filters) client_->subscribe(f, 1)->wait_for(std::chrono::seconds(10));
}

Observer::~Observer() {
  try {
    if (client_->is_connected()) client_->disconnect()->wait_for(std::chrono::seconds(5));
  } catch (...) {
  }
}

std::vector<Observed> Observer::snapshot() const {
  std::lock_guard lock(mutex_);
  return seen_;
}

std::size_t Observer::count() const {
  std::lock_guard lock(mutex_);
  return seen_.size();
}

}  // namespace fleetsim::test
