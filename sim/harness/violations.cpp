#include "sim/harness/violations.hpp"

#include <cmath>
#include <fstream>
#include <sstream>

namespace fleetsim::harness {

Expected<ViolationEvent> violation_from_json(const nlohmann::json& j) {
  if (!j.is_object()) return unexpected("a violation event must be a JSON object");
  ViolationEvent e;
  auto text = [&](const nlohmann::json& o, const char* key) {
    return o.contains(key) && o[key].is_string() ? o[key].get<std::string>() : std::string();
  };
  e.violation_id = text(j, "violationId");
  e.thing = text(j, "thingName");
  e.type = text(j, "violationEventType");
  if (j.contains("behavior") && j["behavior"].is_object()) {
    e.behavior = text(j["behavior"], "name");
    e.metric = text(j["behavior"], "metric");
  }
  if (j.contains("violationEventAdditionalInfo") && j["violationEventAdditionalInfo"].is_object())
    e.confidence = text(j["violationEventAdditionalInfo"], "confidenceLevel");
  // Without the event's own level, an ML behavior's configured one (rule behaviors have none).
  auto ml = nlohmann::json::json_pointer("/behavior/criteria/mlDetectionConfig");
  if (e.confidence.empty() && j.contains(ml) && j[ml].is_object()) e.confidence = text(j[ml], "confidenceLevel");
  if (!j.contains("violationEventTime") || !j["violationEventTime"].is_number())
    return unexpected("violationEventTime (epoch seconds) is missing");
  e.t = static_cast<EpochMillis>(std::llround(j["violationEventTime"].get<double>() * 1000.0));
  if (e.thing.empty() || e.type.empty()) return unexpected("thingName and violationEventType are required");
  return e;
}

Expected<std::vector<ViolationEvent>> read_violation_file(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return unexpected(path.string() + ": cannot open the file");
  std::stringstream ss;
  ss << in.rdbuf();
  std::string text = ss.str();
  std::vector<ViolationEvent> out;
  auto whole = nlohmann::json::parse(text, nullptr, false);
  if (!whole.is_discarded() && (whole.is_array() || whole.is_object())) {
    const auto& list = whole.is_array() ? whole : whole.value("violationEvents", nlohmann::json::array());
    if (whole.is_object() && !whole.contains("violationEvents")) {
      // A one-line JSONL file: a single event.
      auto e = violation_from_json(whole);
      if (!e) return unexpected(path.string() + ":1: " + e.error());
      out.push_back(*e);
      return out;
    }
    for (std::size_t i = 0; i < list.size(); ++i) {
      auto e = violation_from_json(list[i]);
      if (!e) return unexpected(path.string() + ": event " + std::to_string(i + 1) + ": " + e.error());
      out.push_back(*e);
    }
    return out;
  }
  std::istringstream lines(text);
  std::size_t n = 0;
  for (std::string line; std::getline(lines, line);) {
    ++n;
    if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
    auto j = nlohmann::json::parse(line, nullptr, false);
    if (j.is_discarded()) return unexpected(path.string() + ":" + std::to_string(n) + ": not JSON");
    auto e = violation_from_json(j);
    if (!e) return unexpected(path.string() + ":" + std::to_string(n) + ": " + e.error());
    out.push_back(*e);
  }
  return out;
}

}  // namespace fleetsim::harness
