#pragma once
// The AWS IoT operations fleetsim speaks, from botocore's service model (iot_operations.inc, generated
// by generate_operations.py), and the rest-json serialization of an input object onto the wire:
// path labels, query string, headers and JSON body exactly as botocore places them.
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "sim/aws/http.hpp"
#include "sim/core/expected.hpp"
#include "sim/core/time.hpp"

namespace fleetsim::aws {

enum class Location { uri, querystring, header, body };
enum class Type { string, integer, long_, number, boolean, timestamp, list, structure, map, blob };

struct Member {
  std::string_view name;  ///< the member's name in the input object
  Location location;
  std::string_view wire;  ///< its name on the wire (query key, header name, JSON key)
  Type type;
  bool required;
};

struct OperationModel {
  std::string_view name;    ///< e.g. "ListViolationEvents"
  std::string_view method;  ///< GET, POST, PUT, PATCH, DELETE
  std::string_view uri;     ///< e.g. "/security-profiles/{securityProfileName}/targets"
  bool paginated;           ///< takes nextToken
  std::vector<Member> members;
  bool has_body() const;
};

/// The operations fleetsim uses, in the generator's order.
const std::vector<OperationModel>& iot_operations();
const OperationModel* find_operation(std::string_view name);

/// A request ready to sign: the path is already percent-encoded; query pairs are decoded.
struct WireRequest {
  std::string method;
  std::string path;
  std::vector<std::pair<std::string, std::string>> query;
  Headers headers;
  std::string body;  ///< "" when the operation has no body members
};

/// Places `input`'s members on the wire. Errors name the operation and the member (missing required
/// members, wrong JSON types, unknown members).
Expected<WireRequest> serialize(const OperationModel& op, const nlohmann::json& input);

/// Timestamps: ISO 8601 with milliseconds for query strings; epoch seconds (a JSON number) in bodies.
std::string iso8601(EpochMillis t);

}  // namespace fleetsim::aws
