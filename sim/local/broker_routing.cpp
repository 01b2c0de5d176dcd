// Subscriptions and delivery: which connections a PUBLISH goes to, and getting it to their threads.
#include <boost/asio/post.hpp>

#include <algorithm>

#include "sim/local/broker_internal.hpp"
#include "sim/mqtt/topic.hpp"

namespace fleetsim::local::detail {

bool SubscriptionIndex::is_wildcard(std::string_view filter) {
  return filter.find_first_of("+#") != std::string_view::npos;
}

std::vector<SubscriptionIndex::Entry>* SubscriptionIndex::bucket(const std::string& filter, bool create) {
  if (!is_wildcard(filter)) {
    if (create) return &exact_[filter];
    auto it = exact_.find(filter);
    return it == exact_.end() ? nullptr : &it->second;
  }
  auto first = first_level(filter);
  if (first == "+" || first == "#") return &wild_root_;
  if (create) return &wild_[std::string(first)];
  auto it = wild_.find(first);
  return it == wild_.end() ? nullptr : &it->second;
}

void SubscriptionIndex::add(Session* s, const std::string& filter, std::uint8_t qos) {
  std::unique_lock lock(mutex_);
  auto& entries = *bucket(filter, true);
  for (auto& e : entries)
    if (e.session == s && e.filter == filter) {
      e.qos = qos;
      return;
    }
  entries.push_back({s, filter, qos});
}

void SubscriptionIndex::remove(Session* s, const std::string& filter) {
  std::unique_lock lock(mutex_);
  auto* entries = bucket(filter, false);
  if (!entries) return;
  auto it = std::find_if(entries->begin(), entries->end(),
                         [&](const Entry& e) { return e.session == s && e.filter == filter; });
  if (it == entries->end()) return;
  *it = std::move(entries->back());
  entries->pop_back();
  if (!entries->empty() || entries == &wild_root_) return;
  // Drop empty buckets so that a fleet churning through topics does not grow the maps forever.
  if (is_wildcard(filter)) wild_.erase(std::string(first_level(filter)));
  else exact_.erase(filter);
}

void SubscriptionIndex::match(std::string_view topic, std::vector<Match>& out) const {
  out.clear();
  auto add = [&](const Entry& e) {
    for (auto& m : out)
      if (m.session.get() == e.session) {
        m.qos = std::max(m.qos, e.qos);
        return;
      }
    // Registered sessions are alive: close() removes them (exclusively) before they can go away.
    out.push_back({e.session->shared_from_this(), e.qos});
  };
  std::shared_lock lock(mutex_);
  if (auto it = exact_.find(topic); it != exact_.end())
    for (const auto& e : it->second) add(e);
  if (!wild_.empty())
    if (auto it = wild_.find(first_level(topic)); it != wild_.end())
      for (const auto& e : it->second)
        if (mqtt::topic_matches(e.filter, topic)) add(e);
  for (const auto& e : wild_root_)
    if (mqtt::topic_matches(e.filter, topic)) add(e);
}

void Shard::push(Delivery d) {
  {
    std::lock_guard lock(inbox_mutex);
    inbox.push_back(std::move(d));
    if (drain_posted) return;
    drain_posted = true;
  }
  net::post(ioc, [this] {
    thread_local std::vector<Delivery> batch;
    {
      std::lock_guard lock(inbox_mutex);
      batch.swap(inbox);
      drain_posted = false;
    }
    for (const auto& d : batch) d.session->deliver(d.message->topic(), d.message->payload(), d.qos);
    batch.clear();
  });
}

void Core::route(Shard& here, std::string_view topic, std::string_view payload, mqtt::QoS qos) {
  thread_local std::vector<SubscriptionIndex::Match> matches;
  index.match(topic, matches);
  if (matches.empty()) return;
  const auto publish_qos = static_cast<std::uint8_t>(qos);
  std::shared_ptr<Routed> copy;  // made once, for the first subscriber on another thread
  for (auto& m : matches) {
    std::uint8_t q = std::min(m.qos, publish_qos);
    Shard& there = m.session->shard();
    if (&there == &here) {
      m.session->deliver(topic, payload, q);
      continue;
    }
    if (!copy) {
      copy = std::make_shared<Routed>();
      copy->bytes.reserve(topic.size() + payload.size());
      copy->bytes.append(topic).append(payload);
      copy->topic_size = topic.size();
    }
    there.push({std::move(m.session), copy, q});
  }
  matches.clear();  // drop the references now rather than at the next publish
}

}  // namespace fleetsim::local::detail
