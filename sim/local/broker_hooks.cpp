#include "sim/local/broker_hooks.hpp"

namespace fleetsim::local {

std::string_view to_string(DisconnectReason r) {
  switch (r) {
    case DisconnectReason::client_initiated: return "CLIENT_INITIATED_DISCONNECT";
    case DisconnectReason::connection_lost: return "CONNECTION_LOST";
    case DisconnectReason::keep_alive_timeout: return "MQTT_KEEP_ALIVE_TIMEOUT";
    case DisconnectReason::duplicate_client_id: return "DUPLICATE_CLIENTID";
    case DisconnectReason::auth_error: return "AUTH_ERROR";
    case DisconnectReason::throttled: return "THROTTLED";
    case DisconnectReason::client_error: return "CLIENT_ERROR";
    case DisconnectReason::server_initiated: return "SERVER_INITIATED_DISCONNECT";
  }
  return "UNKNOWN";
}

}  // namespace fleetsim::local
