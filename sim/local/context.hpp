#pragma once
// What an API handler sees: the service's fixed configuration, the state (locked for the call), the
// request's instant and id. Handlers are plain functions from the input object (members by their model
// names, as fleetsim's client and botocore take them) to the output object or an ApiError.
#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include <nlohmann/json.hpp>

#include "sim/core/pki.hpp"
#include "sim/core/time.hpp"
#include "sim/local/api_error.hpp"
#include "sim/local/state.hpp"

namespace fleetsim::local {

/// The account every local ARN names.
inline constexpr const char* default_account_id = "123456789012";

struct ServiceConfig {
  std::string region = "us-east-1";
  std::string account_id = default_account_id;
  std::string data_endpoint_host = "127.0.0.1";  ///< DescribeEndpoint's answer for iot:Data-ATS and iot:Data
  std::uint16_t data_endpoint_port = 0;          ///< appended as ":port" unless 0 or 8883
  std::shared_ptr<const pki::CertifiedKey> ca;   ///< issues CreateKeysAndCertificate's certificates
  pki::KeyAlgorithm key_algorithm = pki::KeyAlgorithm::ec_p256;  ///< AWS issues RSA 2048; EC is faster

  /// "arn:aws:iot:REGION:ACCOUNT:<resource>"
  std::string arn(std::string_view resource) const;
};

struct RequestContext {
  State& state;                 ///< locked for the duration of the call
  const ServiceConfig& config;
  EpochMillis now;              ///< scenario time, for creation and modification dates
  std::string request_id;
};

using Handler = std::function<ApiResult(RequestContext&, const nlohmann::json& input)>;

}  // namespace fleetsim::local
