#include "sim/local/emulator.hpp"

#include <condition_variable>
#include <iostream>
#include <limits>
#include <mutex>
#include <set>
#include <thread>

#include "sim/local/api_server.hpp"
#include "sim/local/authority.hpp"
#include "sim/local/broker.hpp"
#include "sim/local/detector.hpp"
#include "sim/local/handler_support.hpp"
#include "sim/local/metrics.hpp"

namespace fleetsim::local {

namespace {

using nlohmann::json;

std::string event_key(const ViolationEvent& e) {
  return time_key(e.time) + "/" + e.violation_id + "/" + std::string(to_string(e.type));
}

// The profiles as the detector sees them: behaviors as stored, targets resolved to thing names.
std::vector<ProfileTargets> profile_targets(const State& st, const std::string& arn_prefix) {
  std::vector<ProfileTargets> out;
  for (const auto& [name, p] : st.security_profiles.rows()) {
    ProfileTargets t;
    t.name = name;
    t.behaviors = p.behaviors.is_array() ? p.behaviors : json::array();
    for (const auto& target : p.targets) {
      if (!target.starts_with(arn_prefix)) continue;
      std::string_view rest = std::string_view(target).substr(arn_prefix.size());
      if (rest == "all/things") {
        t.all_things = true;
      } else if (rest == "all/registered-things") {
        for (const auto& [thing, row] : st.things.rows()) t.things.insert(thing);
      } else if (rest.starts_with("thinggroup/")) {
        if (const ThingGroup* g = st.thing_groups.find(rest.substr(11))) t.things.insert(g->things.begin(), g->things.end());
      }
      // all/unregistered-things: fleetsim's things are registered; an unregistered client id is not targeted.
    }
    out.push_back(std::move(t));
  }
  return out;
}

json ms_row(json row, const char* member, EpochMillis t) {
  row[member] = t;
  return row;
}

}  // namespace

struct Emulator::Core {
  EmulatorOptions options;
  SystemClock system_clock;
  const Clock* clock = nullptr;
  std::unique_ptr<ApiServer> api;
  std::unique_ptr<RegistryAuthority> authority;
  std::unique_ptr<MetricsRecorder> metrics;
  std::unique_ptr<Broker> broker;

  std::mutex detector_mutex;  // evaluate() runs from the evaluation thread and from callers
  std::optional<Detector> detector;
  EpochMillis frozen_at = std::numeric_limits<EpochMillis>::max();  // no window ending later is evaluated
  static constexpr std::chrono::seconds detector_save_interval{30};
  std::chrono::steady_clock::time_point last_detector_save{};

  std::mutex wake_mutex;
  std::condition_variable wake;
  bool stopping = false;
  bool started = false;
  std::thread evaluator;

  DetectorSettings detector_settings() const {
    DetectorSettings d;
    d.window = options.window;
    d.training = options.training;
    d.min_datapoints = options.min_datapoints;
    d.invalidate_after = options.invalidate_after;
    return d;
  }

  // Writes the detector's news into the API's state: new events, the active violations (keeping the
  // verification states set through the API), training summaries, and the detector itself.
  void publish(const std::vector<ViolationEvent>& events, bool final_save = false) {
    auto status = api->store().write([&](State& st) {
      for (const auto& e : events) st.violation_events.put(event_key(e), ms_row(e.to_json(), "violationEventTime", e.time));
      std::set<std::string> still_active;
      for (const auto& a : detector->active_violations()) {
        json row = a.to_json();
        row["violationStartTime"] = a.violation_start_time;
        row["lastViolationTime"] = a.last_violation_time;
        if (const json* old = st.active_violations.find(a.violation_id)) {
          for (const char* m : {"verificationState", "verificationStateDescription"})
            if (old->contains(m)) row[m] = (*old)[m];
          if (*old == row) {
            still_active.insert(a.violation_id);
            continue;
          }
        }
        still_active.insert(a.violation_id);
        st.active_violations.put(a.violation_id, std::move(row));
      }
      std::vector<std::string> ended;
      for (const auto& [id, row] : st.active_violations.rows())
        if (!still_active.contains(id)) ended.push_back(id);
      for (const auto& id : ended) st.active_violations.erase(id);
      std::set<std::string> current;
      for (const auto& s : detector->training_summaries()) {
        current.insert(s.security_profile_name + "/" + s.behavior_name);
        json row = s.to_json();
        if (s.training_data_collection_start) row["trainingDataCollectionStartDate"] = *s.training_data_collection_start;
        if (s.last_model_refresh) row["lastModelRefreshDate"] = *s.last_model_refresh;
        const std::string key = s.security_profile_name + "/" + s.behavior_name;
        if (const json* old = st.training_summaries.find(key); !old || *old != row) st.training_summaries.put(key, row);
      }
      std::vector<std::string> gone;  // behaviors or profiles removed since
      for (const auto& [key, row] : st.training_summaries.rows())
        if (!current.contains(key)) gone.push_back(key);
      for (const auto& key : gone) st.training_summaries.erase(key);
      // The models are the bulk of the state (every thing × behavior); journal them every half minute of
      // real time and at stop, not every window. Events and alarms above are journaled as they happen.
      const auto real_now = std::chrono::steady_clock::now();
      if (final_save || real_now - last_detector_save >= detector_save_interval) {
        st.detector.put("state", detector->save());
        last_detector_save = real_now;
      }
    });
    if (!status && options.log) options.log("cannot journal the detector's results: " + status.error());
  }

