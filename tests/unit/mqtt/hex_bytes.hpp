#pragma once
// Byte vectors written as hex, as the MQTT specification prints them, for byte-for-byte tests.
#include <string>
#include <string_view>

namespace fleetsim::test {

/// "10 0d 00 04" -> the bytes; whitespace is ignored.
inline std::string bytes(std::string_view hex) {
  std::string out;
  int pending = -1;
  for (char c : hex) {
    if (c == ' ' || c == '\n') continue;
    const int v = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : c - 'A' + 10;
    if (pending < 0) {
      pending = v;
    } else {
      out.push_back(static_cast<char>(pending * 16 + v));
      pending = -1;
    }
  }
  return out;
}

/// The bytes as "10 0d 00 04", so failed comparisons print readably.
inline std::string hex(std::string_view b) {
  static constexpr char digits[] = "0123456789abcdef";
  std::string out;
  for (char c : b) {
    if (!out.empty()) out += ' ';
    out += digits[static_cast<unsigned char>(c) >> 4];
    out += digits[static_cast<unsigned char>(c) & 0xF];
  }
  return out;
}

}  // namespace fleetsim::test
