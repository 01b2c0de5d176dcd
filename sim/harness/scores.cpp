#include "sim/harness/scores.hpp"

#include <algorithm>
#include <cmath>
#include <map>

namespace fleetsim::harness {

namespace {

// Sorts by thing then start and merges overlapping or touching ranges of one thing.
std::vector<Range> merged(std::vector<Range> in) {
  std::sort(in.begin(), in.end(), [](const Range& a, const Range& b) {
    return std::tie(a.thing, a.from, a.to) < std::tie(b.thing, b.from, b.to);
  });
  std::vector<Range> out;
  for (auto& r : in) {
    if (!out.empty() && out.back().thing == r.thing && r.from <= out.back().to)
      out.back().to = std::max(out.back().to, r.to);
    else
      out.push_back(std::move(r));
  }
  return out;
}

double overlap(const Range& a, const Range& b) {
  if (a.thing != b.thing) return 0;
  return double(std::max<EpochMillis>(0, std::min(a.to, b.to) - std::max(a.from, b.from)));
}

// Front-end bias: the share of ∫₀ᴸ (L − x) dx that the overlap [x0, x1] (offsets into the range) covers.
double front_weight(double length, double x0, double x1) {
  return (length * (x1 - x0) - (x1 * x1 - x0 * x0) / 2) / (length * length / 2);
}

}  // namespace

std::vector<Range> real_ranges(const std::vector<ledger::Window>& windows, const ReconcileOptions& o) {
  std::vector<Range> out;
  for (const auto& w : windows) {
    EpochMillis from = std::max(w.start_ms, o.run_start);
    EpochMillis to = std::min(w.end_ms.value_or(o.run_end), o.run_end) + o.grace.count();
    out.push_back({w.thing, from, std::max(to, from + 1)});
  }
  return merged(std::move(out));
}

std::vector<Range> alarm_ranges(const std::vector<ViolationEvent>& events, EpochMillis horizon) {
  std::vector<const ViolationEvent*> sorted;
  for (const auto& e : events) sorted.push_back(&e);
  std::stable_sort(sorted.begin(), sorted.end(), [](const auto* a, const auto* b) { return a->t < b->t; });
  std::map<std::pair<std::string, std::string>, EpochMillis> open;  // (thing, behavior) → in-alarm time
  std::vector<Range> out;
  for (const auto* e : sorted) {
    auto key = std::make_pair(e->thing, e->behavior);
    auto it = open.find(key);
    if (e->type == "in-alarm") {
      if (it == open.end()) open.emplace(key, e->t);
    } else if (it != open.end()) {
      out.push_back({e->thing, it->second, std::max(e->t, it->second + 1)});
      open.erase(it);
    }
  }
  for (const auto& [key, from] : open) out.push_back({key.first, from, std::max(horizon, from + 1)});
  return merged(std::move(out));
}

RangeScores range_scores(const std::vector<Range>& real, const std::vector<Range>& predicted) {
  RangeScores s;
  s.real = real.size();
  s.predicted = predicted.size();
  if (!real.empty()) {
    double sum = 0;
    for (const auto& r : real) {
      double length = double(r.to - r.from), reward = 0;
      std::size_t hits = 0;
      for (const auto& p : predicted)
        if (overlap(r, p) > 0) {
          ++hits;
          reward += front_weight(length, double(std::max(r.from, p.from) - r.from), double(std::min(r.to, p.to) - r.from));
        }
      sum += hits ? reward / double(hits) : 0;
    }
    s.recall = sum / double(real.size());
  }
  if (!predicted.empty()) {
    double sum = 0;
    for (const auto& p : predicted) {
      double covered = 0;
      std::size_t hits = 0;
      for (const auto& r : real)
        if (double o = overlap(p, r); o > 0) {
          ++hits;
          covered += o;
        }
      sum += hits ? covered / double(p.to - p.from) / double(hits) : 0;
    }
    s.precision = sum / double(predicted.size());
  }
  if (s.recall && s.precision)
    s.f1 = *s.recall + *s.precision > 0 ? 2 * *s.recall * *s.precision / (*s.recall + *s.precision) : 0.0;
  return s;
}

double nab_sigmoid(double y) { return y >= 3.0 ? -1.0 : 2.0 / (1.0 + std::exp(5.0 * y)) - 1.0; }

NabScore nab_score(const std::vector<Range>& windows, const std::vector<ViolationEvent>& events) {
  constexpr double a_tp = 1.0, a_fp = 0.11, a_fn = 1.0;
  NabScore s;
  std::map<std::string, std::vector<std::size_t>> by_thing;  // window indexes, in time order
  for (std::size_t i = 0; i < windows.size(); ++i) by_thing[windows[i].thing].push_back(i);
  std::vector<std::optional<double>> best(windows.size());
  for (const auto& e : events) {
    if (e.type != "in-alarm") continue;
    const Range* previous = nullptr;
    bool inside = false;
    for (auto i : by_thing[e.thing]) {
      const auto& w = windows[i];
      if (e.t >= w.from && e.t <= w.to) {
        double y = double(e.t - w.to) / double(w.to - w.from);
        double v = a_tp * nab_sigmoid(y) / nab_sigmoid(-1.0);
        best[i] = std::max(best[i].value_or(v), v);
        inside = true;
        break;
      }
      if (w.to < e.t) previous = &w;
    }
    if (inside) continue;
    ++s.false_positives;
    s.raw += previous ? a_fp * nab_sigmoid(double(e.t - previous->to) / double(previous->to - previous->from)) : -a_fp;
  }
  for (const auto& b : best) {
    if (b) {
      ++s.true_positives;
      s.raw += *b;
    } else {
      ++s.false_negatives;
      s.raw -= a_fn;
    }
  }
  s.null_raw = -a_fn * double(windows.size());
  s.perfect_raw = a_tp * double(windows.size());
  if (!windows.empty()) s.score = 100.0 * (s.raw - s.null_raw) / (s.perfect_raw - s.null_raw);
  return s;
}

}  // namespace fleetsim::harness
