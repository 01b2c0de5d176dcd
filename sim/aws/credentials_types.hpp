#pragma once
// AWS credentials as a value: what the credential chain produces and the SigV4 signer consumes.
#include <optional>
#include <string>

#include "sim/core/time.hpp"

namespace fleetsim::aws {

/// One set of AWS credentials: long-term keys (AKIA…) or temporary ones (ASIA… plus a session token).
struct Credentials {
  std::string access_key_id;              ///< AKIA… or ASIA…
  std::string secret_access_key;          ///< never logged
  std::string session_token;              ///< empty for long-term keys; sent as X-Amz-Security-Token
  std::optional<EpochMillis> expiration;  ///< when temporary credentials stop working; none = never
  std::string source;                     ///< where they came from ("environment", "profile default"); no secret

  /// Temporary credentials must send (and sign) their session token.
  bool has_session_token() const { return !session_token.empty(); }
  /// True when `expiration` is set and not after `now`.
  bool expired_at(EpochMillis now) const { return expiration && *expiration <= now; }
};

}  // namespace fleetsim::aws
