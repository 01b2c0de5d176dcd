#include "sim/aws/sigv4.hpp"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <algorithm>
#include <stdexcept>

#include "sim/core/sha256.hpp"

namespace fleetsim::aws {
namespace {

constexpr std::string_view algorithm = "AWS4-HMAC-SHA256";
constexpr std::string_view terminator = "aws4_request";
constexpr char hex_digits[] = "0123456789ABCDEF";

bool unreserved(unsigned char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '_' ||
         c == '.' || c == '~';
}

std::string encode(std::string_view bytes, bool keep_slash) {
  std::string out;
  out.reserve(bytes.size() * 3 / 2);
  for (unsigned char c : bytes) {
    if (unreserved(c) || (keep_slash && c == '/')) {
      out += static_cast<char>(c);
    } else {
      out += '%';
      out += hex_digits[c >> 4];
      out += hex_digits[c & 15];
    }
  }
  return out;
}

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

bool is_space(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f'; }

std::string_view trim(std::string_view s) {
  while (!s.empty() && is_space(s.front())) s.remove_prefix(1);
  while (!s.empty() && is_space(s.back())) s.remove_suffix(1);
  return s;
}

std::string lower(std::string_view s) {
  std::string out(s);
  for (char& c : out)
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  return out;
}

std::string upper(std::string_view s) {
  std::string out(s);
  for (char& c : out)
    if (c >= 'a' && c <= 'z') c = static_cast<char>(c - 'a' + 'A');
  return out;
}

bool iequals(std::string_view a, std::string_view b) {
  return a.size() == b.size() && lower(a) == lower(b);
}

// The first value of a header (case-insensitive name), if present.
const std::string* find_header(const Headers& headers, std::string_view name) {
  for (const auto& [k, v] : headers)
    if (iequals(trim(k), name)) return &v;
  return nullptr;
}

void erase_header(Headers& headers, std::string_view name) {
  std::erase_if(headers, [&](const auto& h) { return iequals(trim(h.first), name); });
}

std::string hex(std::string_view bytes) {
  static constexpr char digits[] = "0123456789abcdef";
  std::string out;
  out.reserve(bytes.size() * 2);
  for (unsigned char c : bytes) {
    out += digits[c >> 4];
    out += digits[c & 15];
  }
  return out;
}

std::string hmac_sha256(std::string_view key, std::string_view data) {
  unsigned char out[EVP_MAX_MD_SIZE];
  unsigned int length = 0;
  if (!HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()),
            reinterpret_cast<const unsigned char*>(data.data()), data.size(), out, &length))
    throw std::runtime_error("OpenSSL could not compute an HMAC-SHA256");
  return std::string(reinterpret_cast<const char*>(out), length);
}

// botocore's remove_dot_segments: drops "", "." and (with its parent) ".." segments, keeping a
// leading slash and, when anything is left, a trailing one.
std::string remove_dot_segments(std::string_view path) {
  if (path.empty()) return {};
  std::vector<std::string_view> kept;
  std::size_t start = 0;
  while (start <= path.size()) {
    std::size_t end = path.find('/', start);
    if (end == std::string_view::npos) end = path.size();
    std::string_view segment = path.substr(start, end - start);
    if (segment == "..") {
      if (!kept.empty()) kept.pop_back();
    } else if (!segment.empty() && segment != ".") {
      kept.push_back(segment);
    }
    start = end + 1;
  }
  std::string out = path.front() == '/' ? "/" : "";
  for (std::size_t i = 0; i < kept.size(); ++i) {
    if (i) out += '/';
    out += kept[i];
  }
  if (path.back() == '/' && !kept.empty()) out += '/';
  return out;
}

// The canonical request's header block for the given lower-case names, in the given order:
// "name:value\n" for each, repeated headers joined with ','; a missing header has an empty value.
std::string canonical_headers(const Headers& headers, const std::vector<std::string>& names) {
  std::string out;
  for (const auto& name : names) {
    out += name;
    out += ':';
    bool first = true;
    for (const auto& [k, v] : headers) {
      if (!iequals(trim(k), name)) continue;
      if (!first) out += ',';
      out += canonical_header_value(v);
      first = false;
    }
    out += '\n';
  }
  return out;
}

std::string join(const std::vector<std::string>& parts, char separator) {
  std::string out;
  for (std::size_t i = 0; i < parts.size(); ++i) {
    if (i) out += separator;
    out += parts[i];
  }
  return out;
}

std::string make_canonical_request(std::string_view method, std::string_view wire_path, const QueryParams& query,
                                   const Headers& headers, const std::vector<std::string>& signed_names,
                                   std::string_view signed_headers, std::string_view payload_hash) {
  std::string cr = upper(method);
  cr += '\n';
  cr += canonical_path(wire_path);
  cr += '\n';
  cr += canonical_query_string(query);
  cr += '\n';
  cr += canonical_headers(headers, signed_names);
  cr += '\n';
  cr += signed_headers;
  cr += '\n';
  cr += payload_hash;
  return cr;
}

std::string make_string_to_sign(std::string_view date_time, std::string_view scope,
                                std::string_view canonical_request) {
  std::string sts(algorithm);
  sts += '\n';
  sts += date_time;
  sts += '\n';
  sts += scope;
  sts += '\n';
  sts += sha256_hex(canonical_request);
  return sts;
}

std::string make_scope(std::string_view yyyymmdd, std::string_view region, std::string_view service) {
  std::string scope(yyyymmdd);
  scope += '/';
  scope += region;
  scope += '/';
  scope += service;
  scope += '/';
  scope += terminator;
  return scope;
}

std::vector<std::string> split(std::string_view s, char separator) {
  std::vector<std::string> out;
  std::size_t start = 0;
  while (true) {
    std::size_t end = s.find(separator, start);
    out.emplace_back(s.substr(start, end == std::string_view::npos ? std::string_view::npos : end - start));
    if (end == std::string_view::npos) break;
    start = end + 1;
  }
  return out;
}

// "5 min." or "90 sec.", as in AWS's "Signature expired" message.
std::string format_skew(Millis skew) {
  auto ms = skew.count();
  if (ms % 60'000 == 0) return std::to_string(ms / 60'000) + " min.";
  return std::to_string(ms / 1000) + " sec.";
}

VerifyResult reject(VerifyResult r, VerifyError e, std::string message) {
  r.error = e;
  r.message = std::move(message);
  return r;
}

const std::string signature_mismatch_message =
    "The request signature we calculated does not match the signature you provided. Check your AWS Secret "
    "Access Key and signing method. Consult the service documentation for details.";
const std::string invalid_token_message = "The security token included in the request is invalid.";

}  // namespace

