#pragma once
// The AWS IoT control-plane client: serialize an operation from the service model, sign it (SigV4),
// send it over HTTPS, and turn the answer into JSON or an AwsError that names the operation, the HTTP
// status, the AWS error code, the message and the request id. Retries throttling, 5xx and connection
// errors with exponential backoff and full jitter (never other 4xx), corrects clock skew once, refreshes
// expired credentials once, pages through nextToken, and paces each operation to its API rate limit.
#include <chrono>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <variant>

#include <nlohmann/json.hpp>

#include "sim/aws/credentials_types.hpp"
#include "sim/aws/http.hpp"
#include "sim/core/clock.hpp"
#include "sim/core/expected.hpp"
#include "sim/core/rng.hpp"

namespace fleetsim::aws {

struct AwsError {
  std::string operation;
  int status = 0;            ///< HTTP status; 0 when no response arrived
  std::string code;          ///< AWS error code, e.g. ResourceNotFoundException (or a transport failure kind)
  std::string message;
  std::string request_id;    ///< x-amzn-RequestId, when the service sent one
  int attempts = 1;
  /// "ListViolationEvents failed: HTTP 404 ResourceNotFoundException: No profile (request id ...)"
  std::string describe() const;
};

template <class T>
using AwsResult = std::variant<T, AwsError>;

struct IotClientOptions {
  std::string region;                 ///< required
  std::string endpoint_url;           ///< overrides https://iot.<region>.amazonaws.com (as --endpoint-url)
  HttpClientOptions http;
  std::chrono::milliseconds timeout{15'000};  ///< per attempt
  int max_attempts = 5;
  Millis base_backoff{200};
  Millis max_backoff{20'000};
  bool rate_limit = true;             ///< pace calls to each operation's published TPS limit
  double default_tps = 10;
  std::map<std::string, double> tps;  ///< per operation, overriding the built-in table
  const Clock* clock = nullptr;       ///< for X-Amz-Date and pacing (default: the system clock)
  std::function<void(Millis)> sleep;  ///< default: std::this_thread::sleep_for
  std::uint64_t seed = 0;             ///< backoff jitter
};

class IotClient {
 public:
  using CredentialSource = std::function<Expected<Credentials>()>;
  IotClient(IotClientOptions options, CredentialSource credentials);
  ~IotClient();

  /// Calls one operation with `input` (members by their model names; timestamps as epoch seconds).
  AwsResult<nlohmann::json> call(std::string_view operation, const nlohmann::json& input = nlohmann::json::object());
  /// Calls a paginated operation until nextToken runs out and concatenates the `list_key` arrays.
  AwsResult<nlohmann::json> call_all(std::string_view operation, nlohmann::json input, std::string_view list_key,
                                     std::size_t max_pages = 10'000);
  const std::string& endpoint() const { return endpoint_; }
  const std::string& region() const { return options_.region; }
  /// Attempts made so far (each retry counts), for tests and progress.
  std::uint64_t attempts() const { return attempts_; }

 private:
  void pace(std::string_view operation);
  IotClientOptions options_;
  CredentialSource credentials_;
  std::string endpoint_;
  HttpClient http_;
  SystemClock system_clock_;
  Rng rng_;
  Millis skew_{0};  // server time minus ours, learned from a clock-skew error
  std::map<std::string, EpochMillis, std::less<>> next_allowed_;
  std::uint64_t attempts_ = 0;
};

/// The published API rate limit (TPS) of an operation (10 when not listed).
double published_tps(std::string_view operation);

}  // namespace fleetsim::aws
