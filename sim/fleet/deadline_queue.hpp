#pragma once
// The one timer of a worker: every thing's next deadline in a min-heap. The worker arms a single
// steady_timer for the earliest entry instead of one timer per thing (timerfd_settime was ~20% of CPU
// with a timer per device). Rescheduling pushes a new entry and bumps the thing's generation; stale
// entries are skipped when they surface (lazy deletion).
#include <chrono>
#include <cstdint>
#include <queue>
#include <vector>

namespace fleetsim::fleet {

using SteadyTime = std::chrono::steady_clock::time_point;

class DeadlineQueue {
 public:
  explicit DeadlineQueue(std::size_t slots = 0) : generation_(slots, 0), when_(slots, SteadyTime::max()) {}

  /// Sets slot `id`'s deadline, replacing any earlier one.
  void schedule(std::uint32_t id, SteadyTime when) {
    if (id >= generation_.size()) {
      generation_.resize(id + 1, 0);
      when_.resize(id + 1, SteadyTime::max());
    }
    when_[id] = when;
    heap_.push({when, id, ++generation_[id]});
  }
  /// Removes slot `id`'s deadline.
  void cancel(std::uint32_t id) {
    if (id < generation_.size()) {
      ++generation_[id];
      when_[id] = SteadyTime::max();
    }
  }
  /// The slot's current deadline (max() when none).
  SteadyTime deadline(std::uint32_t id) const { return id < when_.size() ? when_[id] : SteadyTime::max(); }

  /// The earliest live deadline, or max() when there is none.
  SteadyTime earliest() {
    drop_stale();
    return heap_.empty() ? SteadyTime::max() : heap_.top().when;
  }
  /// Pops every slot due at `now` into `due` (each once), in deadline order.
  void pop_due(SteadyTime now, std::vector<std::uint32_t>& due) {
    for (drop_stale(); !heap_.empty() && heap_.top().when <= now; drop_stale()) {
      auto id = heap_.top().id;
      heap_.pop();
      ++generation_[id];  // consumed: a later schedule() makes it live again
      when_[id] = SteadyTime::max();
      due.push_back(id);
    }
  }
  std::size_t heap_size() const { return heap_.size(); }

 private:
  struct Entry {
    SteadyTime when;
    std::uint32_t id;
    std::uint32_t generation;
    bool operator>(const Entry& o) const { return when > o.when; }
  };
  void drop_stale() {
    while (!heap_.empty() && heap_.top().generation != generation_[heap_.top().id]) heap_.pop();
  }
  std::priority_queue<Entry, std::vector<Entry>, std::greater<>> heap_;
  std::vector<std::uint32_t> generation_;
  std::vector<SteadyTime> when_;
};

}  // namespace fleetsim::fleet
