#pragma once
// MQTT 3.1.1 topic names, topic filters and wildcard matching (spec section 4.7).
#include <cstddef>
#include <string_view>

namespace fleetsim::mqtt {

/// The longest topic name or filter: its length travels in two bytes.
inline constexpr std::size_t max_topic_length = 65'535;

/// True if `topic` may be published to: 1 to 65,535 bytes of well-formed UTF-8, no U+0000, and no
/// wildcard characters (`+`, `#`). Topics starting with `$` are valid names (the broker decides
/// whether clients may use them).
bool valid_topic_name(std::string_view topic);

/// True if `filter` may be subscribed to: 1 to 65,535 bytes of well-formed UTF-8 without U+0000,
/// where `+` occupies a whole level and `#` occupies a whole level and is the last one.
/// Valid: `sport/+/player1`, `+`, `#`, `sport/#`, `/+`, `+/+`. Invalid: `sport+`, `sport/tennis#`,
/// `sport/#/ranking`, the empty string.
bool valid_topic_filter(std::string_view filter);

/// MQTT 3.1.1 matching of a topic name against a topic filter (spec 4.7.1 and 4.7.2):
///  - `+` matches exactly one level, which may be empty (`sport/+` matches `sport/` but not `sport`);
///  - `#` matches the parent level and any number of child levels (`sport/#` matches `sport`);
///  - a filter starting with a wildcard never matches a topic starting with `$` (`#` does not
///    match `$SYS/uptime`; `$SYS/#` does).
/// @pre `valid_topic_filter(filter)` and `valid_topic_name(topic)`; for other input the answer is
///      meaningless, though the call is still memory-safe. Validate once at SUBSCRIBE time, not per match.
bool topic_matches(std::string_view filter, std::string_view topic);

}  // namespace fleetsim::mqtt
