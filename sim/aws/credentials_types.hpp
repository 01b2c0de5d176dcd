#pragma once
// AWS credentials as every part of sim/aws passes them around.
#include <optional>
#include <string>

#include "sim/core/time.hpp"

namespace fleetsim::aws {

struct Credentials {
  std::string access_key_id;
  std::string secret_access_key;
  std::string session_token;            ///< empty for long-term keys
  std::optional<EpochMillis> expiration;  ///< temporary credentials expire; refresh before
  std::string source;                   ///< where they came from ("environment", "profile default", ...), never the secret
};

}  // namespace fleetsim::aws
