#include "sim/local/router.hpp"

#include <algorithm>
#include <cctype>
#include <charconv>
#include <stdexcept>

#include <boost/beast/core/string.hpp>

namespace fleetsim::local {

namespace {

std::vector<std::string_view> segments(std::string_view path) {
  std::vector<std::string_view> out;
  if (!path.empty() && path.front() == '/') path.remove_prefix(1);
  for (std::size_t start = 0;;) {
    auto slash = path.find('/', start);
    out.push_back(path.substr(start, slash == std::string_view::npos ? std::string_view::npos : slash - start));
    if (slash == std::string_view::npos) break;
    start = slash + 1;
  }
  return out;
}

std::string_view type_name(aws::Type t) {
  switch (t) {
    case aws::Type::string: return "a string";
    case aws::Type::blob: return "a string";
    case aws::Type::integer:
    case aws::Type::long_: return "an integer";
    case aws::Type::number: return "a number";
    case aws::Type::boolean: return "a boolean";
    case aws::Type::timestamp: return "a timestamp";
    case aws::Type::list: return "a list";
    case aws::Type::structure: return "a structure";
    case aws::Type::map: return "a map";
  }
  return "a value";
}

// Epoch seconds (with a fraction) from a query timestamp: ISO 8601 as botocore sends it, or an epoch number.
std::optional<double> parse_timestamp(std::string_view text) {
  if (!text.empty() && (std::isdigit(static_cast<unsigned char>(text[0])) || text[0] == '-') &&
      text.find_first_not_of("0123456789.-") == std::string_view::npos) {
    double v = 0;
    auto [p, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
    if (ec == std::errc() && p == text.data() + text.size()) return v;
  }
  if (auto t = parse_rfc3339(text)) return static_cast<double>(*t) / 1000.0;
  return std::nullopt;
}

// A scalar from the path, the query string or a header, typed as the model says.
std::variant<nlohmann::json, ApiError> scalar(const aws::Member& m, const std::string& text) {
  auto bad = [&](std::string_view expected) {
    return invalid_request("Invalid value '" + text + "' for '" + std::string(m.wire) + "': expected " +
                           std::string(expected));
  };
  switch (m.type) {
    case aws::Type::integer:
    case aws::Type::long_: {
      std::int64_t v = 0;
      auto [p, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
      if (ec != std::errc() || p != text.data() + text.size()) return bad("an integer");
      return nlohmann::json(v);
    }
    case aws::Type::number: {
      double v = 0;
      auto [p, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
      if (ec != std::errc() || p != text.data() + text.size()) return bad("a number");
      return nlohmann::json(v);
    }
    case aws::Type::boolean:
      if (boost::beast::iequals(text, "true")) return nlohmann::json(true);
      if (boost::beast::iequals(text, "false")) return nlohmann::json(false);
      return bad("true or false");
    case aws::Type::timestamp:
      if (auto t = parse_timestamp(text)) return nlohmann::json(*t);
      return bad("an ISO 8601 timestamp such as 2024-01-02T03:04:05Z or epoch seconds");
    default: return nlohmann::json(text);
  }
}

bool has_type(const aws::Member& m, const nlohmann::json& v) {
  switch (m.type) {
    case aws::Type::string:
    case aws::Type::blob: return v.is_string();
    case aws::Type::integer:
    case aws::Type::long_: return v.is_number_integer();
    case aws::Type::number: return v.is_number();
    case aws::Type::boolean: return v.is_boolean();
    case aws::Type::timestamp: return v.is_number() || v.is_string();
    case aws::Type::list: return v.is_array();
    case aws::Type::structure:
    case aws::Type::map: return v.is_object();
  }
  return false;
}

}  // namespace

const aws::OperationModel* match_operation(std::string_view method, std::string_view raw_path, Labels& labels) {
  const auto path = segments(raw_path);
  const aws::OperationModel* best = nullptr;
  int best_literals = -1;
  for (const auto& op : aws::iot_operations()) {
    if (op.method != method) continue;
    std::string_view uri = op.uri;
    uri = uri.substr(0, uri.find('?'));
    const auto tmpl = segments(uri);
    if (tmpl.size() != path.size()) continue;
    Labels found;
    int literals = 0;
    bool ok = true;
    for (std::size_t i = 0; ok && i < tmpl.size(); ++i) {
      if (tmpl[i].size() > 2 && tmpl[i].front() == '{' && tmpl[i].back() == '}') {
        auto name = tmpl[i].substr(1, tmpl[i].size() - 2);
        if (!name.empty() && name.back() == '+') name.remove_suffix(1);
        if (path[i].empty()) ok = false;
        else found.emplace_back(std::string(name), aws::sigv4_decode(path[i]));
      } else if (tmpl[i] == path[i]) {
        ++literals;
      } else {
        ok = false;
      }
    }
    if (ok && literals > best_literals) {
      best = &op;
      best_literals = literals;
      labels = std::move(found);
    }
  }
  return best;
}

std::variant<nlohmann::json, ApiError> deserialize(const aws::OperationModel& op, const Labels& labels,
                                                   const aws::QueryParams& query, const aws::Headers& headers,
                                                   std::string_view body) {
  nlohmann::json input = nlohmann::json::object();
  nlohmann::json parsed_body = nlohmann::json::object();
  if (op.has_body() && !body.empty()) {
    parsed_body = nlohmann::json::parse(body, nullptr, false);
    if (parsed_body.is_discarded() || !parsed_body.is_object())
      return serialization_error("The request body is not a JSON object: " + std::string(body.substr(0, 80)));
    // Members the model does not know (newer SDKs) are passed on as sent; handlers take what they know.
    for (const auto& [key, value] : parsed_body.items())
      if (!value.is_null()) input[key] = value;
  }
  for (const auto& m : op.members) {
    const std::string name(m.name);
    switch (m.location) {
      case aws::Location::uri:
        for (const auto& [label, value] : labels)
          if (label == m.wire) input[name] = value;
        break;
      case aws::Location::querystring: {
        nlohmann::json values = nlohmann::json::array();
        for (const auto& [key, value] : query) {
          if (key != m.wire) continue;
          if (m.type == aws::Type::list) {
            values.push_back(value);
            continue;
          }
          auto v = scalar(m, value);
          if (auto* e = std::get_if<ApiError>(&v)) return *e;
          input[name] = std::move(std::get<nlohmann::json>(v));
        }
        if (m.type == aws::Type::list && !values.empty()) input[name] = std::move(values);
        break;
      }
      case aws::Location::header:
        for (const auto& [key, value] : headers)
          if (boost::beast::iequals(key, m.wire)) {
            auto v = scalar(m, value);
            if (auto* e = std::get_if<ApiError>(&v)) return *e;
            input[name] = std::move(std::get<nlohmann::json>(v));
            break;
          }
        break;
      case aws::Location::body: {
        auto it = input.find(std::string(m.wire));
        if (it == input.end()) break;
        if (!has_type(m, *it))
          return serialization_error("Member '" + std::string(m.wire) + "' must be " + std::string(type_name(m.type)) +
                                     ", not " + it->type_name());
        nlohmann::json v = std::move(*it);
        input.erase(it);
        if (m.type == aws::Type::timestamp && v.is_string()) {
          auto t = parse_timestamp(v.get<std::string>());
          if (!t) return serialization_error("Member '" + std::string(m.wire) + "' is not a timestamp");
          v = *t;
        }
        input[name] = std::move(v);
        break;
      }
    }
  }
  for (const auto& m : op.members)
    if (m.required && !input.contains(std::string(m.name)))
      return validation_error(m.name, "null", "Member must not be null");
  return input;
}

void Router::add(std::string_view operation, Handler handler, bool mutates) {
  const auto* model = aws::find_operation(operation);
  if (!model) throw std::invalid_argument("no operation " + std::string(operation) + " in the IoT model");
  entries_.insert_or_assign(std::string(operation), Entry{model, std::move(handler), mutates});
}

const Router::Entry* Router::find(std::string_view operation) const {
  auto it = entries_.find(operation);
  return it == entries_.end() ? nullptr : &it->second;
}

std::vector<std::string> Router::operations() const {
  std::vector<std::string> out;
  for (const auto& [name, entry] : entries_) out.push_back(name);
  return out;
}

}  // namespace fleetsim::local