//---------------------------------------------------------------------------------------------------
// Building blocks

std::string sigv4_encode(std::string_view bytes) { return encode(bytes, false); }

std::string sigv4_decode(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (std::size_t i = 0; i < text.size(); ++i) {
    int hi, lo;
    if (text[i] == '%' && i + 2 < text.size() && (hi = hex_value(text[i + 1])) >= 0 &&
        (lo = hex_value(text[i + 2])) >= 0) {
      out += static_cast<char>(hi * 16 + lo);
      i += 2;
    } else {
      out += text[i];
    }
  }
  return out;
}

std::string query_string(const QueryParams& query) {
  std::string out;
  for (const auto& [k, v] : query) {
    if (!out.empty()) out += '&';
    out += sigv4_encode(k);
    out += '=';
    out += sigv4_encode(v);
  }
  return out;
}

std::string canonical_query_string(const QueryParams& query) {
  std::vector<std::pair<std::string, std::string>> encoded;
  encoded.reserve(query.size());
  for (const auto& [k, v] : query) encoded.emplace_back(sigv4_encode(k), sigv4_encode(v));
  std::sort(encoded.begin(), encoded.end());
  std::string out;
  for (const auto& [k, v] : encoded) {
    if (!out.empty()) out += '&';
    out += k;
    out += '=';
    out += v;
  }
  return out;
}

std::string canonical_path(std::string_view wire_path) {
  if (wire_path.empty()) return "/";
  return encode(remove_dot_segments(wire_path), true);
}

std::string canonical_header_value(std::string_view value) {
  std::string out;
  std::size_t i = 0;
  while (i < value.size()) {
    while (i < value.size() && is_space(value[i])) ++i;
    std::size_t start = i;
    while (i < value.size() && !is_space(value[i])) ++i;
    if (i > start) {
      if (!out.empty()) out += ' ';
      out.append(value.substr(start, i - start));
    }
  }
  return out;
}

