#include "sim/aws/operations.hpp"

#include <algorithm>

#include "sim/core/time.hpp"

namespace fleetsim::aws {

const std::vector<OperationModel>& iot_operations() {
  static const std::vector<OperationModel> ops{
#include "sim/aws/iot_operations.inc"
  };
  return ops;
}

const OperationModel* find_operation(std::string_view name) {
  for (const auto& op : iot_operations())
    if (op.name == name) return &op;
  return nullptr;
}

bool OperationModel::has_body() const {
  return std::any_of(members.begin(), members.end(), [](const Member& m) { return m.location == Location::body; });
}

std::string iso8601(EpochMillis t) { return format_rfc3339(t); }  // 2024-01-02T03:04:05Z or ...05.678Z

namespace {

// Epoch milliseconds from a JSON timestamp: epoch seconds (number) or RFC 3339 text.
Expected<EpochMillis> timestamp_of(const nlohmann::json& v) {
  if (v.is_number()) return static_cast<EpochMillis>(v.get<double>() * 1000.0);
  if (v.is_string()) return parse_rfc3339(v.get<std::string>());
  return unexpected("a timestamp must be epoch seconds or RFC 3339 text");
}

// The text of a scalar member for the path, query string or a header.
Expected<std::string> scalar_text(const Member& m, const nlohmann::json& v) {
  switch (m.type) {
    case Type::string:
    case Type::blob:
      if (v.is_string()) return v.get<std::string>();
      break;
    case Type::integer:
    case Type::long_:
      if (v.is_number_integer()) return std::to_string(v.get<std::int64_t>());
      break;
    case Type::number:
      if (v.is_number()) return v.dump();
      break;
    case Type::boolean:
      if (v.is_boolean()) return std::string(v.get<bool>() ? "true" : "false");
      break;
    case Type::timestamp: {
      auto t = timestamp_of(v);
      if (!t) return unexpected(t.error());
      return iso8601(*t);
    }
    default: break;
  }
  return unexpected("has the wrong JSON type (" + std::string(v.type_name()) + ")");
}

}  // namespace

Expected<WireRequest> serialize(const OperationModel& op, const nlohmann::json& input) {
  auto fail = [&](std::string_view member, const std::string& why) {
    return unexpected(std::string(op.name) + ": member '" + std::string(member) + "' " + why);
  };
  if (!input.is_object()) return unexpected(std::string(op.name) + ": the input must be a JSON object");
  for (const auto& [key, value] : input.items())
    if (std::none_of(op.members.begin(), op.members.end(), [&](const Member& m) { return m.name == key; }))
      return fail(key, "is not a member of the operation");
  WireRequest w;
  w.method = std::string(op.method);
  std::string uri(op.uri);
  std::string query_in_uri;  // some URIs carry a fixed query, e.g. "/path?action=x"
  if (auto q = uri.find('?'); q != std::string::npos) {
    query_in_uri = uri.substr(q + 1);
    uri.resize(q);
  }
  nlohmann::json body = nlohmann::json::object();
  for (const auto& m : op.members) {
    auto it = input.find(std::string(m.name));
    if (it == input.end() || it->is_null()) {
      if (m.required) return fail(m.name, "is required");
      continue;
    }
    const auto& v = *it;
    switch (m.location) {
      case Location::uri: {
        auto text = scalar_text(m, v);
        if (!text) return fail(m.name, text.error());
        bool greedy = uri.find("{" + std::string(m.wire) + "+}") != std::string::npos;
        std::string label = "{" + std::string(m.wire) + (greedy ? "+}" : "}");
        if (text->empty()) return fail(m.name, "must not be empty (it is part of the path)");
        uri.replace(uri.find(label), label.size(), uri_encode(*text, greedy));
        break;
      }
      case Location::querystring:
        if (m.type == Type::list) {
          if (!v.is_array()) return fail(m.name, "must be a list");
          for (const auto& item : v) {
            if (!item.is_string()) return fail(m.name, "must be a list of strings");
            w.query.emplace_back(std::string(m.wire), item.get<std::string>());
          }
        } else {
          auto text = scalar_text(m, v);
          if (!text) return fail(m.name, text.error());
          w.query.emplace_back(std::string(m.wire), *text);
        }
        break;
      case Location::header: {
        auto text = scalar_text(m, v);
        if (!text) return fail(m.name, text.error());
        w.headers.emplace_back(std::string(m.wire), *text);
        break;
      }
      case Location::body:
        if (m.type == Type::timestamp) {
          auto t = timestamp_of(v);
          if (!t) return fail(m.name, t.error());
          // Whole seconds as an integer, as botocore sends them; fractions only when there are some.
          if (*t % 1000 == 0) body[std::string(m.wire)] = *t / 1000;
          else body[std::string(m.wire)] = static_cast<double>(*t) / 1000.0;
        } else {
          body[std::string(m.wire)] = v;
        }
        break;
    }
  }
  if (uri.find('{') != std::string::npos) return unexpected(std::string(op.name) + ": a path label was not filled");
  w.path = uri;
  if (!query_in_uri.empty()) {
    for (std::size_t start = 0; start <= query_in_uri.size();) {
      auto amp = query_in_uri.find('&', start);
      auto part = query_in_uri.substr(start, amp - start);
      auto eq = part.find('=');
      w.query.emplace_back(part.substr(0, eq), eq == std::string::npos ? "" : part.substr(eq + 1));
      if (amp == std::string::npos) break;
      start = amp + 1;
    }
  }
  // Operations with body members always send a JSON object, even an empty one (as botocore does).
  if (op.has_body()) {
    w.body = body.dump();
    w.headers.emplace_back("Content-Type", "application/json");
  }
  return w;
}

}  // namespace fleetsim::aws
