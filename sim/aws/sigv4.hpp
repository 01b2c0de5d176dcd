#pragma once
// AWS Signature Version 4 (AWS4-HMAC-SHA256) in the Authorization header: signing for the AWS client
// and verification for the local emulator, both built on one canonicalisation.
//
// The rules are those botocore applies to every service except S3 (checked byte for byte against
// botocore in tests/data/sigv4/vectors.json):
//  * path: "" becomes "/", dot segments and duplicate slashes are removed, and the path as sent on
//    the wire (already percent-encoded once) is percent-encoded AGAIN, so `dev:1`, sent as
//    `/things/dev%3A1`, is canonicalised as `/things/dev%253A1`;
//  * query: every key and value is encoded with only A-Z a-z 0-9 - _ . ~ left as they are (space is
//    %20, never +), then sorted by encoded key, then encoded value; no query gives an empty line;
//  * headers: names lowercased, values trimmed with inner whitespace runs collapsed to one space,
//    repeated headers joined with ',' in order, sorted by name;
//  * payload: lower-case hex SHA-256 of the body (no x-amz-content-sha256 header is added).
// Everything here is pure (no clock, no I/O) and thread-safe.
#include <chrono>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "sim/aws/credentials_types.hpp"
#include "sim/aws/http.hpp"  // Headers
#include "sim/core/time.hpp"
#include "sim/core/units.hpp"

namespace fleetsim::aws {

/// Decoded query parameters in the order they are sent; a key may repeat.
using QueryParams = std::vector<std::pair<std::string, std::string>>;

/// A request to sign. `path` is what goes on the request line; `query` is decoded and is encoded
/// by query_string() for the wire and by canonical_query_string() for the signature, the same way.
struct SigningRequest {
  std::string method = "GET";
  std::string host;        ///< Host header value ("iot.eu-west-1.amazonaws.com", "localhost:4566"); used when
                           ///< `headers` has no Host
  std::string path = "/";  ///< as sent on the wire, already percent-encoded once ("/things/dev%3A1"); "" = "/"
  QueryParams query;       ///< decoded keys and values
  Headers headers;         ///< sign() adds Host (when absent), X-Amz-Date, X-Amz-Security-Token, Authorization
  std::string body;

