#pragma once
// Routing and deserialization for the REST API: a request's method and path are matched against the URI
// templates of botocore's model (sim/aws/operations.hpp), and its input object is rebuilt from the wire
// exactly inverting sim/aws/operations.cpp serialize(): path labels percent-decoded, query values typed
// (ISO 8601 or epoch timestamps, booleans, integers, repeated keys for lists), the x-amzn-* headers, and
// the JSON body. Handlers are registered per operation name, so new operations plug in without touching
// the server.
#include <map>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

#include <nlohmann/json.hpp>

#include "sim/aws/operations.hpp"
#include "sim/aws/sigv4.hpp"
#include "sim/local/api_error.hpp"
#include "sim/local/context.hpp"

namespace fleetsim::local {

/// Path label values by wire name, decoded.
using Labels = std::vector<std::pair<std::string, std::string>>;

/// The operation whose method and URI template match `raw_path` (still percent-encoded, no query), with
/// its labels; literal segments win over labels (PUT /thing-groups/addThingToThingGroup). nullptr if none.
const aws::OperationModel* match_operation(std::string_view method, std::string_view raw_path, Labels& labels);

/// The input object for `op` from the request's parts. Errors: SerializationException for a body that is
/// not a JSON object or a member of the wrong JSON type; InvalidRequestException for unparsable query
/// values and missing required members (in AWS's validation wording).
std::variant<nlohmann::json, ApiError> deserialize(const aws::OperationModel& op, const Labels& labels,
                                                   const aws::QueryParams& query, const aws::Headers& headers,
                                                   std::string_view body);

class Router {
 public:
  struct Entry {
    const aws::OperationModel* model;
    Handler handler;
    bool mutates;  ///< the store journals what it changed
  };
  /// Registers (or replaces) the handler of a model operation.
  /// @throws std::invalid_argument when the operation is not in the model
  void add(std::string_view operation, Handler handler, bool mutates);
  const Entry* find(std::string_view operation) const;
  std::vector<std::string> operations() const;

 private:
  std::map<std::string, Entry, std::less<>> entries_;
};

}  // namespace fleetsim::local
