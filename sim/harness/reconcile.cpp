#include "sim/harness/reconcile.hpp"

#include <algorithm>
#include <cmath>
#include <set>

namespace fleetsim::harness {

namespace {

EpochMillis end_of(const ledger::Window& w, const ReconcileOptions& o) { return w.end_ms.value_or(o.run_end); }

bool contains(const std::vector<std::string>& list, const std::string& s) {
  return std::find(list.begin(), list.end(), s) != list.end();
}

void add_once(std::vector<std::string>& list, const std::string& s) {
  if (!contains(list, s)) list.push_back(s);
}

int level_rank(const std::string& level) {
  const auto& all = confidence_levels();
  return int(std::find(all.begin(), all.end(), level) - all.begin());
}

// Was an alarm of (thing, behavior) active at time t: an in-alarm before t with no clear/invalidation after it?
bool active_at(const std::vector<const ViolationEvent*>& history, const std::string& behavior, EpochMillis t) {
  bool active = false;
  for (const auto* e : history) {
    if (e->t >= t) break;
    if (e->behavior != behavior) continue;
    active = e->type == "in-alarm";  // alarm-cleared or alarm-invalidated end it
  }
  return active;
}

}  // namespace

bool counts_at(const std::string& event_level, const std::string& level) {
  if (event_level.empty() || level.empty()) return true;
  return level_rank(event_level) >= level_rank(level);
}

std::optional<Millis> percentile(std::vector<Millis> values, double p) {
  if (values.empty()) return std::nullopt;
  std::sort(values.begin(), values.end());
  auto rank = static_cast<std::size_t>(std::ceil(std::clamp(p, 0.0, 100.0) / 100.0 * double(values.size())));
  return values[std::max<std::size_t>(rank, 1) - 1];
}

Reconciliation reconcile(const std::vector<ledger::Window>& windows, const std::vector<ViolationEvent>& all_events,
                         const ReconcileOptions& o) {
  // Events in the run's range (plus grace), at the requested confidence, by thing in time order.
  std::map<std::string, std::vector<const ViolationEvent*>> by_thing;
  for (const auto& e : all_events) {
    if (e.t < o.run_start || e.t > o.run_end + o.grace.count()) continue;
    if (!counts_at(e.confidence, o.confidence)) continue;
    by_thing[e.thing].push_back(&e);
  }
  for (auto& [thing, list] : by_thing)
    std::stable_sort(list.begin(), list.end(), [](const auto* a, const auto* b) { return a->t < b->t; });

  Reconciliation r;
  std::set<const ViolationEvent*> credited;
  for (const auto& w : windows) {
    WindowResult res;
    res.window = w;
    EpochMillis end = end_of(w, o);
    const auto& history = by_thing[w.thing];
    for (const auto* e : history) {
      if (e->type != "in-alarm") continue;
      bool is_primary = contains(w.primary_metrics, e->metric);
      if (e->t < w.start_ms) {
        if (is_primary && active_at(history, e->behavior, w.start_ms)) res.already_in_alarm = true;
        continue;
      }
      if (e->t > end + o.grace.count()) break;
      if (contains(w.side_effect_metrics, e->metric)) add_once(res.side_effects_detected_on, e->metric);
      if (!is_primary) continue;
      if (!res.detected) {
        res.detected = true;
        res.time_to_detect = Millis(e->t - w.start_ms);
      }
      add_once(res.detected_on, e->metric);
      add_once(res.detected_by, e->behavior);
      credited.insert(e);
    }
    if (res.detected)
      for (const auto* e : history)
        if (e->type == "alarm-cleared" && e->t >= end && contains(w.primary_metrics, e->metric)) {
          res.time_to_clear = Millis(e->t - end);
          break;
        }
    r.windows.push_back(std::move(res));
  }

  // False alarms: in-alarm events no window (with grace) of the same thing explains.
  std::map<std::string, std::vector<std::pair<EpochMillis, EpochMillis>>> covered;
  for (const auto& w : windows) covered[w.thing].emplace_back(w.start_ms, end_of(w, o) + o.grace.count());
  for (const auto& [thing, list] : by_thing)
    for (const auto* e : list) {
      r.events.push_back(*e);
      if (e->type != "in-alarm" || e->t > o.run_end) continue;
      ++r.alarms;
      if (credited.count(e)) {
        r.true_alarms.push_back(*e);
        continue;
      }
      bool explained = false;
      for (const auto& [from, to] : covered[thing]) explained |= e->t >= from && e->t <= to;
      if (!explained) r.false_alarms.push_back(*e);
    }

  // Clean observation: each thing's span minus the union of its covered intervals.
  std::vector<std::string> things = o.things;
  for (const auto& [thing, list] : covered)
    if (!contains(things, thing)) things.push_back(thing);
  double clean_ms = 0;
  for (const auto& thing : things) {
    if (o.never_connected.contains(thing)) continue;  // not observed at all
    auto intervals = covered[thing];
    std::sort(intervals.begin(), intervals.end());
    EpochMillis cursor = o.run_start, busy = 0;
    for (auto [from, to] : intervals) {
      from = std::max(from, cursor);
      to = std::min(to, o.run_end);
      if (to > from) {
        busy += to - from;
        cursor = to;
      }
    }
    clean_ms += double(std::max<EpochMillis>(0, o.run_end - o.run_start - busy));
  }
  r.clean_thing_days = clean_ms / double(millis_per_day);
  return r;
}

std::size_t Reconciliation::detected() const {
  return static_cast<std::size_t>(std::count_if(windows.begin(), windows.end(), [](const auto& w) { return w.detected; }));
}

double Reconciliation::recall() const { return windows.empty() ? 1.0 : double(detected()) / double(windows.size()); }

double Reconciliation::false_alarms_per_thing_day() const {
  return clean_thing_days > 0 ? double(false_alarms.size()) / clean_thing_days : 0;
}

std::optional<double> Reconciliation::precision() const {
  auto all = true_alarms.size() + false_alarms.size();
  if (all == 0) return std::nullopt;
  return double(true_alarms.size()) / double(all);
}

std::map<std::string, std::pair<std::size_t, std::size_t>> Reconciliation::by_kind() const {
  std::map<std::string, std::pair<std::size_t, std::size_t>> out;
  for (const auto& w : windows) {
    auto& [detected, total] = out[w.window.kind];
    detected += w.detected;
    ++total;
  }
  return out;
}

std::map<std::string, Tally> Reconciliation::by_metric() const {
  std::map<std::string, Tally> out;
  for (const auto& w : windows)
    for (const auto& m : w.window.primary_metrics) {
      ++out[m].total;
      out[m].detected += contains(w.detected_on, m);
    }
  return out;
}

std::map<std::string, Tally> Reconciliation::side_effects() const {
  std::map<std::string, Tally> out;
  for (const auto& w : windows)
    for (const auto& m : w.window.side_effect_metrics) {
      ++out[m].total;
      out[m].detected += contains(w.side_effects_detected_on, m);
    }
  return out;
}

std::map<std::string, BehaviorTally> Reconciliation::by_behavior() const {
  std::map<std::string, BehaviorTally> out;
  for (const auto& e : events)
    if (!e.behavior.empty() && out[e.behavior].metric.empty()) out[e.behavior].metric = e.metric;
  for (auto& [name, b] : out) {
    for (const auto& w : windows)
      if (contains(w.window.primary_metrics, b.metric)) {
        ++b.windows.total;
        b.windows.detected += contains(w.detected_by, name);
      }
  }
  for (const auto& e : events)
    if (!e.behavior.empty() && e.type == "in-alarm") ++out[e.behavior].alarms;
  for (const auto& e : false_alarms)
    if (!e.behavior.empty()) ++out[e.behavior].false_alarms;
  return out;
}

std::optional<Millis> Reconciliation::time_to_detect_percentile(double p) const {
  std::vector<Millis> v;
  for (const auto& w : windows)
    if (w.time_to_detect) v.push_back(*w.time_to_detect);
  return percentile(std::move(v), p);
}

std::optional<Millis> Reconciliation::time_to_clear_percentile(double p) const {
  std::vector<Millis> v;
  for (const auto& w : windows)
    if (w.time_to_clear) v.push_back(*w.time_to_clear);
  return percentile(std::move(v), p);
}

}  // namespace fleetsim::harness
