#include "sim/mqtt/topic.hpp"

#include "sim/core/text.hpp"

namespace fleetsim::mqtt {

bool valid_topic_name(std::string_view topic) {
  if (topic.empty() || topic.size() > max_topic_length) return false;
  if (topic.find_first_of("+#") != std::string_view::npos) return false;
  return !first_invalid_utf8(topic).has_value();
}

bool valid_topic_filter(std::string_view filter) {
  if (filter.empty() || filter.size() > max_topic_length) return false;
  std::size_t begin = 0;
  for (;;) {
    const std::size_t end = filter.find('/', begin);
    const bool last = end == std::string_view::npos;
    const std::string_view level = filter.substr(begin, last ? std::string_view::npos : end - begin);
    // A wildcard is only a wildcard when it is the whole level; anything else is a typo, not a literal.
    if (level.find('+') != std::string_view::npos && level != "+") return false;
    if (level.find('#') != std::string_view::npos && (level != "#" || !last)) return false;
    if (last) break;
    begin = end + 1;
  }
  return !first_invalid_utf8(filter).has_value();
}

bool topic_matches(std::string_view filter, std::string_view topic) {
  // Spec 4.7.2: `$` topics are for the server; a leading wildcard must not catch them by accident.
  if (!topic.empty() && topic.front() == '$' && !filter.empty() && (filter.front() == '+' || filter.front() == '#'))
    return false;

  std::size_t f = 0;
  std::size_t t = 0;
  bool topic_done = false;  // every level of the topic has been matched
  for (;;) {
    const std::size_t f_end = filter.find('/', f);
    const std::string_view f_level = filter.substr(f, f_end == std::string_view::npos ? f_end : f_end - f);
    // `#` also matches the parent level, so it succeeds even when the topic has run out.
    if (f_level == "#") return true;
    if (topic_done) return false;

    const std::size_t t_end = topic.find('/', t);
    const std::string_view t_level = topic.substr(t, t_end == std::string_view::npos ? t_end : t_end - t);
    if (f_level != "+" && f_level != t_level) return false;

    if (f_end == std::string_view::npos) return t_end == std::string_view::npos;
    f = f_end + 1;
    if (t_end == std::string_view::npos)
      topic_done = true;
    else
      t = t_end + 1;
  }
}

}  // namespace fleetsim::mqtt
