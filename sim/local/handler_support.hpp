#pragma once
// Helpers the API handlers share: paging with opaque tokens, AWS's name and range checks, ids and
// timestamps as AWS writes them.
#include <cstdint>
#include <initializer_list>
#include <optional>
#include <string>
#include <string_view>
#include <variant>

#include <nlohmann/json.hpp>

#include "sim/core/time.hpp"
#include "sim/local/api_error.hpp"
#include "sim/local/context.hpp"

namespace fleetsim::local {

/// Epoch seconds with the milliseconds as a fraction, as AWS's responses carry timestamps.
double epoch_seconds(EpochMillis t);
/// A row kept with instants in epoch milliseconds, with those `members` turned into AWS's epoch seconds.
nlohmann::json with_seconds(nlohmann::json row, std::initializer_list<const char*> members);
/// A timestamp member as the router hands it over (epoch seconds) in epoch milliseconds; nullopt if absent.
std::optional<EpochMillis> millis_of(const nlohmann::json& value);
/// A random UUID (version 4), as AWS uses for thing, group and action ids.
std::string uuid4();
/// A fresh request id.
std::string request_id();

/// An error when `value` is not 1–`max` characters of letters, digits and `allowed` punctuation
/// (thing, group and profile names: ":_-"; mitigation actions: "_-"; policies: "_+=,.@-").
std::optional<ApiError> check_name(std::string_view member, std::string_view value, std::string_view allowed,
                                   std::size_t max = 128);

/// One page of a List* call: at most `limit` items after the key `after` ("" = from the start).
struct PageRequest {
  std::size_t limit = 0;
  std::string after;
};
/// Reads `size_key` (range min–max, default min(max, 100)) and `token_key` from the input.
std::variant<PageRequest, ApiError> page_request(const nlohmann::json& input, std::string_view size_key = "maxResults",
                                                 std::string_view token_key = "nextToken", std::int64_t min = 1,
                                                 std::int64_t max = 250);
/// The opaque token for the page after `last_key` (base64, which also fits ListTargetsForPolicy's marker).
std::string page_token(std::string_view last_key);

inline const std::string& key_of(const std::string& k) { return k; }
template <class K, class V>
const std::string& key_of(const std::pair<const K, V>& kv) {
  return kv.first;
}

/// Walks `rows` (a sorted map or set) from the page's position, calling emit(item) for each item that
/// passes `keep` until the page is full. Returns the token of the next page, or nullopt at the end.
template <class Rows, class Keep, class Emit>
std::optional<std::string> page_through(const Rows& rows, const PageRequest& page, Keep keep, Emit emit) {
  auto it = page.after.empty() ? rows.begin() : rows.upper_bound(page.after);
  std::size_t n = 0;
  const std::string* last = nullptr;
  for (; it != rows.end(); ++it) {
    if (!keep(*it)) continue;
    if (n == page.limit) return page_token(*last);
    emit(*it);
    last = &key_of(*it);
    ++n;
  }
  return std::nullopt;
}

/// Puts `items` and, when there is one, the token under their keys in the output.
nlohmann::json page_output(std::string_view list_key, nlohmann::json items, const std::optional<std::string>& token,
                           std::string_view token_key = "nextToken");

/// A string member of the input, or "".
std::string text(const nlohmann::json& input, std::string_view member);

}  // namespace fleetsim::local
