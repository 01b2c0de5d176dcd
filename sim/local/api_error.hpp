#pragma once
// The errors of the local emulator's REST API, as AWS IoT sends them: an HTTP status, a code for the
// `x-amzn-ErrorType` header ("ResourceNotFoundException:"), and a JSON body {"message": ...} (plus
// resourceId/resourceArn for ResourceAlreadyExistsException). Statuses follow botocore's IoT model.
#include <string>
#include <string_view>
#include <variant>

#include <nlohmann/json.hpp>

namespace fleetsim::local {

struct ApiError {
  int status = 400;
  std::string code;     ///< "InvalidRequestException", ...
  std::string message;
  nlohmann::json extra = nlohmann::json::object();  ///< more body members (resourceId, resourceArn)

  /// The JSON body AWS sends: {"message": ..., ...extra}.
  std::string body() const;
};

/// A handler's outcome: the output object or an error.
using ApiResult = std::variant<nlohmann::json, ApiError>;

ApiError invalid_request(std::string message);                                       // 400
ApiError serialization_error(std::string message);                                   // 400 SerializationException
ApiError malformed_policy(std::string message);                                      // 400
ApiError throttling(std::string message);                                            // 400
ApiError unauthorized(std::string message);                                          // 401
ApiError not_found(std::string message);                                             // 404 ResourceNotFoundException
ApiError unknown_operation(std::string message);                                     // 404 UnknownOperationException
ApiError certificate_state(std::string message);                                     // 406
ApiError already_exists(std::string message, std::string resource_id, std::string resource_arn);  // 409
ApiError version_conflict(std::string message);                                      // 409
ApiError delete_conflict(std::string message);                                       // 409
ApiError limit_exceeded(std::string message);                                        // 410
ApiError payload_too_large(std::string message);                                     // 413
ApiError internal_failure(std::string message);                                      // 500

/// AWS's validation wording: "1 validation error detected: Value 'x' at 'maxResults' failed to satisfy
/// constraint: Member must have value less than or equal to 250" (an InvalidRequestException).
ApiError validation_error(std::string_view member, std::string_view value, std::string_view constraint);

}  // namespace fleetsim::local
