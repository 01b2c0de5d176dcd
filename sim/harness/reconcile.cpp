#include "sim/harness/reconcile.hpp"

#include <algorithm>
#include <cmath>

namespace fleetsim::harness {

namespace {

EpochMillis end_of(const ledger::Window& w, const ReconcileOptions& o) { return w.end_ms.value_or(o.run_end); }

bool primary(const ledger::Window& w, const std::string& metric) {
  return std::find(w.primary_metrics.begin(), w.primary_metrics.end(), metric) != w.primary_metrics.end();
}

// Was an alarm of (thing, behavior) active at time t: an in-alarm before t with no clear/invalidation after it?
bool active_at(const std::vector<const ViolationEvent*>& history, const std::string& behavior, EpochMillis t) {
  bool active = false;
  for (const auto* e : history) {
    if (e->t >= t) break;
    if (e->behavior != behavior) continue;
    if (e->type == "in-alarm") active = true;
    else active = false;  // alarm-cleared or alarm-invalidated
  }
  return active;
}

}  // namespace

Reconciliation reconcile(const std::vector<ledger::Window>& windows, const std::vector<ViolationEvent>& all_events,
                         const ReconcileOptions& o) {
  // Events in the run's range (plus grace), at the requested confidence, by thing in time order.
  std::map<std::string, std::vector<const ViolationEvent*>> by_thing;
  for (const auto& e : all_events) {
    if (e.t < o.run_start || e.t > o.run_end + o.grace.count()) continue;
    if (!o.confidence.empty() && !e.confidence.empty() && e.confidence != o.confidence) continue;
    by_thing[e.thing].push_back(&e);
  }
  for (auto& [thing, list] : by_thing)
    std::stable_sort(list.begin(), list.end(), [](const auto* a, const auto* b) { return a->t < b->t; });

  Reconciliation r;
  for (const auto& w : windows) {
    WindowResult res;
    res.window = w;
    EpochMillis end = end_of(w, o);
    const auto& history = by_thing[w.thing];
    for (const auto* e : history) {
      if (e->type != "in-alarm" || !primary(w, e->metric)) continue;
      if (e->t < w.start_ms) {
        if (active_at(history, e->behavior, w.start_ms) && e->t < w.start_ms) res.already_in_alarm = true;
        continue;
      }
      if (e->t > end + o.grace.count()) break;
      if (!res.detected) {
        res.detected = true;
        res.time_to_detect = Millis(e->t - w.start_ms);
      }
      if (std::find(res.detected_on.begin(), res.detected_on.end(), e->metric) == res.detected_on.end())
        res.detected_on.push_back(e->metric);
    }
    if (res.detected)
      for (const auto* e : history)
        if (e->type == "alarm-cleared" && e->t >= end && primary(w, e->metric)) {
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
      if (e->type != "in-alarm" || e->t > o.run_end) continue;
      bool explained = false;
      for (const auto& [from, to] : covered[thing]) explained |= e->t >= from && e->t <= to;
      if (!explained) r.false_alarms.push_back(*e);
    }

  // Clean observation: each thing's span minus the union of its covered intervals.
  std::vector<std::string> things = o.things;
  for (const auto& [thing, list] : covered)
    if (std::find(things.begin(), things.end(), thing) == things.end()) things.push_back(thing);
  double clean_ms = 0;
  for (const auto& thing : things) {
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

std::map<std::string, std::pair<std::size_t, std::size_t>> Reconciliation::by_kind() const {
  std::map<std::string, std::pair<std::size_t, std::size_t>> out;
  for (const auto& w : windows) {
    auto& [detected, total] = out[w.window.kind];
    detected += w.detected;
    ++total;
  }
  return out;
}

std::optional<Millis> Reconciliation::time_to_detect_percentile(double p) const {
  std::vector<Millis> ttd;
  for (const auto& w : windows)
    if (w.time_to_detect) ttd.push_back(*w.time_to_detect);
  if (ttd.empty()) return std::nullopt;
  std::sort(ttd.begin(), ttd.end());
  // Nearest rank.
  auto rank = static_cast<std::size_t>(std::ceil(std::clamp(p, 0.0, 100.0) / 100.0 * double(ttd.size())));
  return ttd[std::max<std::size_t>(rank, 1) - 1];
}

}  // namespace fleetsim::harness