  /// The request target to send: the path ("/" when empty), then "?" and query_string(query) if any.
  std::string target() const;
};

/// What sign() computed, for the Authorization header and for debugging a rejected request.
struct SigningResult {
  std::string canonical_request;
  std::string string_to_sign;
  std::string credential_scope;  ///< "20240101/eu-west-1/iot/aws4_request"
  std::string signed_headers;    ///< "content-type;host;x-amz-date"
  std::string signature;         ///< lower-case hex
  std::string authorization;     ///< the Authorization header value that was added
};

/// Signs `request` in place for `service` in `region` at `now`. It replaces any Authorization,
/// X-Amz-Date and X-Amz-Security-Token headers, adds Host from `request.host` when there is none,
/// adds X-Amz-Date, X-Amz-Security-Token (when the credentials have a session token) and
/// Authorization. Signed: host, content-type, every x-amz-* header and every x-amzn-* header except
/// x-amzn-trace-id (botocore's exclusion); never user-agent or any other header. An
/// x-amz-content-sha256 header, if the caller set one, is used as the payload hash (as botocore does).
/// @throws std::invalid_argument when the credentials have no key or secret, or there is no host.
SigningResult sign(SigningRequest& request, const Credentials& credentials, std::string_view region,
                   std::string_view service, EpochMillis now);

//---------------------------------------------------------------------------------------------------
// Building blocks (public for the HTTP layer, the emulator and tests)

/// Percent-encodes every byte except A-Z a-z 0-9 - _ . ~ (upper-case hex; space = %20).
std::string sigv4_encode(std::string_view bytes);
/// Decodes %XX escapes; malformed escapes and '+' are kept as they are.
std::string sigv4_decode(std::string_view text);
/// The wire query string, pairs in the given order: "maxResults=5&nextToken=a%2Fb%2Bc%3D" ("" for none).
std::string query_string(const QueryParams& query);
/// The canonical query string: encoded pairs sorted by key, then value.
std::string canonical_query_string(const QueryParams& query);
/// The canonical URI of a path as received on the wire: normalised, then encoded once more.
std::string canonical_path(std::string_view wire_path);
/// A header value with leading and trailing whitespace removed and inner runs collapsed to one space.
std::string canonical_header_value(std::string_view value);
/// Whether sign() signs a header with this (lower-case) name.
bool signs_header(std::string_view lowercase_name);

/// A request target split into its raw path (still encoded, as received) and decoded query pairs.
struct Target {
  std::string path;
  QueryParams query;
};
Target split_target(std::string_view raw_target);

/// `20240101T000000Z` (UTC, seconds truncated).
std::string amz_date(EpochMillis t);
/// Parses `YYYYMMDDTHHMMSSZ`; nullopt when malformed.
std::optional<EpochMillis> parse_amz_date(std::string_view text);
/// The raw 32-byte signing key: HMAC chain over date (YYYYMMDD), region, service and "aws4_request",
/// starting from "AWS4" + secret.
std::string signing_key(std::string_view secret_access_key, std::string_view yyyymmdd, std::string_view region,
                        std::string_view service);

//---------------------------------------------------------------------------------------------------
// Verification (the local emulator's side)

/// Why verify() rejected a request. aws_error_code() and the message mirror AWS's responses.
enum class VerifyError {
  none = 0,                      ///< the signature is valid
  missing_authentication_token,  ///< no Authorization header (MissingAuthenticationToken)
  incomplete_signature,          ///< malformed Authorization, no or malformed X-Amz-Date, host, x-amz-date or
                                 ///< x-amz-security-token not signed (IncompleteSignature)
  invalid_scope,                 ///< the credential scope names another region, service, terminator or date
                                 ///< than X-Amz-Date's (SignatureDoesNotMatch)
  signature_expired,             ///< X-Amz-Date is more than max_skew away from now (InvalidSignatureException)
  unrecognized_client,           ///< unknown access key, or a session token missing, wrong or not expected
                                 ///< (UnrecognizedClientException)
  expired_token,                 ///< the credentials' expiration has passed (ExpiredTokenException)
  signature_does_not_match,      ///< the signature (or x-amz-content-sha256) is wrong (SignatureDoesNotMatch)
};

/// The AWS error code for a rejection: "SignatureDoesNotMatch", "InvalidSignatureException", ... ("" for none).
std::string_view aws_error_code(VerifyError e);
/// The HTTP status AWS answers with: 403 for every rejection, 200 for none.
int http_status(VerifyError e);

/// The outcome of verify(): ok, or an error with AWS's message.
struct VerifyResult {
  VerifyError error = VerifyError::none;
  std::string message;            ///< AWS's message text; empty when ok
  std::string access_key_id;      ///< from the Credential scope, once parsed
  std::string canonical_request;  ///< what the server computed (set once it got that far)
  std::string string_to_sign;     ///< likewise

  bool ok() const { return error == VerifyError::none; }
  explicit operator bool() const { return ok(); }
  std::string_view code() const { return aws_error_code(error); }
};

/// Finds the credentials for an access key id; nullopt for an unknown key.
using CredentialLookup = std::function<std::optional<Credentials>(std::string_view access_key_id)>;

/// Checks the SigV4 Authorization header of a received request for `service` in `region` at `now`.
/// `raw_target` is the request line's target as received ("/things/dev%3A1?maxResults=5"): the path
/// is canonicalised as received (so encoded once more), the query decoded and re-encoded. Only the
/// headers named in SignedHeaders are checked, so unsigned extras (User-Agent, amz-sdk-*) pass; host
/// and x-amz-date must be signed, and x-amz-security-token too when the credentials have a token.
/// Only X-Amz-Date is accepted as the request date (not Date).
VerifyResult verify(std::string_view method, std::string_view raw_target, const Headers& headers,
                    std::string_view body, const CredentialLookup& lookup, std::string_view region,
                    std::string_view service, EpochMillis now, Millis max_skew = std::chrono::minutes(5));

}  // namespace fleetsim::aws
