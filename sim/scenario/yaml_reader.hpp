#pragma once
// Typed, position-aware reading of yaml-cpp nodes. Every problem becomes a Diagnostic with file:line:col;
// reading goes on after an error so one run of `validate` reports as much as it can.
#include <cstdint>
#include <initializer_list>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <yaml-cpp/yaml.h>

#include "sim/core/error.hpp"
#include "sim/core/units.hpp"

namespace fleetsim::scenario::detail {

class Reader;

/// A YAML mapping whose keys were checked against the accepted ones.
class Map {
 public:
  struct Entry {
    std::string key;
    YAML::Node key_node;
    YAML::Node value;
  };
  /// The value of `key`, or an undefined node when absent.
  YAML::Node get(std::string_view key) const;
  bool has(std::string_view key) const { return get(key).IsDefined(); }
  /// The value of `key`; reports "missing key" when absent.
  YAML::Node require(std::string_view key) const;
  const std::vector<Entry>& entries() const { return entries_; }
  const YAML::Node& node() const { return node_; }

 private:
  friend class Reader;
  Reader* reader_ = nullptr;
  YAML::Node node_;
  std::string what_;
  std::vector<Entry> entries_;
};

class Reader {
 public:
  explicit Reader(std::string file) : file_(std::move(file)) {}

  SourceLocation at(const YAML::Node& n) const;
  void error(const YAML::Node& n, std::string message, std::string hint = {});
  void error_at(SourceLocation where, std::string message, std::string hint = {});
  void warning(const YAML::Node& n, std::string message, std::string hint = {});
  bool failed() const;
  std::vector<Diagnostic>& diagnostics() { return diagnostics_; }
  const std::string& file() const { return file_; }

  /// A mapping with exactly these accepted keys (unknown and duplicate keys are errors). `any_keys` accepts any.
  std::optional<Map> map(const YAML::Node& n, std::string_view what, std::initializer_list<std::string_view> keys);
  std::optional<Map> any_map(const YAML::Node& n, std::string_view what);
  /// A sequence's items (a single scalar is not accepted as a one-item list).
  std::optional<std::vector<YAML::Node>> list(const YAML::Node& n, std::string_view what);

  std::optional<std::string> string(const YAML::Node& n, std::string_view what);
  std::optional<bool> boolean(const YAML::Node& n, std::string_view what);
  std::optional<std::uint64_t> count(const YAML::Node& n, std::string_view what, std::uint64_t min,
                                     std::uint64_t max);
  std::optional<double> number(const YAML::Node& n, std::string_view what, double min, double max);
  /// 0.3 or 30%, within [0, max].
  std::optional<double> fraction(const YAML::Node& n, std::string_view what, double max = 1.0);
  std::optional<Millis> duration(const YAML::Node& n, std::string_view what, Millis min = Millis(0));
  std::optional<Rate> rate(const YAML::Node& n, std::string_view what);
  std::optional<std::uint64_t> size(const YAML::Node& n, std::string_view what);
  /// One of the given words; suggests the closest on a typo.
  std::optional<std::string> one_of(const YAML::Node& n, std::string_view what,
                                    std::initializer_list<std::string_view> words);

  /// A scalar's text, or an error naming what was expected.
  std::optional<std::string> scalar(const YAML::Node& n, std::string_view what, std::string_view expected);

 private:
  std::optional<Map> map_impl(const YAML::Node& n, std::string_view what,
                              const std::vector<std::string_view>* keys);
  std::string file_;
  std::vector<Diagnostic> diagnostics_;
};

/// "a mapping", "a list", "a value" — for "expected X, got Y" messages.
std::string_view node_kind(const YAML::Node& n);

}  // namespace fleetsim::scenario::detail
