#include "sim/scenario/yaml_reader.hpp"

#include <algorithm>
#include <set>

#include "sim/core/text.hpp"

namespace fleetsim::scenario::detail {

namespace {
constexpr std::size_t max_diagnostics = 100;  // past this, more errors only hide the first ones
}

std::string_view node_kind(const YAML::Node& n) {
  switch (n.Type()) {
    case YAML::NodeType::Map: return "a mapping";
    case YAML::NodeType::Sequence: return "a list";
    case YAML::NodeType::Null: return "nothing";
    case YAML::NodeType::Undefined: return "nothing";
    case YAML::NodeType::Scalar: return "a value";
  }
  return "something else";
}

YAML::Node Map::get(std::string_view key) const {
  for (const auto& e : entries_)
    if (e.key == key) return e.value;
  return YAML::Node(YAML::NodeType::Undefined);
}

YAML::Node Map::require(std::string_view key) const {
  auto v = get(key);
  if (!v.IsDefined()) reader_->error(node_, "missing key '" + std::string(key) + "' in " + what_);
  return v;
}

SourceLocation Reader::at(const YAML::Node& n) const {
  SourceLocation where{file_, 0, 0};
  if (n.IsDefined()) {
    auto m = n.Mark();
    if (m.line >= 0) {
      where.line = m.line + 1;
      where.column = m.column + 1;
    }
  }
  return where;
}

void Reader::error_at(SourceLocation where, std::string message, std::string hint) {
  if (diagnostics_.size() >= max_diagnostics) return;
  diagnostics_.push_back({Diagnostic::Severity::error, std::move(where), std::move(message), std::move(hint)});
}

void Reader::error(const YAML::Node& n, std::string message, std::string hint) {
  error_at(at(n), std::move(message), std::move(hint));
}

void Reader::warning(const YAML::Node& n, std::string message, std::string hint) {
  if (diagnostics_.size() >= max_diagnostics) return;
  diagnostics_.push_back({Diagnostic::Severity::warning, at(n), std::move(message), std::move(hint)});
}

bool Reader::failed() const {
  return std::any_of(diagnostics_.begin(), diagnostics_.end(),
                     [](const Diagnostic& d) { return d.severity == Diagnostic::Severity::error; });
}

std::optional<Map> Reader::map(const YAML::Node& n, std::string_view what,
                               std::initializer_list<std::string_view> keys) {
  std::vector<std::string_view> accepted(keys);
  return map_impl(n, what, &accepted);
}

std::optional<Map> Reader::any_map(const YAML::Node& n, std::string_view what) { return map_impl(n, what, nullptr); }

std::optional<Map> Reader::map_impl(const YAML::Node& n, std::string_view what,
                                    const std::vector<std::string_view>* keys) {
  if (!n.IsMap()) {
    error(n, std::string(what) + " must be a mapping (key: value lines), not " + std::string(node_kind(n)));
    return std::nullopt;
  }
  Map m;
  m.reader_ = this;
  m.node_ = n;
  m.what_ = std::string(what);
  std::set<std::string> seen;
  for (auto it = n.begin(); it != n.end(); ++it) {
    // Copies: yaml-cpp's iterator hands out a temporary pair.
    YAML::Node key = it->first;
    YAML::Node value = it->second;
    if (!key.IsScalar()) {
      error(key, "a key in " + std::string(what) + " must be a plain word, not " + std::string(node_kind(key)));
      continue;
    }
    std::string name = key.Scalar();
    if (!seen.insert(name).second) {
      error(key, "duplicate key '" + name + "' in " + std::string(what), "keep only one");
      continue;
    }
    if (keys && std::find(keys->begin(), keys->end(), name) == keys->end()) {
      std::string hint = "accepted keys: " + join_alternatives(*keys, ", ");
      if (auto close = closest_match(name, *keys)) hint = "did you mean '" + *close + "'? " + hint;
      error(key, "unknown key '" + name + "' in " + std::string(what), hint);
      continue;
    }
    m.entries_.push_back({name, key, value});
  }
  return m;
}

std::optional<std::vector<YAML::Node>> Reader::list(const YAML::Node& n, std::string_view what) {
  if (!n.IsSequence()) {
    error(n, std::string(what) + " must be a list (lines starting with '- ', or [a, b]), not " +
                 std::string(node_kind(n)));
    return std::nullopt;
  }
  std::vector<YAML::Node> items;
  for (const auto& item : n) items.push_back(item);
  return items;
}

std::optional<std::string> Reader::scalar(const YAML::Node& n, std::string_view what, std::string_view expected) {
  if (!n.IsScalar()) {
    error(n, std::string(what) + " must be " + std::string(expected) + ", not " + std::string(node_kind(n)));
    return std::nullopt;
  }
  return n.Scalar();
}

std::optional<std::string> Reader::string(const YAML::Node& n, std::string_view what) {
  return scalar(n, what, "text");
}

std::optional<bool> Reader::boolean(const YAML::Node& n, std::string_view what) {
  auto s = scalar(n, what, "true or false");
  if (!s) return std::nullopt;
  if (*s == "true") return true;
  if (*s == "false") return false;
  error(n, std::string(what) + ": '" + *s + "' is not a boolean", "write true or false");
  return std::nullopt;
}

std::optional<std::uint64_t> Reader::count(const YAML::Node& n, std::string_view what, std::uint64_t min,
                                           std::uint64_t max) {
  auto s = scalar(n, what, "a whole number");
  if (!s) return std::nullopt;
  auto v = parse_count(*s);
  if (!v) {
    error(n, std::string(what) + ": " + v.error());
    return std::nullopt;
  }
  if (*v < min || *v > max) {
    error(n, std::string(what) + " is " + *s + ", out of range",
          "it must be between " + std::to_string(min) + " and " + std::to_string(max));
    return std::nullopt;
  }
  return *v;
}

std::optional<double> Reader::number(const YAML::Node& n, std::string_view what, double min, double max) {
  auto s = scalar(n, what, "a number");
  if (!s) return std::nullopt;
  auto v = parse_number(*s);
  if (!v) {
    error(n, std::string(what) + ": " + v.error());
    return std::nullopt;
  }
  if (*v < min || *v > max) {
    error(n, std::string(what) + " is " + *s + ", out of range",
          "it must be between " + format_number(min) + " and " + format_number(max));
    return std::nullopt;
  }
  return *v;
}

std::optional<double> Reader::fraction(const YAML::Node& n, std::string_view what, double max) {
  auto s = scalar(n, what, "a fraction such as 0.3 or 30%");
  if (!s) return std::nullopt;
  auto v = !s->empty() && s->back() == '%' ? parse_percent(*s) : parse_number(*s);
  if (!v) {
    error(n, std::string(what) + ": '" + *s + "' is not a fraction", "write e.g. 0.3 or 30%");
    return std::nullopt;
  }
  if (*v < 0 || *v > max) {
    error(n, std::string(what) + " is " + *s + ", out of range",
          "it must be between 0 and " + format_number(max * 100) + "%");
    return std::nullopt;
  }
  return *v;
}

std::optional<Millis> Reader::duration(const YAML::Node& n, std::string_view what, Millis min) {
  auto s = scalar(n, what, "a duration such as 20s or 5m");
  if (!s) return std::nullopt;
  auto v = parse_duration(*s);
  if (!v) {
    error(n, std::string(what) + ": " + v.error());
    return std::nullopt;
  }
  if (*v < min) {
    error(n, std::string(what) + " is " + *s + ", too short", "it must be at least " + format_duration(min));
    return std::nullopt;
  }
  return *v;
}

std::optional<Rate> Reader::rate(const YAML::Node& n, std::string_view what) {
  auto s = scalar(n, what, "a rate such as 12/min");
  if (!s) return std::nullopt;
  auto v = parse_rate(*s);
  if (!v) {
    error(n, std::string(what) + ": " + v.error());
    return std::nullopt;
  }
  return *v;
}

std::optional<std::uint64_t> Reader::size(const YAML::Node& n, std::string_view what) {
  auto s = scalar(n, what, "a size such as 2KiB");
  if (!s) return std::nullopt;
  auto v = parse_size(*s);
  if (!v) {
    error(n, std::string(what) + ": " + v.error());
    return std::nullopt;
  }
  return *v;
}

std::optional<std::string> Reader::one_of(const YAML::Node& n, std::string_view what,
                                          std::initializer_list<std::string_view> words) {
  std::vector<std::string_view> accepted(words);
  auto s = scalar(n, what, "one of " + join_alternatives(accepted));
  if (!s) return std::nullopt;
  if (std::find(accepted.begin(), accepted.end(), *s) != accepted.end()) return s;
  std::string hint = "write " + join_alternatives(accepted);
  if (auto close = closest_match(*s, accepted)) hint = "did you mean '" + *close + "'? " + hint;
  error(n, std::string(what) + ": '" + *s + "' is not accepted", hint);
  return std::nullopt;
}

}  // namespace fleetsim::scenario::detail
