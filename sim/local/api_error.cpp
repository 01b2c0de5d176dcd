#include "sim/local/api_error.hpp"

namespace fleetsim::local {

namespace {
ApiError make(int status, std::string code, std::string message) {
  ApiError e;
  e.status = status;
  e.code = std::move(code);
  e.message = std::move(message);
  return e;
}
}  // namespace

std::string ApiError::body() const {
  nlohmann::json b = extra.is_object() ? extra : nlohmann::json::object();
  b["message"] = message;
  return b.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

ApiError invalid_request(std::string m) { return make(400, "InvalidRequestException", std::move(m)); }
ApiError serialization_error(std::string m) { return make(400, "SerializationException", std::move(m)); }
ApiError malformed_policy(std::string m) { return make(400, "MalformedPolicyException", std::move(m)); }
ApiError throttling(std::string m) { return make(400, "ThrottlingException", std::move(m)); }
ApiError unauthorized(std::string m) { return make(401, "UnauthorizedException", std::move(m)); }
ApiError not_found(std::string m) { return make(404, "ResourceNotFoundException", std::move(m)); }
ApiError unknown_operation(std::string m) { return make(404, "UnknownOperationException", std::move(m)); }
ApiError certificate_state(std::string m) { return make(406, "CertificateStateException", std::move(m)); }
ApiError version_conflict(std::string m) { return make(409, "VersionConflictException", std::move(m)); }
ApiError delete_conflict(std::string m) { return make(409, "DeleteConflictException", std::move(m)); }
ApiError limit_exceeded(std::string m) { return make(410, "LimitExceededException", std::move(m)); }
ApiError payload_too_large(std::string m) { return make(413, "RequestEntityTooLargeException", std::move(m)); }
ApiError internal_failure(std::string m) { return make(500, "InternalFailureException", std::move(m)); }

ApiError already_exists(std::string m, std::string resource_id, std::string resource_arn) {
  auto e = make(409, "ResourceAlreadyExistsException", std::move(m));
  e.extra["resourceId"] = std::move(resource_id);
  e.extra["resourceArn"] = std::move(resource_arn);
  return e;
}

ApiError validation_error(std::string_view member, std::string_view value, std::string_view constraint) {
  return invalid_request("1 validation error detected: Value '" + std::string(value) + "' at '" + std::string(member) +
                         "' failed to satisfy constraint: " + std::string(constraint));
}

}  // namespace fleetsim::local
