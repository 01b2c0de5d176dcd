// Test that the header file is self-contained.
#include "sim/fleet/deadline_queue.hpp"

#include <catch2/catch.hpp>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <vector>

using namespace fleetsim::fleet;
using namespace std::chrono_literals;
using Ids = std::vector<std::uint32_t>;

namespace {

const SteadyTime t0 = SteadyTime{} + 1000h;

Ids pop_due(DeadlineQueue& q, SteadyTime now) {
  Ids due;
  q.pop_due(now, due);
  return due;
}

}  // namespace

TEST_CASE("deadline queue: an empty queue has no deadline") {
  DeadlineQueue q(4);
  CHECK(q.earliest() == SteadyTime::max());
  CHECK(pop_due(q, SteadyTime::max()).empty());
  CHECK(q.deadline(0) == SteadyTime::max());
  CHECK(q.deadline(100) == SteadyTime::max());  // beyond the slots: none either
}

TEST_CASE("deadline queue: pops what is due, in deadline order, and leaves the rest") {
  DeadlineQueue q(8);
  q.schedule(3, t0 + 30ms);
  q.schedule(1, t0 + 10ms);
  q.schedule(7, t0 + 50ms);
  q.schedule(5, t0 + 20ms);
  CHECK(q.earliest() == t0 + 10ms);
  CHECK(q.deadline(3) == t0 + 30ms);

  CHECK(pop_due(q, t0 + 9ms).empty());
  CHECK(pop_due(q, t0 + 30ms) == Ids{1, 5, 3});  // a deadline equal to now is due
  CHECK(q.earliest() == t0 + 50ms);
  CHECK(q.deadline(1) == SteadyTime::max());     // popped slots have no deadline
  CHECK(q.deadline(7) == t0 + 50ms);
  CHECK(pop_due(q, t0 + 1h) == Ids{7});
  CHECK(q.earliest() == SteadyTime::max());
}

TEST_CASE("deadline queue: pop_due appends to what the caller already has") {
  DeadlineQueue q(2);
  q.schedule(0, t0);
  Ids due{42};
  q.pop_due(t0, due);
  CHECK(due == Ids{42, 0});
}

TEST_CASE("deadline queue: slots due at the same time all pop") {
  DeadlineQueue q(4);
  for (std::uint32_t id = 0; id < 4; ++id) q.schedule(id, t0 + 5ms);
  auto due = pop_due(q, t0 + 5ms);
  std::sort(due.begin(), due.end());
  CHECK(due == Ids{0, 1, 2, 3});
}

TEST_CASE("deadline queue: rescheduling replaces the earlier deadline") {
  DeadlineQueue q(4);
  SECTION("to an earlier time") {
    q.schedule(2, t0 + 100ms);
    q.schedule(2, t0 + 10ms);
    CHECK(q.deadline(2) == t0 + 10ms);
    CHECK(q.earliest() == t0 + 10ms);
    CHECK(pop_due(q, t0 + 1s) == Ids{2});  // once, not once per schedule()
    CHECK(q.earliest() == SteadyTime::max());
  }
  SECTION("to a later time: the old deadline no longer fires") {
    q.schedule(2, t0 + 10ms);
    q.schedule(2, t0 + 100ms);
    CHECK(q.earliest() == t0 + 100ms);  // the stale 10 ms entry is skipped
    CHECK(pop_due(q, t0 + 50ms).empty());
    CHECK(pop_due(q, t0 + 100ms) == Ids{2});
  }
  SECTION("it changes the order among slots") {
    q.schedule(0, t0 + 10ms);
    q.schedule(1, t0 + 20ms);
    q.schedule(0, t0 + 30ms);
    CHECK(pop_due(q, t0 + 1s) == Ids{1, 0});
  }
}

TEST_CASE("deadline queue: cancel removes the deadline") {
  DeadlineQueue q(4);
  q.schedule(0, t0 + 10ms);
  q.schedule(1, t0 + 20ms);
  q.cancel(0);
  CHECK(q.deadline(0) == SteadyTime::max());
  CHECK(q.earliest() == t0 + 20ms);
  CHECK(pop_due(q, t0 + 1s) == Ids{1});

  SECTION("a cancelled slot can be scheduled again") {
    q.schedule(0, t0 + 2s);
    CHECK(pop_due(q, t0 + 2s) == Ids{0});
  }
  SECTION("cancelling an unknown or idle slot is harmless") {
    q.cancel(3);
    q.cancel(1000);
    CHECK(q.earliest() == SteadyTime::max());
  }
}

TEST_CASE("deadline queue: each slot pops once until scheduled again") {
  DeadlineQueue q(2);
  q.schedule(1, t0);
  CHECK(pop_due(q, t0) == Ids{1});
  CHECK(pop_due(q, t0 + 1h).empty());
  q.schedule(1, t0 + 2h);
  CHECK(pop_due(q, t0 + 1h).empty());
  CHECK(pop_due(q, t0 + 2h) == Ids{1});
  CHECK(pop_due(q, t0 + 3h).empty());
}

TEST_CASE("deadline queue: stale entries from many reschedules are skipped and drained") {
  DeadlineQueue q(3);
  // Slot 0 is moved 1000 times (earlier and later); slot 1 once.
  for (int i = 0; i < 1000; ++i) q.schedule(0, t0 + std::chrono::milliseconds(i % 2 ? 5 + i : 2000 - i));
  q.schedule(1, t0 + 1500ms);
  CHECK(q.deadline(0) == t0 + 1004ms);  // the last schedule: i = 999 → 5 + 999
  CHECK(q.earliest() == t0 + 1004ms);
  CHECK(pop_due(q, t0 + 1h) == Ids{0, 1});
  CHECK(q.heap_size() == 0);  // every stale entry was dropped on the way
}

TEST_CASE("deadline queue: slots beyond the initial size grow the queue") {
  DeadlineQueue q;  // no slots yet
  q.schedule(500, t0 + 5ms);
  q.schedule(20, t0 + 1ms);
  CHECK(q.deadline(500) == t0 + 5ms);
  CHECK(q.deadline(499) == SteadyTime::max());
  CHECK(pop_due(q, t0 + 5ms) == Ids{20, 500});
}

TEST_CASE("deadline queue: a schedule after a pop within the same sweep is not lost") {
  // The worker pops due slots, runs them, and each reschedules itself; the new deadline must stand.
  DeadlineQueue q(2);
  q.schedule(0, t0 + 1ms);
  q.schedule(1, t0 + 2ms);
  auto due = pop_due(q, t0 + 2ms);
  REQUIRE(due == Ids{0, 1});
  for (auto id : due) q.schedule(id, t0 + 10ms + std::chrono::milliseconds(id));
  CHECK(q.earliest() == t0 + 10ms);
  CHECK(pop_due(q, t0 + 10ms) == Ids{0});
  CHECK(pop_due(q, t0 + 11ms) == Ids{1});
}