bool signs_header(std::string_view name) {
  return name == "host" || name == "content-type" || name.starts_with("x-amz-") ||
         (name.starts_with("x-amzn-") && name != "x-amzn-trace-id");
}

Target split_target(std::string_view raw_target) {
  Target t;
  std::size_t q = raw_target.find('?');
  t.path = std::string(raw_target.substr(0, q));
  if (q == std::string_view::npos) return t;
  for (const auto& pair : split(raw_target.substr(q + 1), '&')) {
    if (pair.empty()) continue;
    std::size_t eq = pair.find('=');
    if (eq == std::string::npos)
      t.query.emplace_back(sigv4_decode(pair), "");
    else
      t.query.emplace_back(sigv4_decode(std::string_view(pair).substr(0, eq)),
                           sigv4_decode(std::string_view(pair).substr(eq + 1)));
  }
  return t;
}

std::string amz_date(EpochMillis t) {
  EpochMillis whole_seconds = t - ((t % 1000) + 1000) % 1000;
  std::string iso = format_rfc3339(whole_seconds);  // 2024-01-01T00:00:00Z
  std::string out;
  for (char c : iso)
    if (c != '-' && c != ':') out += c;
  return out;
}

std::optional<EpochMillis> parse_amz_date(std::string_view s) {
  if (s.size() != 16 || s[8] != 'T' || s[15] != 'Z') return std::nullopt;
  for (std::size_t i : {0, 1, 2, 3, 4, 5, 6, 7, 9, 10, 11, 12, 13, 14})
    if (s[i] < '0' || s[i] > '9') return std::nullopt;
  std::string iso = std::string(s.substr(0, 4)) + "-" + std::string(s.substr(4, 2)) + "-" +
                    std::string(s.substr(6, 2)) + "T" + std::string(s.substr(9, 2)) + ":" +
                    std::string(s.substr(11, 2)) + ":" + std::string(s.substr(13, 2)) + "Z";
  auto parsed = parse_rfc3339(iso);
  // parse_rfc3339 clamps a leap second to :59; AWS dates never carry one, so treat it as malformed.
  if (!parsed || amz_date(*parsed) != s) return std::nullopt;
  return *parsed;
}

std::string signing_key(std::string_view secret_access_key, std::string_view yyyymmdd, std::string_view region,
                        std::string_view service) {
  std::string k = hmac_sha256("AWS4" + std::string(secret_access_key), yyyymmdd);
  k = hmac_sha256(k, region);
  k = hmac_sha256(k, service);
  return hmac_sha256(k, terminator);
}

std::string SigningRequest::target() const {
  std::string t = path.empty() ? "/" : path;
  if (!query.empty()) {
    t += '?';
    t += query_string(query);
  }
  return t;
}

//---------------------------------------------------------------------------------------------------
// Signing

SigningResult sign(SigningRequest& request, const Credentials& credentials, std::string_view region,
                   std::string_view service, EpochMillis now) {
  if (credentials.access_key_id.empty() || credentials.secret_access_key.empty())
    throw std::invalid_argument("SigV4: the credentials have no access key id or secret access key");

  // A retry may carry the previous attempt's signature, date and token.
  for (std::string_view name : {"authorization", "x-amz-date", "x-amz-security-token"})
    erase_header(request.headers, name);
  if (!find_header(request.headers, "host")) {
    if (request.host.empty()) throw std::invalid_argument("SigV4: the request has no host to sign");
    request.headers.insert(request.headers.begin(), {"Host", request.host});
  }
  const std::string date_time = amz_date(now);
  request.headers.emplace_back("X-Amz-Date", date_time);
  if (credentials.has_session_token()) request.headers.emplace_back("X-Amz-Security-Token", credentials.session_token);

  std::vector<std::string> names;
  for (const auto& [k, v] : request.headers) {
    std::string name = lower(trim(k));
    if (signs_header(name)) names.push_back(std::move(name));
  }
  std::sort(names.begin(), names.end());
  names.erase(std::unique(names.begin(), names.end()), names.end());

  SigningResult r;
  r.signed_headers = join(names, ';');
  const std::string* content_sha = find_header(request.headers, "x-amz-content-sha256");
  const std::string payload_hash = content_sha ? std::string(trim(*content_sha)) : sha256_hex(request.body);
  r.canonical_request = make_canonical_request(request.method, request.path, request.query, request.headers, names,
                                               r.signed_headers, payload_hash);
  const std::string yyyymmdd = date_time.substr(0, 8);
  r.credential_scope = make_scope(yyyymmdd, region, service);
  r.string_to_sign = make_string_to_sign(date_time, r.credential_scope, r.canonical_request);
  r.signature = hex(hmac_sha256(signing_key(credentials.secret_access_key, yyyymmdd, region, service),
                                r.string_to_sign));
  r.authorization = std::string(algorithm) + " Credential=" + credentials.access_key_id + "/" + r.credential_scope +
                    ", SignedHeaders=" + r.signed_headers + ", Signature=" + r.signature;
  request.headers.emplace_back("Authorization", r.authorization);
  return r;
}