  std::size_t evaluate(EpochMillis now) {
    std::lock_guard lock(detector_mutex);
    now = std::min(now, frozen_at);
    std::size_t n = 0;
    for (const auto& window : metrics->close_windows(now)) {
      auto profiles = api->store().read([&](const State& st) {
        return profile_targets(st, "arn:aws:iot:" + options.region + ":" + options.account_id + ":");
      });
      auto events = detector->evaluate(window, profiles);
      n += events.size();
      publish(events);
    }
    return n;
  }

  // One evaluation per window boundary of scenario time.
  void run_evaluator() {
    std::unique_lock lock(wake_mutex);
    while (!stopping) {
      const EpochMillis now = clock->now();
      const EpochMillis w = options.window.count();
      const EpochMillis next = (now / w + 1) * w;
      const double real_ms = double(next - now) / std::max(clock->scale(), 1e-9);
      wake.wait_for(lock, std::chrono::microseconds(static_cast<std::int64_t>(real_ms * 1000.0) + 1000),
                    [&] { return stopping; });
      if (stopping) break;
      lock.unlock();
      evaluate(clock->now());
      lock.lock();
    }
  }
};

Expected<std::unique_ptr<Emulator>> Emulator::create(EmulatorOptions options) {
  auto core = std::make_unique<Core>();
  core->options = std::move(options);
  auto& o = core->options;
  core->clock = o.clock ? o.clock : &core->system_clock;
  if (o.window.count() <= 0) return unexpected(std::string("the detector window must be positive"));

  ApiServerOptions ao;
  ao.address = o.address;
  ao.port = o.api_port;
  ao.tls = o.api_tls;
  ao.state_dir = o.state_dir;
  ao.durable = o.durable;
  ao.ca_dir = o.ca_dir;
  ao.region = o.region;
  ao.account_id = o.account_id;
  ao.clock = core->clock;
  auto api = ApiServer::create(std::move(ao));
  if (!api) return unexpected(api.error());
  core->api = std::move(api.value());

  core->metrics = std::make_unique<MetricsRecorder>(*core->clock, o.window);
  core->authority = std::make_unique<RegistryAuthority>(core->api->store(), o.region, o.account_id);

  // The detector resumes from the state directory when it has one.
  DetectorSettings ds = core->detector_settings();
  auto saved = core->api->store().read([](const State& st) -> std::optional<json> {
    if (const json* s = st.detector.find("state")) return *s;
    return std::nullopt;
  });
  try {
    core->detector.emplace(saved ? Detector::load(*saved, ds) : Detector(ds));
  } catch (const std::exception& e) {
    return unexpected("the detector state in " + o.state_dir.string() + " cannot be read (" + e.what() +
                      "); move the directory away to start afresh");
  }

  BrokerOptions bo;
  bo.address = o.address;
  bo.port = o.mqtt_port;
  bo.ca = core->api->ca();
  bo.threads = std::max(1u, o.broker_threads);
  bo.clock = core->clock;
  bo.authority = core->authority.get();
  bo.observer = core->metrics.get();
  bo.max_payload = o.max_payload;
  bo.publishes_per_second = o.publishes_per_second;
  bo.connects_per_client_id_per_second = o.connects_per_client_id_per_second;
  if (o.log) bo.log = [log = o.log](std::string_view line) { log(std::string(line)); };
  auto broker = Broker::create(std::move(bo));
  if (!broker) return unexpected(broker.error());
  core->broker = std::move(broker.value());

  // ListMetricValues reads the recorder, which only the emulator has.
  MetricsRecorder* recorder = core->metrics.get();
  core->api->router().add(
      "ListMetricValues",
      [recorder](RequestContext&, const json& in) -> ApiResult {
        auto page = page_request(in);
        if (auto* e = std::get_if<ApiError>(&page)) return *e;
        const std::string thing = text(in, "thingName"), metric = text(in, "metricName");
        if (!parse_metric(metric)) return invalid_request("Metric " + metric + " is not a metric the emulator records");
        if (in.contains("dimensionName")) return invalid_request("Dimensions are not supported by the local emulator");
        auto from = millis_of(in.value("startTime", json())), to = millis_of(in.value("endTime", json()));
        if (!from || !to) return invalid_request("startTime and endTime are required");
        auto data = recorder->metric_values(thing, metric, *from, *to);
        // Newest first, paged by position (the datum list is rebuilt per call; the token is its index).
        std::map<std::string, const MetricDatum*> rows;
        for (std::size_t i = 0; i < data.size(); ++i) {
          char key[24];
          std::snprintf(key, sizeof key, "%010zu", i);
          rows.emplace(key, &data[i]);
        }
        json items = json::array();
        auto token = page_through(rows, std::get<PageRequest>(page), [](const auto&) { return true; },
                                  [&](const auto& row) {
                                    items.push_back({{"timestamp", epoch_seconds(row.second->timestamp)},
                                                     {"value", row.second->value.to_json()}});
                                  });
        return page_output("metricDatumList", std::move(items), token);
      },
      false);
  return std::unique_ptr<Emulator>(new Emulator(std::move(core)));
}

Emulator::Emulator(std::unique_ptr<Core> core) : core_(std::move(core)) {}

Emulator::~Emulator() { stop(); }

Expected<std::monostate> Emulator::start() {
  auto mqtt = core_->broker->start();
  if (!mqtt) return unexpected("the MQTT broker cannot listen: " + mqtt.error());
  core_->api->set_data_endpoint(core_->options.address, *mqtt);
  auto api = core_->api->start(1);
  if (!api) {
    core_->broker->stop();
    return unexpected("the API server cannot listen: " + api.error());
  }
  core_->started = true;
  core_->evaluator = std::thread([c = core_.get()] { c->run_evaluator(); });
  return std::monostate{};
}

void Emulator::stop() {
  if (!core_ || !core_->started) return;
  {
    std::lock_guard lock(core_->wake_mutex);
    core_->stopping = true;
  }
  core_->wake.notify_all();
  if (core_->evaluator.joinable()) core_->evaluator.join();
  core_->broker->stop();
  if (core_->options.log) {
    const BrokerStats st = core_->broker->stats();
    std::string line = "broker: " + std::to_string(st.connections_accepted) + " connections accepted, " +
                       std::to_string(st.messages_in) + " messages in, " + std::to_string(st.messages_out) + " out, " +
                       std::to_string(st.publishes_throttled) + " publishes throttled, " +
                       std::to_string(st.authorization_failures) + " authorization failures, reports " +
                       std::to_string(st.reports_accepted) + " accepted / " + std::to_string(st.reports_rejected) +
                       " rejected; refused:";
    for (std::size_t r = 0; r < st.refusals.size(); ++r)
      if (st.refusals[r]) line += " " + std::string(to_string(RefusalReason(r))) + "=" + std::to_string(st.refusals[r]);
    line += "; disconnects:";
    for (std::size_t r = 0; r < st.disconnects.size(); ++r)
      if (st.disconnects[r]) line += " " + std::string(to_string(DisconnectReason(r))) + "=" + std::to_string(st.disconnects[r]);
    core_->options.log(line);
  }
  core_->evaluate(core_->clock->now());
  {
    std::lock_guard lock(core_->detector_mutex);
    core_->publish({}, /*final_save=*/true);
  }
  core_->api->stop();
  core_->started = false;
}

std::size_t Emulator::evaluate(EpochMillis now) { return core_->evaluate(now); }

void Emulator::traffic_ends(EpochMillis at) {
  std::lock_guard lock(core_->detector_mutex);
  core_->frozen_at = std::min(core_->frozen_at, at);
}

std::string Emulator::api_url() const { return core_->api->url(); }
std::string Emulator::mqtt_url() const { return core_->broker->url(); }
std::uint16_t Emulator::api_port() const { return core_->api->port(); }
std::uint16_t Emulator::mqtt_port() const { return core_->broker->port(); }
std::filesystem::path Emulator::ca_file() const { return core_->api->ca_file(); }
ApiServer& Emulator::api() { return *core_->api; }
Broker& Emulator::broker() { return *core_->broker; }
MetricsRecorder& Emulator::metrics() { return *core_->metrics; }

}  // namespace fleetsim::local
