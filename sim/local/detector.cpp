#include "sim/local/detector.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>

namespace fleetsim::local {

namespace {

using nlohmann::json;
namespace dm = detector_model;

double seconds(EpochMillis t) { return static_cast<double>(t) / 1000.0; }

bool targeted(const ProfileTargets& p, std::string_view thing) { return p.all_things || p.things.contains(thing); }

// Cumulative per-window counts, which durationSeconds sums over whole windows.
bool summable(Metric m) {
  switch (m) {
    case Metric::messages_sent:
    case Metric::messages_received:
    case Metric::authorization_failures:
    case Metric::connection_attempts:
    case Metric::disconnects:
    case Metric::bytes_out:
    case Metric::bytes_in:
    case Metric::packets_out:
    case Metric::packets_in: return true;
    default: return false;
  }
}

std::optional<std::pair<std::uint32_t, int>> parse_v4(std::string_view s) {
  unsigned a, b, c, d;
  int bits = 32;
  char tail = 0;
  const std::string text(s);
  const int n = std::sscanf(text.c_str(), "%3u.%3u.%3u.%3u/%d%c", &a, &b, &c, &d, &bits, &tail);
  if (n < 4 || n == 6 || a > 255 || b > 255 || c > 255 || d > 255 || bits < 0 || bits > 32) return std::nullopt;
  if (n == 4 && text.find('/') != std::string::npos) return std::nullopt;
  return std::pair{(a << 24) | (b << 16) | (c << 8) | d, bits};
}

bool in_cidr(std::string_view ip, std::string_view cidr) {
  auto addr = parse_v4(ip);
  auto net = parse_v4(cidr);
  if (addr && net) {
    const std::uint32_t mask = net->second == 0 ? 0 : ~std::uint32_t{0} << (32 - net->second);
    return (addr->first & mask) == (net->first & mask);
  }
  // IPv6: exact addresses only (with or without a /128).
  return cidr == ip || (cidr.size() == ip.size() + 4 && cidr.starts_with(ip) && cidr.ends_with("/128"));
}

// Whether a datapoint violates a static rule: the comparison, applied to the measured value, holds.
bool violates(std::string_view op, const MetricValue& measured, const MetricValue& limit) {
  const double x = measured.scalar, v = limit.scalar;
  if (op == "less-than") return x < v;
  if (op == "less-than-equals") return x <= v;
  if (op == "greater-than") return x > v;
  if (op == "greater-than-equals") return x >= v;
  auto any = [](const auto& items, auto pred) { return std::any_of(items.begin(), items.end(), pred); };
  if (op == "in-port-set" || op == "not-in-port-set") {
    const bool want_in = op == "in-port-set";
    return any(measured.ports, [&](int p) {
      return std::binary_search(limit.ports.begin(), limit.ports.end(), p) == want_in;
    });
  }
  if (op == "in-cidr-set" || op == "not-in-cidr-set") {
    const bool want_in = op == "in-cidr-set";
    return any(measured.strings, [&](const std::string& ip) {
      return any(limit.strings, [&](const std::string& c) { return in_cidr(ip, c); }) == want_in;
    });
  }
  if (op == "in-set" || op == "not-in-set") {
    const bool want_in = op == "in-set";
    if (!measured.strings.empty())
      return any(measured.strings, [&](const std::string& s) {
        return (std::find(limit.strings.begin(), limit.strings.end(), s) != limit.strings.end()) == want_in;
      });
    std::vector<double> numbers = measured.numbers;
    for (int p : measured.ports) numbers.push_back(p);
    return any(numbers, [&](double n) {
      return (std::find(limit.numbers.begin(), limit.numbers.end(), n) != limit.numbers.end()) == want_in;
    });
  }
  return false;
}

}  // namespace

std::string_view to_string(ViolationEventType t) {
  switch (t) {
    case ViolationEventType::in_alarm: return "in-alarm";
    case ViolationEventType::alarm_cleared: return "alarm-cleared";
    case ViolationEventType::alarm_invalidated: return "alarm-invalidated";
  }
  return "in-alarm";
}

json ViolationEvent::to_json() const {
  json out{{"violationId", violation_id},
           {"thingName", thing_name},
           {"securityProfileName", security_profile_name},
           {"behavior", behavior},
           {"violationEventType", std::string(local::to_string(type))},
           {"verificationState", verification_state},
           {"violationEventTime", seconds(time)}};
  if (metric_value) out["metricValue"] = metric_value->to_json();
  if (confidence) out["violationEventAdditionalInfo"] = json{{"confidenceLevel", std::string(local::to_string(*confidence))}};
  if (!verification_description.empty()) out["verificationStateDescription"] = verification_description;
  return out;
}

json ActiveViolation::to_json() const {
  json out{{"violationId", violation_id},
           {"thingName", thing_name},
           {"securityProfileName", security_profile_name},
           {"behavior", behavior},
           {"lastViolationValue", last_violation_value.to_json()},
           {"verificationState", verification_state},
           {"violationStartTime", seconds(violation_start_time)},
           {"lastViolationTime", seconds(last_violation_time)}};
  if (confidence) out["violationEventAdditionalInfo"] = json{{"confidenceLevel", std::string(local::to_string(*confidence))}};
  if (!verification_description.empty()) out["verificationStateDescription"] = verification_description;
  return out;
}

json TrainingSummary::to_json() const {
  json out{{"securityProfileName", security_profile_name},
           {"behaviorName", behavior_name},
           {"modelStatus", model_status},
           {"datapointsCollectionPercentage", datapoints_collection_percentage}};
  if (training_data_collection_start) out["trainingDataCollectionStartDate"] = seconds(*training_data_collection_start);
  if (last_model_refresh) out["lastModelRefreshDate"] = seconds(*last_model_refresh);
  return out;
}

//---------------------------------------------------------------------------------------------------
// State

std::optional<ConfidenceLevel> Detector::Behavior::level() const {
  if (!ml) return std::nullopt;
  return parse_confidence(spec["criteria"]["mlDetectionConfig"].value("confidenceLevel", "MEDIUM"));
}

Detector::Detector(DetectorSettings settings)
    : settings_(settings), ids_(derive_seed(settings.seed, "violation-ids")) {
  if (settings_.window.count() <= 0) settings_.window = Millis(300'000);
}

std::string Detector::next_violation_id() {
  const std::uint64_t a = ids_.next(), b = ids_.next();
  ++ids_drawn_;
  char buf[40];
  std::snprintf(buf, sizeof buf, "%08x-%04x-4%03x-%04x-%012llx", static_cast<unsigned>(a >> 32),
                static_cast<unsigned>((a >> 16) & 0xffff), static_cast<unsigned>(a & 0xfff),
                static_cast<unsigned>(0x8000 | ((b >> 48) & 0x3fff)),
                static_cast<unsigned long long>(b & 0xffffffffffffULL));
  return buf;
}

std::optional<std::string> Detector::unsupported(const json& behavior) {
  if (!behavior.is_object() || !behavior.contains("name")) return "a behavior needs a name";
  const std::string name = behavior.value("name", "");
  const std::string metric = behavior.value("metric", "");
  const json criteria = behavior.value("criteria", json::object());
  if (metric.empty()) return "behavior " + name + " has no metric";
  if (behavior.contains("metricDimension"))
    return "behavior " + name + ": metricDimension is not supported by the local detector";
  if (criteria.contains("statisticalThreshold"))
    return "behavior " + name +
           ": statisticalThreshold (STATISTICAL) behaviors are not supported by the local detector; use a value or "
           "mlDetectionConfig";
  if (criteria.contains("mlDetectionConfig")) {
    if (!dm::ml_traits(metric)) return "behavior " + name + ": " + metric + " cannot be used with ML Detect";
    return std::nullopt;
  }
  if (!parse_metric(metric)) return "behavior " + name + ": " + metric + " is not a metric the local emulator records";
  if (!criteria.contains("comparisonOperator") || !MetricValue::from_json(criteria.value("value", json())))
    return "behavior " + name + " needs comparisonOperator and value (or mlDetectionConfig)";
  return std::nullopt;
}

//---------------------------------------------------------------------------------------------------
// Evaluation

ViolationEvent Detector::make_event(const std::string& profile, const std::string& thing, const Behavior& b,
                                    const Alarm& a, ViolationEventType type, EpochMillis at) const {
  ViolationEvent e;
  e.violation_id = a.id;
  e.thing_name = thing;
  e.security_profile_name = profile;
  e.behavior = b.spec;
  if (type != ViolationEventType::alarm_invalidated) e.metric_value = a.last_value;
  e.confidence = b.level();
  e.type = type;
  e.time = at;
  e.verification_state = a.verification_state;
  e.verification_description = a.verification_description;
  return e;
}

void Detector::step(const std::string& profile, const std::string& thing, Behavior& b, Alarm& a, bool violating,
                    const MetricValue& value, EpochMillis at, std::vector<ViolationEvent>& out) {
  const json& criteria = b.spec["criteria"];
  const auto to_alarm = criteria.value("consecutiveDatapointsToAlarm", 1u);
  const auto to_clear = criteria.value("consecutiveDatapointsToClear", 1u);
  a.last_value = value;
  if (violating) {
    a.good = 0;
    a.bad = std::min(a.bad + 1, 10u);
    if (a.in_alarm) {
      a.last_violation = at;
    } else if (a.bad >= to_alarm) {
      a.in_alarm = true;
      a.id = next_violation_id();
      a.start = a.last_violation = at;
      a.verification_state = "UNKNOWN";
      a.verification_description.clear();
      out.push_back(make_event(profile, thing, b, a, ViolationEventType::in_alarm, at));
    }
  } else {
    a.bad = 0;
    a.good = std::min(a.good + 1, 10u);
    if (a.in_alarm && a.good >= to_clear) {
      out.push_back(make_event(profile, thing, b, a, ViolationEventType::alarm_cleared, at));
      a.in_alarm = false;
    }
  }
}

void Detector::invalidate(const std::string& profile, const std::string& thing, const Behavior& b, Alarm& a,
                          EpochMillis at, std::vector<ViolationEvent>& out) {
  if (!a.in_alarm) return;
  out.push_back(make_event(profile, thing, b, a, ViolationEventType::alarm_invalidated, at));
  a.in_alarm = false;
  a.bad = a.good = 0;
}

void Detector::evaluate_ml(const std::string& profile, Behavior& b, const ClosedWindow& w, const ProfileTargets& targets,
                           std::vector<ViolationEvent>& out) {
  const dm::Traits traits = *dm::ml_traits(b.metric);
  const ConfidenceLevel level = b.level().value_or(ConfidenceLevel::medium);
  const double alpha = settings_.adapt_half_life.count() > 0
                           ? 1 - std::exp2(-double(settings_.window.count()) / double(settings_.adapt_half_life.count()))
                           : 0;
  for (const auto& [thing, metrics] : w.things) {
    if (!targeted(targets, thing)) continue;
    auto found = metrics.find(b.metric);
    if (found == metrics.end()) continue;
    const double x = found->second.scalar;
    const double y = dm::transform(traits.kind, x);
    dm::ThingModel& m = b.models[thing];
    if (!b.active) {
      if (!b.training_start) b.training_start = w.start;
      dm::add_training(m, y);
      ++b.collected;
      continue;
    }
    if (!m.ready) {  // joined after the build: a short warm-up on its own datapoints
      dm::add_training(m, y);
      if (m.training.size() >= dm::min_thing_datapoints) {
        dm::fit(m);
        m.training = {};
      }
      continue;
    }
    Alarm& a = b.alarms[thing];
    a.last_datapoint = w.end;
    const auto bd = dm::bounds(traits, m, b.cal, level);
    step(profile, thing, b, a, x > bd.upper || x < bd.lower, found->second, w.end, out);
    // Follow slow drift (the diurnal cycle) with datapoints that look normal even at LOW.
    const auto low = dm::bounds({traits.kind, true}, m, b.cal, ConfidenceLevel::low);
    if (alpha > 0 && x <= low.upper && x >= low.lower) m.centre += alpha * (y - m.centre);
  }
  if (!b.active && b.training_start && w.end - *b.training_start >= settings_.training.count() &&
      b.collected >= settings_.min_datapoints) {
    for (auto& [thing, m] : b.models)
      if (m.training.size() >= dm::min_thing_datapoints) dm::fit(m);
    b.cal = dm::calibrate(traits.kind, b.models);
    for (auto& [thing, m] : b.models)
      if (m.ready) m.training = {};
    b.active = true;
    b.refreshed = w.end;
  }
}

void Detector::evaluate_rule(const std::string& profile, Behavior& b, const ClosedWindow& w,
                             const ProfileTargets& targets, std::vector<ViolationEvent>& out) {
  const json& criteria = b.spec["criteria"];
  const std::string op = criteria.value("comparisonOperator", "");
  const auto limit = MetricValue::from_json(criteria.value("value", json()));
  const auto metric = parse_metric(b.metric);
  if (!limit || !metric) return;
  const std::int64_t duration = criteria.value("durationSeconds", std::int64_t{0}) * 1000;
  const std::int64_t len = settings_.window.count();
  const bool summed = duration > 0 && summable(*metric);
  const std::int64_t windows = summed ? std::max<std::int64_t>(1, (duration + len - 1) / len) : 1;
  for (const auto& [thing, metrics] : w.things) {
    if (!targeted(targets, thing)) continue;
    auto found = metrics.find(b.metric);
    if (found == metrics.end()) continue;
    Alarm& a = b.alarms[thing];
    a.last_datapoint = w.end;
    MetricValue value = found->second;
    if (summed) {
      a.recent.emplace_back(w.start, value.scalar);
      while (a.recent.front().first <= w.start - windows * len) a.recent.pop_front();
      value.scalar = 0;
      for (const auto& [start, x] : a.recent) value.scalar += x;
    }
    step(profile, thing, b, a, violates(op, value, *limit), value, w.end, out);
  }
}

std::vector<ViolationEvent> Detector::evaluate(const ClosedWindow& w, const std::vector<ProfileTargets>& profiles) {
  std::vector<ViolationEvent> out;
  const EpochMillis at = w.end;
  auto invalidate_all = [&](const std::string& profile, Behavior& b) {
    for (auto& [thing, a] : b.alarms) invalidate(profile, thing, b, a, at, out);
  };
  for (auto it = profiles_.begin(); it != profiles_.end();) {
    const bool kept = std::any_of(profiles.begin(), profiles.end(), [&](const auto& p) { return p.name == it->first; });
    if (kept) {
      ++it;
      continue;
    }
    for (auto& [name, b] : it->second.behaviors) invalidate_all(it->first, b);
    it = profiles_.erase(it);
  }
  for (const auto& p : profiles) {
    Profile& state = profiles_[p.name];
    std::set<std::string, std::less<>> seen;
    if (p.behaviors.is_array())
      for (const auto& spec : p.behaviors) {
        if (unsupported(spec)) continue;
        const std::string name = spec["name"].get<std::string>();
        const std::string metric = spec["metric"].get<std::string>();
        const bool ml = spec.value("criteria", json::object()).contains("mlDetectionConfig");
        seen.insert(name);
        auto [entry, fresh] = state.behaviors.try_emplace(name);
        Behavior& b = entry->second;
        if (!fresh && (b.metric != metric || b.ml != ml)) {  // a different behavior under the old name
          invalidate_all(p.name, b);
          b = Behavior{};
        }
        b.metric = metric;
        b.ml = ml;
        b.spec = spec;
        for (auto a = b.alarms.begin(); a != b.alarms.end();) {
          if (targeted(p, a->first)) {
            ++a;
            continue;
          }
          invalidate(p.name, a->first, b, a->second, at, out);
          a = b.alarms.erase(a);
        }
        if (ml)
          evaluate_ml(p.name, b, w, p, out);
        else
          evaluate_rule(p.name, b, w, p, out);
        for (auto& [thing, a] : b.alarms)
          if (a.in_alarm && at - a.last_datapoint > settings_.invalidate_after.count())
            invalidate(p.name, thing, b, a, at, out);
      }
    for (auto it = state.behaviors.begin(); it != state.behaviors.end();) {
      if (seen.contains(it->first)) {
        ++it;
        continue;
      }
      invalidate_all(p.name, it->second);
      it = state.behaviors.erase(it);
    }
  }
  for (const auto& e : out) events_.push_back(e);
  while (!events_.empty() && events_.front().time < at - settings_.event_retention.count()) events_.pop_front();
  return out;
}

//---------------------------------------------------------------------------------------------------
// Queries

std::vector<TrainingSummary> Detector::training_summaries(std::string_view profile) const {
  std::vector<TrainingSummary> out;
  for (const auto& [name, p] : profiles_) {
    if (!profile.empty() && name != profile) continue;
    for (const auto& [behavior, b] : p.behaviors) {
      if (!b.ml) continue;
      TrainingSummary s;
      s.security_profile_name = name;
      s.behavior_name = behavior;
      s.model_status = b.active ? "ACTIVE" : "PENDING_BUILD";
      s.datapoints_collection_percentage =
          settings_.min_datapoints == 0
              ? 100.0
              : std::min(100.0, 100.0 * double(b.collected) / double(settings_.min_datapoints));
      if (b.active) {
        s.training_data_collection_start = b.training_start;
        s.last_model_refresh = b.refreshed;
      }
      out.push_back(std::move(s));
    }
  }
  return out;
}

std::vector<ActiveViolation> Detector::active_violations() const {
  std::vector<ActiveViolation> out;
  for (const auto& [name, p] : profiles_)
    for (const auto& [behavior, b] : p.behaviors)
      for (const auto& [thing, a] : b.alarms) {
        if (!a.in_alarm) continue;
        out.push_back(ActiveViolation{a.id, thing, name, b.spec, a.last_value, b.level(), a.verification_state,
                                      a.verification_description, a.start, a.last_violation});
      }
  return out;
}

bool Detector::set_verification_state(std::string_view violation_id, const std::string& state,
                                      const std::string& description) {
  bool found = false;
  for (auto& [name, p] : profiles_)
    for (auto& [behavior, b] : p.behaviors)
      for (auto& [thing, a] : b.alarms)
        if (a.in_alarm && a.id == violation_id) {
          a.verification_state = state;
          a.verification_description = description;
          found = true;
        }
  for (auto& e : events_)
    if (e.violation_id == violation_id) {
      e.verification_state = state;
      e.verification_description = description;
      found = true;
    }
  return found;
}

std::optional<dm::Bounds> Detector::bounds(std::string_view profile, std::string_view behavior, std::string_view thing,
                                           ConfidenceLevel level) const {
  auto p = profiles_.find(profile);
  if (p == profiles_.end()) return std::nullopt;
  auto b = p->second.behaviors.find(behavior);
  if (b == p->second.behaviors.end() || !b->second.ml || !b->second.active) return std::nullopt;
  auto m = b->second.models.find(thing);
  if (m == b->second.models.end() || !m->second.ready) return std::nullopt;
  return dm::bounds(*dm::ml_traits(b->second.metric), m->second, b->second.cal, level);
}

//---------------------------------------------------------------------------------------------------
// Persistence

json Detector::save() const {
  json profiles = json::object();
  for (const auto& [name, p] : profiles_) {
    json behaviors = json::object();
    for (const auto& [behavior, b] : p.behaviors) {
      json models = json::object(), alarms = json::object();
      for (const auto& [thing, m] : b.models)
        models[thing] = {{"training", m.training}, {"ready", m.ready}, {"centre", m.centre}, {"spread", m.spread}};
      for (const auto& [thing, a] : b.alarms) {
        json recent = json::array();
        for (const auto& [start, x] : a.recent) recent.push_back({start, x});
        alarms[thing] = {{"bad", a.bad},
                         {"good", a.good},
                         {"inAlarm", a.in_alarm},
                         {"id", a.id},
                         {"start", a.start},
                         {"lastViolation", a.last_violation},
                         {"lastDatapoint", a.last_datapoint},
                         {"lastValue", a.last_value.to_json()},
                         {"verificationState", a.verification_state},
                         {"verificationDescription", a.verification_description},
                         {"recent", recent}};
      }
      behaviors[behavior] = {{"metric", b.metric},
                             {"ml", b.ml},
                             {"spec", b.spec},
                             {"trainingStart", b.training_start ? json(*b.training_start) : json()},
                             {"collected", b.collected},
                             {"active", b.active},
                             {"refreshed", b.refreshed},
                             {"pooledSpread", b.cal.pooled_spread},
                             {"kappa", b.cal.kappa},
                             {"models", models},
                             {"alarms", alarms}};
    }
    profiles[name] = {{"behaviors", behaviors}};
  }
  json events = json::array();
  for (const auto& e : events_) {
    json j = e.to_json();
    j["violationEventTime"] = e.time;  // milliseconds, exactly
    events.push_back(std::move(j));
  }
  return json{{"version", 1}, {"idsDrawn", ids_drawn_}, {"profiles", profiles}, {"events", events}};
}

Detector Detector::load(const json& saved, DetectorSettings settings) {
  Detector d(settings);
  const std::uint64_t drawn = saved.value("idsDrawn", std::uint64_t{0});
  for (std::uint64_t i = 0; i < drawn; ++i) d.next_violation_id();  // the same ids continue after a restart
  const json profiles = saved.value("profiles", json::object());
  for (const auto& [name, p] : profiles.items()) {
    Profile& profile = d.profiles_[name];
    const json behaviors = p.value("behaviors", json::object());
    for (const auto& [behavior, j] : behaviors.items()) {
      Behavior& b = profile.behaviors[behavior];
      b.metric = j.value("metric", "");
      b.ml = j.value("ml", false);
      b.spec = j.value("spec", json::object());
      if (j.contains("trainingStart") && !j["trainingStart"].is_null()) b.training_start = j["trainingStart"].get<EpochMillis>();
      b.collected = j.value("collected", std::uint64_t{0});
      b.active = j.value("active", false);
      b.refreshed = j.value("refreshed", EpochMillis{0});
      b.cal.pooled_spread = j.value("pooledSpread", 0.0);
      b.cal.kappa = j.value("kappa", 1.0);
      const json models = j.value("models", json::object()), alarms = j.value("alarms", json::object());
      for (const auto& [thing, m] : models.items())
        b.models[thing] = dm::ThingModel{m.value("training", std::vector<double>{}), m.value("ready", false),
                                         m.value("centre", 0.0), m.value("spread", 0.0)};
      for (const auto& [thing, a] : alarms.items()) {
        Alarm& alarm = b.alarms[thing];
        alarm.bad = a.value("bad", 0u);
        alarm.good = a.value("good", 0u);
        alarm.in_alarm = a.value("inAlarm", false);
        alarm.id = a.value("id", "");
        alarm.start = a.value("start", EpochMillis{0});
        alarm.last_violation = a.value("lastViolation", EpochMillis{0});
        alarm.last_datapoint = a.value("lastDatapoint", EpochMillis{0});
        alarm.last_value = MetricValue::from_json(a.value("lastValue", json())).value_or(MetricValue{});
        alarm.verification_state = a.value("verificationState", "UNKNOWN");
        alarm.verification_description = a.value("verificationDescription", "");
        const json recent = a.value("recent", json::array());
        for (const auto& r : recent) alarm.recent.emplace_back(r[0].get<EpochMillis>(), r[1].get<double>());
      }
    }
  }
  const json events = saved.value("events", json::array());
  for (const auto& j : events) {
    ViolationEvent e;
    e.violation_id = j.value("violationId", "");
    e.thing_name = j.value("thingName", "");
    e.security_profile_name = j.value("securityProfileName", "");
    e.behavior = j.value("behavior", json::object());
    if (j.contains("metricValue")) e.metric_value = MetricValue::from_json(j["metricValue"]);
    if (j.contains("violationEventAdditionalInfo"))
      e.confidence = parse_confidence(j["violationEventAdditionalInfo"].value("confidenceLevel", ""));
    const std::string type = j.value("violationEventType", "in-alarm");
    e.type = type == "alarm-cleared"       ? ViolationEventType::alarm_cleared
             : type == "alarm-invalidated" ? ViolationEventType::alarm_invalidated
                                           : ViolationEventType::in_alarm;
    e.time = j.value("violationEventTime", EpochMillis{0});
    e.verification_state = j.value("verificationState", "UNKNOWN");
    e.verification_description = j.value("verificationStateDescription", "");
    d.events_.push_back(std::move(e));
  }
  return d;
}

}  // namespace fleetsim::local
