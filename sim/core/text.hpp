#pragma once
// Small text helpers: "did you mean", UTF-8 checks, joining.
#include <cstddef>
#include <optional>
#include <span>
#include <string>
#include <string_view>

namespace fleetsim {

/// Levenshtein distance, for "did you mean" suggestions.
std::size_t edit_distance(std::string_view a, std::string_view b);
/// The closest candidate if it is close enough to be a plausible typo.
std::optional<std::string> closest_match(std::string_view word, std::span<const std::string_view> candidates);
/// Offset of the first byte that is not valid UTF-8 (or is NUL), if any.
std::optional<std::size_t> first_invalid_utf8(std::string_view bytes);
/// "a, b or c"
std::string join_alternatives(std::span<const std::string_view> words, std::string_view last = " or ");

}  // namespace fleetsim
