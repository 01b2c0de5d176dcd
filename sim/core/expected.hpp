#pragma once
// A small stand-in for C++23 std::expected: a value or an error message.
#include <string>
#include <utility>
#include <variant>

namespace fleetsim {

/// The error half of Expected: what is wrong and, when known, what would be right.
struct Unexpected {
  std::string message;
};

template <class T>
class Expected {
 public:
  Expected(T value) : state_(std::move(value)) {}
  Expected(Unexpected error) : state_(std::move(error)) {}

  bool has_value() const { return state_.index() == 0; }
  explicit operator bool() const { return has_value(); }
  const T& value() const& { return std::get<0>(state_); }
  T& value() & { return std::get<0>(state_); }
  const T& operator*() const& { return value(); }
  const T* operator->() const { return &value(); }
  const std::string& error() const { return std::get<1>(state_).message; }

 private:
  std::variant<T, Unexpected> state_;
};

inline Unexpected unexpected(std::string message) { return Unexpected{std::move(message)}; }

}  // namespace fleetsim
