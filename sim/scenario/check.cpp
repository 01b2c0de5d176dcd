// check_scenario: the rules that need the whole scenario, and the target's rules.
#include <algorithm>
#include <set>
#include <unordered_set>

#include "sim/core/text.hpp"
#include "sim/scenario/loader.hpp"
#include "sim/scenario/metrics.hpp"

namespace fleetsim::scenario {
namespace {

constexpr double aws_publishes_per_connection = 100;   // per second, fixed
constexpr double aws_connects_per_client_id = 1;       // per second, fixed
constexpr double aws_account_connects = 500;           // per second, adjustable
constexpr std::uint64_t aws_max_payload = 128 * 1024;  // bytes
constexpr Millis device_report_min_interval{300'000};  // "Device metric minimum delay"
constexpr Millis ml_training{14LL * 86'400'000};
constexpr std::uint64_t ml_min_datapoints = 25'000;

class Checker {
 public:
  Checker(const Scenario& s, std::vector<Diagnostic>& out) : s_(s), out_(out) {}

  void run() {
    check_metadata();
    check_clock_and_target();
    check_fleet();
    for (const auto& a : s_.anomalies) check_anomaly(a);
    check_profile();
    check_detector();
  }

 private:
  void error(const SourceLocation& w, std::string msg, std::string hint = {}) {
    out_.push_back({Diagnostic::Severity::error, w, std::move(msg), std::move(hint)});
  }
  void warning(const SourceLocation& w, std::string msg, std::string hint = {}) {
    out_.push_back({Diagnostic::Severity::warning, w, std::move(msg), std::move(hint)});
  }
  SourceLocation top() const { return {s_.file, 1, 1}; }
  bool aws() const { return s_.target.kind == Target::Kind::aws; }

  void check_metadata() {
    auto bad = std::find_if(s_.name.begin(), s_.name.end(), [](char c) {
      return !((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' || c == '_');
    });
    if (s_.name.empty() || s_.name.size() > 64 || bad != s_.name.end())
      error(top(), "name '" + s_.name + "' must be 1 to 64 of a-z A-Z 0-9 - _",
            "it names the run directory and certs/<name>/");
  }

  void check_clock_and_target() {
    const auto& c = s_.clock;
    if (aws() && c.time_scale != 1)
      error(s_.target.where, "time_scale is " + format_number(c.time_scale) + " but the target is AWS",
            "AWS runs in real time: set clock.time_scale: 1, or use the local target");
    if (s_.target.kind == Target::Kind::mqtt && !s_.target.verify_peer)
      warning(s_.target.where, "TLS peer verification is off", "only for a broker you trust on a network you control");
    const auto& q = s_.connection;
    if (aws()) {
      if (q.publishes_per_connection.per_second > aws_publishes_per_connection)
        error(top(), "connection.publishes_per_connection is " + format_rate(q.publishes_per_connection) +
                         "; AWS IoT allows 100/s per connection and this quota cannot be raised");
      if (q.connects_per_client_id.per_second > aws_connects_per_client_id)
        error(top(), "connection.connects_per_client_id is " + format_rate(q.connects_per_client_id) +
                         "; AWS IoT allows 1/s per client id and this quota cannot be raised");
      if (q.account_connects.per_second > aws_account_connects && !q.account_quota_raised)
        error(top(), "connection.account_connects is " + format_rate(q.account_connects) +
                         "; the AWS default is 500/s per account",
              "if you raised it in Service Quotas, say so with account_quota_raised: true");
    }
    if (q.backoff_max < q.backoff_initial)
      error(top(), "connection.backoff_max is shorter than connection.backoff_initial");
  }

  static bool valid_thing_name(const std::string& n) {
    return !n.empty() && n.size() <= 128 && std::all_of(n.begin(), n.end(), [](char c) {
      return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == ':' || c == '_' ||
             c == '-';
    });
  }

  void check_topic(const FleetGroup& g, const std::string& key, const std::string& tmpl) {
    std::string what = "fleet group '" + g.name + "' topic '" + key + "'";
    if (tmpl.empty()) error(g.where, what + " is empty");
    if (tmpl.find_first_of("#+") != std::string::npos)
      error(g.where, what + " contains a wildcard (+ or #)", "topics things publish to are concrete names");
    if (tmpl.starts_with("$"))
      error(g.where, what + " starts with '$', which AWS IoT reserves", "device metric reports are built in");
    for (auto pos = tmpl.find('{'); pos != std::string::npos; pos = tmpl.find('{', pos + 1))
      if (tmpl.compare(pos, 7, "{thing}") != 0)
        error(g.where, what + " has an unknown placeholder at '" + tmpl.substr(pos, 12) + "'", "only {thing} is replaced");
    if (g.topic_for(key, g.name_of(g.count)).size() > 256)
      error(g.where, what + " is longer than AWS IoT's 256 bytes once {thing} is replaced");
    if (aws() && std::count(tmpl.begin(), tmpl.end(), '/') > 7)
      error(g.where, what + " has more than 7 slashes", "AWS IoT allows at most 8 topic levels");
  }

  void check_fleet() {
    std::set<std::string> group_names;
    std::unordered_set<std::string> thing_names;
    for (const auto& g : s_.fleet) {
      if (!group_names.insert(g.name).second) error(g.where, "fleet group '" + g.name + "' is declared twice");
      if (!valid_thing_name(g.thing_group))
        error(g.where, "thing group '" + g.thing_group + "' is not a valid AWS thing group name",
              "use 1 to 128 of a-z A-Z 0-9 : _ -");
      if (g.thing_name.find("{index") == std::string::npos && g.count > 1)
        error(g.where, "fleet group '" + g.name + "': thing_name '" + g.thing_name + "' has no {index}",
              "every thing needs its own name, e.g. sensor-{index:04}");
      for (std::uint64_t i = 1; i <= g.count; ++i) {
        auto name = g.name_of(i);
        if (!valid_thing_name(name)) {
          error(g.where, "fleet group '" + g.name + "' makes thing name '" + name + "', which AWS rejects",
                "thing names (the MQTT client id) are 1 to 128 of a-z A-Z 0-9 : _ -");
          break;
        }
        if (!thing_names.insert(name).second) {
          error(g.where, "thing name '" + name + "' is made by two fleet groups", "make the thing_name templates differ");
          break;
        }
      }
      for (const auto& [key, tmpl] : g.topics) check_topic(g, key, tmpl);
      const auto& b = g.baseline;
      check_topic_ref(g, b.publish.topic, "baseline.publish.topic");
      if (!b.receive.topic.empty()) check_topic_ref(g, b.receive.topic, "baseline.receive.topic");
      if (b.publish.rate.per_second > s_.connection.publishes_per_connection.per_second)
        error(g.where, "fleet group '" + g.name + "' publishes " + format_rate(b.publish.rate) + ", above the " +
                           format_rate(s_.connection.publishes_per_connection) + " allowed per connection");
      if (b.publish.payload.high() > aws_max_payload || b.receive.payload.high() > aws_max_payload)
        error(g.where, "fleet group '" + g.name + "' has payloads above AWS IoT's 128 KB limit");
      if (b.device_metrics.enabled && b.device_metrics.every < device_report_min_interval)
        error(g.where, "fleet group '" + g.name + "' reports device metrics every " +
                           format_duration(b.device_metrics.every) + "; Device Defender accepts at most one report every 5m",
              "set device_metrics.every: 5m or longer");
      if (b.diurnal.amplitude > 1) error(g.where, "fleet group '" + g.name + "': diurnal.amplitude above 100% makes rates negative");
    }
  }

  void check_topic_ref(const FleetGroup& g, const std::string& key, const char* what) {
    if (g.topics.count(key)) return;
    std::vector<std::string_view> keys;
    for (const auto& [k, v] : g.topics) keys.push_back(k);
    auto close = closest_match(key, keys);
    error(g.where, "fleet group '" + g.name + "': " + what + " '" + key + "' is not one of its topics",
          close ? "did you mean '" + *close + "'?" : keys.empty() ? "declare it under topics" : "topics: " + join_alternatives(keys, ", "));
  }

  const FleetGroup* group(const std::string& name) const {
    for (const auto& g : s_.fleet)
      if (g.name == name) return &g;
    return nullptr;
  }

  void check_anomaly(const Anomaly& a) {
    std::string what = "anomaly '" + a.name + "'";
    if (std::count_if(s_.anomalies.begin(), s_.anomalies.end(), [&](const Anomaly& o) { return o.name == a.name; }) > 1)
      error(a.where, what + " is declared twice", "anomaly names must be unique");
    const auto& kind = kind_info(a.kind);
    std::vector<const FleetGroup*> groups;
    if (!a.things.group.empty()) {
      const FleetGroup* g = group(a.things.group);
      if (!g) {
        std::vector<std::string_view> names;
        for (const auto& fg : s_.fleet) names.push_back(fg.name);
        auto close = closest_match(a.things.group, names);
        error(a.where, what + ": no fleet group '" + a.things.group + "'",
              close ? "did you mean '" + *close + "'?" : "groups: " + join_alternatives(names, ", "));
        return;
      }
      groups.push_back(g);
    } else if (a.things.names.empty()) {
      error(a.where, what + ": things.group is needed with count or fraction");
      return;
    } else {
      for (const auto& g : s_.fleet) groups.push_back(&g);
    }
    std::uint64_t available = 0;
    for (const auto* g : groups) available += g->count;
    if (a.things.count && *a.things.count > available)
      error(a.where, what + " asks for " + std::to_string(*a.things.count) + " things; the group has " + std::to_string(available));
    if (a.things.fraction && *a.things.fraction == 0) error(a.where, what + ": things.fraction is 0%");
    for (const auto& n : a.things.names) {
      bool found = false;
      for (const auto* g : groups)
        for (std::uint64_t i = 1; i <= g->count && !found; ++i) found = g->name_of(i) == n;
      if (!found) error(a.where, what + ": no thing named '" + n + "'" + (a.things.group.empty() ? "" : " in group '" + a.things.group + "'"));
    }
    for (const auto* g : groups) {
      if (kind.device_side && !g->baseline.device_metrics.enabled)
        error(a.where, what + " is a device-side anomaly but fleet group '" + g->name + "' sends no device metric reports",
              "add baseline.device_metrics to the group");
      if (a.kind == AnomalyKind::receive_flood && g->baseline.receive.topic.empty())
        error(a.where, what + ": fleet group '" + g->name + "' receives no commands",
              "add baseline.receive with a topic for the flood to use");
      check_strength(a, *g);
    }
    if (a.when.every && *a.when.every < a.duration)
      error(a.where, what + " lasts " + format_duration(a.duration) + " but recurs every " + format_duration(*a.when.every),
            "an occurrence must end before the next starts");
    if (s_.clock.duration) {
      auto run = *s_.clock.duration;
      if (a.when.start && *a.when.start >= run)
        error(a.where, what + " starts at " + format_duration(*a.when.start) + ", after the run ends (" + format_duration(run) + ")");
      else if (a.when.start && *a.when.start + a.duration > run)
        warning(a.where, what + " is still running when the run ends; it will be cut short");
      if (a.when.every && a.when.after >= run)
        error(a.where, what + " starts after " + format_duration(a.when.after) + ", after the run ends");
    }
    if (a.kind == AnomalyKind::authorization_failures && !a.topic.empty())
      for (const auto* g : groups)
        for (const auto& [key, tmpl] : g->topics)
          if (tmpl == a.topic)
            error(a.where, what + ": topic '" + a.topic + "' is one of the group's own topics, which its policy allows",
                  "pick a topic outside the policy, or leave topic out to use another thing's topic");
  }

  void check_strength(const Anomaly& a, const FleetGroup& g) {
    std::string what = "anomaly '" + a.name + "'";
    const auto& b = g.baseline;
    double v = a.strength.value;
    auto form = a.strength.form;
    if ((form == StrengthForm::multiplier || form == StrengthForm::count || form == StrengthForm::rate) && v <= 0)
      error(a.where, what + ": strength " + a.strength.text + " has no effect", "use a strength above zero");
    switch (a.kind) {
      case AnomalyKind::message_flood: {
        double rate = form == StrengthForm::multiplier ? b.publish.rate.per_second * v : v;
        if (rate > s_.connection.publishes_per_connection.per_second)
          warning(a.where, what + " would publish " + format_rate(Rate{rate}) + "; it is capped at " +
                               format_rate(s_.connection.publishes_per_connection) + " per connection");
        break;
      }
      case AnomalyKind::payload_inflation: {
        double size = form == StrengthForm::multiplier ? b.publish.payload.high() * v : v;
        if (size > aws_max_payload)
          error(a.where, what + " makes payloads of up to " + format_size(size) + "; AWS IoT rejects payloads over 128 KB",
                "use a smaller strength");
        break;
      }
      case AnomalyKind::reconnect_storm:
        if (v > s_.connection.connects_per_client_id.per_second)
          warning(a.where, what + " reconnects " + format_rate(Rate{v}) + "; CONNECTs are throttled to " +
                               format_rate(s_.connection.connects_per_client_id) + " per client id");
        break;
      case AnomalyKind::silence:
        if (v <= 0 || v > 1) error(a.where, what + ": strength must be between 1% and 100% of the traffic silenced");
        break;
      default: break;
    }
  }

  void check_profile() {
    const auto& p = s_.security_profile;
    if (!p.present) return;
    if (!valid_thing_name(p.name))
      error(p.where, "security profile name '" + p.name + "' is not valid", "use 1 to 128 of a-z A-Z 0-9 : _ -");
    std::set<std::string> thing_groups;
    for (const auto& g : s_.fleet) thing_groups.insert(g.thing_group);
    for (const auto& t : p.target_groups) {
      if (t == "all-things" || t == "registered-things" || t == "unregistered-things") continue;
      if (!thing_groups.count(t)) {
        std::vector<std::string_view> names(thing_groups.begin(), thing_groups.end());
        auto close = closest_match(t, names);
        error(p.where, "security profile target '" + t + "' is not a thing group of the fleet",
              close ? "did you mean '" + *close + "'?" : "thing groups: " + join_alternatives(names, ", "));
      }
    }
    if (p.target_groups.empty() && p.target_arns.empty())
      warning(p.where, "the security profile has no targets, so it watches no things", "add targets: [<thing group>]");
    bool reports = std::any_of(s_.fleet.begin(), s_.fleet.end(), [](const FleetGroup& g) { return g.baseline.device_metrics.enabled; });
    bool has_ml = false;
    for (const auto& b : p.summaries) {
      const auto* m = find_metric(b.metric);
      has_ml |= b.type == BehaviorSummary::Type::ml;
      if (m && m->device_side && !reports)
        warning(b.where, "behavior '" + b.name + "' watches " + b.metric + " but no fleet group sends device metric reports");
    }
    if (has_ml && aws()) {
      if (s_.clock.duration && *s_.clock.duration < ml_training)
        warning(p.where, "ML Detect trains for 14 days before it alarms; this run is shorter",
                "run a baseline fleet for weeks and reconcile nightly (see the README's nightly recipe)");
      std::uint64_t windows_per_14d = ml_training / Millis(300'000);
      std::uint64_t datapoints = s_.thing_count() * windows_per_14d;
      if (datapoints < ml_min_datapoints)
        warning(p.where, "the fleet yields about " + std::to_string(datapoints) +
                             " datapoints per metric in 14 days; ML Detect needs 25,000",
                "use at least 7 things active in every 5-minute window");
    }
    check_detectability();
  }

  // An anomaly shorter than the datapoints a behavior needs to alarm can never be detected by it.
  void check_detectability() {
    Millis window = aws() ? Millis(300'000) : s_.local_detector.window;
    for (const auto& a : s_.anomalies) {
      auto metrics = affected_metrics(a.kind, a.mode);
      for (const auto& b : s_.security_profile.summaries) {
        if (std::find(metrics.primary.begin(), metrics.primary.end(), b.metric) == metrics.primary.end()) continue;
        auto full_windows = a.duration / window;
        if (full_windows < b.datapoints_to_alarm)
          warning(a.where, "anomaly '" + a.name + "' lasts " + format_duration(a.duration) + ", " +
                               std::to_string(full_windows) + " full " + format_duration(window) + " windows; behavior '" +
                               b.name + "' needs " + std::to_string(b.datapoints_to_alarm) + " consecutive datapoints to alarm",
                  "make it last longer");
      }
    }
  }

  void check_detector() {
    if (s_.target.kind != Target::Kind::local) return;
    const auto& d = s_.local_detector;
    if (d.training < d.window)
      error(top(), "local_detector.training (" + format_duration(d.training) + ") is shorter than one window (" +
                       format_duration(d.window) + ")");
    if (s_.clock.duration && d.training >= *s_.clock.duration && s_.security_profile.present)
      warning(top(), "the local detector trains for " + format_duration(d.training) + ", as long as the whole run",
              "it will not alarm; shorten local_detector.training or lengthen clock.duration");
    for (const auto& a : s_.anomalies) {
      Millis first = a.when.start ? *a.when.start : a.when.after;
      if (first < d.training)
        warning(a.where, "anomaly '" + a.name + "' starts at " + format_duration(first) +
                             ", while the local detector is still training (" + format_duration(d.training) + ")",
                "the detector learns it as baseline; start it after training");
    }
  }

  const Scenario& s_;
  std::vector<Diagnostic>& out_;
};

}  // namespace

void check_scenario(const Scenario& s, std::vector<Diagnostic>& out) { Checker(s, out).run(); }

}  // namespace fleetsim::scenario