//---------------------------------------------------------------------------------------------------
// Verification

std::string_view aws_error_code(VerifyError e) {
  switch (e) {
    case VerifyError::none: return "";
    case VerifyError::missing_authentication_token: return "MissingAuthenticationToken";
    case VerifyError::incomplete_signature: return "IncompleteSignature";
    case VerifyError::invalid_scope: return "SignatureDoesNotMatch";
    case VerifyError::signature_expired: return "InvalidSignatureException";
    case VerifyError::unrecognized_client: return "UnrecognizedClientException";
    case VerifyError::expired_token: return "ExpiredTokenException";
    case VerifyError::signature_does_not_match: return "SignatureDoesNotMatch";
  }
  return "";
}

int http_status(VerifyError e) { return e == VerifyError::none ? 200 : 403; }

VerifyResult verify(std::string_view method, std::string_view raw_target, const Headers& headers,
                    std::string_view body, const CredentialLookup& lookup, std::string_view region,
                    std::string_view service, EpochMillis now, Millis max_skew) {
  VerifyResult r;
  const std::string* auth_header = find_header(headers, "authorization");
  if (!auth_header) return reject(r, VerifyError::missing_authentication_token, "Missing Authentication Token");
  const std::string_view auth = trim(*auth_header);

  // "AWS4-HMAC-SHA256 Credential=…, SignedHeaders=…, Signature=…"
  std::size_t space = auth.find_first_of(" \t");
  const std::string_view algo = auth.substr(0, space);
  const std::string_view params = space == std::string_view::npos ? std::string_view{} : auth.substr(space + 1);
  std::optional<std::string> credential, signed_headers, signature;
  if (algo == algorithm) {
    for (const auto& part : split(params, ',')) {
      std::string_view p = trim(part);
      if (p.empty()) continue;
      std::size_t eq = p.find('=');
      if (eq == std::string_view::npos)
        return reject(r, VerifyError::incomplete_signature,
                      "'" + std::string(p) + "' not a valid key=value pair (missing equal-sign) in Authorization header: '" +
                          std::string(auth) + "'.");
      std::string_view key = trim(p.substr(0, eq));
      std::string value(trim(p.substr(eq + 1)));
      if (key == "Credential") credential = std::move(value);
      else if (key == "SignedHeaders") signed_headers = std::move(value);
      else if (key == "Signature") signature = std::move(value);
    }
  }
  const std::string* date_header = find_header(headers, "x-amz-date");
  if (!credential || !signature || !signed_headers || !date_header) {
    std::string message;
    if (!credential) message += "Authorization header requires 'Credential' parameter. ";
    if (!signature) message += "Authorization header requires 'Signature' parameter. ";
    if (!signed_headers) message += "Authorization header requires 'SignedHeaders' parameter. ";
    if (!date_header) message += "Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header. ";
    message += "Authorization=" + std::string(auth);
    return reject(r, VerifyError::incomplete_signature, std::move(message));
  }

  const std::string date_time(trim(*date_header));
  const std::optional<EpochMillis> request_time = parse_amz_date(date_time);
  if (!request_time)
    return reject(r, VerifyError::incomplete_signature,
                  "Date must be in ISO-8601 'basic format'. Got '" + date_time +
                      "'. See http://en.wikipedia.org/wiki/ISO_8601");

  // Credential=AKID/YYYYMMDD/region/service/aws4_request
  const std::vector<std::string> scope = split(*credential, '/');
  if (scope.size() != 5 || scope[0].empty())
    return reject(r, VerifyError::incomplete_signature,
                  "Authorization header is malformed; the Credential is mal-formed; expecting "
                  "\"<YOUR-AKID>/YYYYMMDD/REGION/SERVICE/aws4_request\".");
  r.access_key_id = scope[0];

  const std::vector<std::string> signed_names = split(*signed_headers, ';');
  auto is_signed = [&](std::string_view name) {
    return std::find(signed_names.begin(), signed_names.end(), name) != signed_names.end();
  };
  if (!is_signed("host"))
    return reject(r, VerifyError::incomplete_signature,
                  "'Host' or ':authority' must be a 'SignedHeader' in the AWS Authorization.");
  if (!is_signed("x-amz-date"))
    return reject(r, VerifyError::incomplete_signature,
                  "'X-Amz-Date' must be a 'SignedHeader' in the AWS Authorization.");

  if (scope[4] != terminator)
    return reject(r, VerifyError::invalid_scope,
                  "Credential should be scoped with a valid terminator: 'aws4_request', not '" + scope[4] + "'. ");
  if (scope[3] != service)
    return reject(r, VerifyError::invalid_scope,
                  "Credential should be scoped to correct service: '" + std::string(service) + "'. ");
  if (scope[2] != region)
    return reject(r, VerifyError::invalid_scope,
                  "Credential should be scoped to a valid region, not '" + scope[2] + "'. ");
  if (scope[1] != date_time.substr(0, 8))
    return reject(r, VerifyError::invalid_scope,
                  "Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date from HTTP: '" +
                      scope[1] + "' != '" + date_time.substr(0, 8) + "', from '" + date_time + "'.");

  const EpochMillis skew = max_skew.count();
  if (*request_time < now - skew)
    return reject(r, VerifyError::signature_expired,
                  "Signature expired: " + date_time + " is now earlier than " + amz_date(now - skew) + " (" +
                      amz_date(now) + " - " + format_skew(max_skew) + ")");
  if (*request_time > now + skew)
    return reject(r, VerifyError::signature_expired,
                  "Signature not yet current: " + date_time + " is still later than " + amz_date(now + skew) + " (" +
                      amz_date(now) + " + " + format_skew(max_skew) + ")");

  const std::optional<Credentials> credentials = lookup ? lookup(r.access_key_id) : std::nullopt;
  if (!credentials) return reject(r, VerifyError::unrecognized_client, invalid_token_message);
  const std::string* token = find_header(headers, "x-amz-security-token");
  if (credentials->has_session_token()) {
    if (!token || trim(*token) != credentials->session_token)
      return reject(r, VerifyError::unrecognized_client, invalid_token_message);
    if (!is_signed("x-amz-security-token"))
      return reject(r, VerifyError::incomplete_signature,
                    "'X-Amz-Security-Token' must be a 'SignedHeader' in the AWS Authorization.");
  } else if (token) {
    return reject(r, VerifyError::unrecognized_client, invalid_token_message);
  }
  if (credentials->expired_at(now))
    return reject(r, VerifyError::expired_token, "The security token included in the request is expired");

  const std::string body_hash = sha256_hex(body);
  std::string payload_hash = body_hash;
  if (const std::string* content_sha = find_header(headers, "x-amz-content-sha256")) {
    payload_hash = std::string(trim(*content_sha));
    if (payload_hash != body_hash)
      return reject(r, VerifyError::signature_does_not_match,
                    "The provided 'x-amz-content-sha256' header does not match what was computed.");
  }

  const Target target = split_target(raw_target);
  r.canonical_request =
      make_canonical_request(method, target.path, target.query, headers, signed_names, *signed_headers, payload_hash);
  r.string_to_sign = make_string_to_sign(date_time, make_scope(scope[1], scope[2], scope[3]), r.canonical_request);
  const std::string expected =
      hex(hmac_sha256(signing_key(credentials->secret_access_key, scope[1], scope[2], scope[3]), r.string_to_sign));
  if (expected.size() != signature->size() || CRYPTO_memcmp(expected.data(), signature->data(), expected.size()) != 0)
    return reject(r, VerifyError::signature_does_not_match, signature_mismatch_message);
  return r;
}

}  // namespace fleetsim::aws
