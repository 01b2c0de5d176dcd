#include "sim/local/handler_support.hpp"

#include <openssl/evp.h>
#include <openssl/rand.h>

#include <algorithm>
#include <cctype>
#include <cstdio>

namespace fleetsim::local {

namespace {
constexpr std::string_view token_prefix = "fleetsim-page:";

std::string base64(std::string_view bytes) {
  std::string out(4 * ((bytes.size() + 2) / 3), '\0');
  const int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                                reinterpret_cast<const unsigned char*>(bytes.data()), static_cast<int>(bytes.size()));
  out.resize(static_cast<std::size_t>(n));
  return out;
}

std::optional<std::string> unbase64(std::string_view text) {
  if (text.empty() || text.size() % 4 != 0 ||
      text.find_first_not_of("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/=") != std::string_view::npos)
    return std::nullopt;
  std::string out(text.size() / 4 * 3, '\0');
  const int n = EVP_DecodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                                reinterpret_cast<const unsigned char*>(text.data()), static_cast<int>(text.size()));
  if (n < 0) return std::nullopt;
  std::size_t size = static_cast<std::size_t>(n);
  for (auto it = text.rbegin(); it != text.rend() && *it == '='; ++it) --size;  // EVP_DecodeBlock keeps padding
  out.resize(size);
  return out;
}
}  // namespace

double epoch_seconds(EpochMillis t) { return static_cast<double>(t) / 1000.0; }

nlohmann::json with_seconds(nlohmann::json row, std::initializer_list<const char*> members) {
  for (const char* m : members)
    if (auto it = row.find(m); it != row.end() && it->is_number()) *it = epoch_seconds(it->get<EpochMillis>());
  return row;
}

std::optional<EpochMillis> millis_of(const nlohmann::json& value) {
  if (!value.is_number()) return std::nullopt;
  return static_cast<EpochMillis>(value.get<double>() * 1000.0);
}

std::string uuid4() {
  unsigned char b[16];
  RAND_bytes(b, sizeof b);
  b[6] = static_cast<unsigned char>((b[6] & 0x0f) | 0x40);
  b[8] = static_cast<unsigned char>((b[8] & 0x3f) | 0x80);
  char out[37];
  std::snprintf(out, sizeof out, "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", b[0], b[1],
                b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11], b[12], b[13], b[14], b[15]);
  return out;
}

std::string request_id() { return uuid4(); }

std::optional<ApiError> check_name(std::string_view member, std::string_view value, std::string_view allowed,
                                   std::size_t max) {
  if (value.empty()) return validation_error(member, value, "Member must have length greater than or equal to 1");
  if (value.size() > max)
    return validation_error(member, value, "Member must have length less than or equal to " + std::to_string(max));
  for (char c : value)
    if (!std::isalnum(static_cast<unsigned char>(c)) && allowed.find(c) == std::string_view::npos)
      return validation_error(member, value,
                              "Member must satisfy regular expression pattern: [a-zA-Z0-9" + std::string(allowed) + "]+");
  return std::nullopt;
}

std::variant<PageRequest, ApiError> page_request(const nlohmann::json& input, std::string_view size_key,
                                                 std::string_view token_key, std::int64_t min, std::int64_t max) {
  PageRequest page;
  page.limit = static_cast<std::size_t>(std::min<std::int64_t>(max, 100));
  if (auto it = input.find(std::string(size_key)); it != input.end()) {
    const auto n = it->get<std::int64_t>();
    if (n < min)
      return validation_error(size_key, std::to_string(n),
                              "Member must have value greater than or equal to " + std::to_string(min));
    if (n > max)
      return validation_error(size_key, std::to_string(n),
                              "Member must have value less than or equal to " + std::to_string(max));
    page.limit = static_cast<std::size_t>(n);
  }
  if (auto it = input.find(std::string(token_key)); it != input.end() && it->is_string() && !it->get<std::string>().empty()) {
    auto decoded = unbase64(it->get<std::string>());
    if (!decoded || !decoded->starts_with(token_prefix))
      return invalid_request("The " + std::string(token_key) + " is not valid; pass the token a previous call returned");
    page.after = decoded->substr(token_prefix.size());
  }
  return page;
}

std::string page_token(std::string_view last_key) { return base64(std::string(token_prefix) + std::string(last_key)); }

nlohmann::json page_output(std::string_view list_key, nlohmann::json items, const std::optional<std::string>& token,
                           std::string_view token_key) {
  nlohmann::json out{{std::string(list_key), std::move(items)}};
  if (token) out[std::string(token_key)] = *token;
  return out;
}

std::string text(const nlohmann::json& input, std::string_view member) {
  auto it = input.find(std::string(member));
  return it != input.end() && it->is_string() ? it->get<std::string>() : std::string();
}

std::string ServiceConfig::arn(std::string_view resource) const {
  return "arn:aws:iot:" + region + ":" + account_id + ":" + std::string(resource);
}

}  // namespace fleetsim::local
