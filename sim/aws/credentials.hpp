#pragma once
// AWS credentials, profile and region, resolved the way the AWS CLI (botocore) resolves them.
//
// The chain, in botocore's order (`credentials.py` create_credential_resolver):
//   1. environment: AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN (or the legacy
//      AWS_SECURITY_TOKEN), optional AWS_CREDENTIAL_EXPIRATION; skipped when the profile is passed explicitly
//   2. assume-role profile (role_arn + source_profile/credential_source): detected, not supported yet (an error)
//   3. web identity: AWS_WEB_IDENTITY_TOKEN_FILE + AWS_ROLE_ARN (+ AWS_ROLE_SESSION_NAME), or the profile's
//      web_identity_token_file / role_arn / role_session_name, exchanged at STS (AssumeRoleWithWebIdentity)
//   4. SSO profile (sso_session, sso_start_url, ...): detected, not supported yet (an error)
//   5. the shared credentials file (AWS_SHARED_CREDENTIALS_FILE, default ~/.aws/credentials), section [NAME]
//   6. credential_process of the profile, run without a shell, bounded by a timeout
//   7. static keys in the config file (AWS_CONFIG_FILE, default ~/.aws/config), [profile NAME] or [default]
//   8. container endpoint: AWS_CONTAINER_CREDENTIALS_RELATIVE_URI or AWS_CONTAINER_CREDENTIALS_FULL_URI
//   9. EC2 instance metadata (IMDSv2, falling back to IMDSv1 when the token call is refused as botocore does)
// A provider that does not apply is skipped with a reason; one that applies but fails stops the chain with
// an error (as in botocore: a broken configuration is not silently replaced by another identity). When no
// provider applies, the error lists every provider and why it did not apply.
//
// Nothing here logs, and no message ever contains a secret key, session token, web identity token,
// container authorization token, or the output of a credential process.
//
// All environment access goes through `Environment` and the home directory through
// `AwsConfigOptions::home`, so tests never touch the real environment or ~/.aws.
#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "sim/aws/credentials_types.hpp"
#include "sim/aws/http.hpp"
#include "sim/core/clock.hpp"
#include "sim/core/expected.hpp"
#include "sim/core/units.hpp"

namespace fleetsim::aws {

//----------------------------------------------------------------------------------------------------------------
// Environment

/// Looks up an environment variable: its value, or nullopt when it is not set.
using Environment = std::function<std::optional<std::string>(const std::string& name)>;

/// The process environment (getenv).
Environment process_environment();
/// A fixed set of variables (tests; callers that build an environment themselves).
Environment map_environment(std::map<std::string, std::string> variables);

//----------------------------------------------------------------------------------------------------------------
// Options

/// Where the chain looks and how long it waits. The defaults are the real locations.
struct AwsConfigOptions {
  std::string profile;  ///< --profile; empty: AWS_PROFILE, AWS_DEFAULT_PROFILE, else "default"
  std::string region;   ///< --region; empty: AWS_REGION, AWS_DEFAULT_REGION, else the profile's `region`
  Environment environment = process_environment();
  /// The home directory for ~/.aws/...; empty: HOME from `environment`, else the password database.
  /// Tests set it, so that a map_environment without HOME never reaches the real ~/.aws.
  std::string home;
  /// Base for AWS_CONTAINER_CREDENTIALS_RELATIVE_URI (tests point it at a loopback server).
  std::string container_endpoint = "http://169.254.170.2";
  /// STS for web identity; empty: AWS_ENDPOINT_URL_STS, AWS_ENDPOINT_URL, else https://sts.REGION.amazonaws.com
  /// (https://sts.amazonaws.com when no region is known).
  std::string sts_endpoint;
  /// Per IMDS step (token, role name, credentials); AWS_METADATA_SERVICE_TIMEOUT or the profile's
  /// metadata_service_timeout (seconds) override it. Short, so a laptop without IMDS fails fast.
  std::chrono::milliseconds imds_timeout{1000};
  std::chrono::milliseconds container_timeout{2000};  ///< per container endpoint request (botocore: 2 s)
  std::chrono::milliseconds sts_timeout{10'000};      ///< for the STS exchange
  std::chrono::milliseconds process_timeout{60'000};  ///< credential_process is killed after this
  HttpClientOptions http;                             ///< TLS settings for STS and https container endpoints
};

//----------------------------------------------------------------------------------------------------------------
// Shared config and credentials files

/// One section of an AWS INI file. Keys are lower-cased (as configparser does); values are trimmed;
/// nested blocks (`s3 =` followed by indented `key = value` lines) are kept apart and otherwise ignored.
struct IniSection {
  std::map<std::string, std::string> values;
  std::map<std::string, std::map<std::string, std::string>> nested;
};
using IniFile = std::map<std::string, IniSection>;

/// Parses INI text as botocore does (configparser): whole-line `#` and `;` comments, `=` or `:` between key
/// and value, indented continuation lines, section names case-sensitive. Inline comments are not stripped
/// (botocore keeps them as part of the value). Errors name `file:line` but never quote the line (it could
/// be a pasted secret).
Expected<IniFile> parse_aws_ini(std::string_view text, std::string_view file);

/// The shared files, read once. A missing file is not an error; an unreadable or malformed one is.
struct SharedConfig {
  std::string config_path;       ///< "" when there is no home directory and no AWS_CONFIG_FILE
  std::string credentials_path;  ///< "" when there is no home directory and no AWS_SHARED_CREDENTIALS_FILE
  bool config_found = false;
  bool credentials_found = false;
  /// Config file profiles: `[profile NAME]` (quotes allowed) and `[default]`; other sections are ignored.
  std::map<std::string, std::map<std::string, std::string>> config_profiles;
  /// Credentials file sections: `[NAME]`.
  std::map<std::string, std::map<std::string, std::string>> credentials_profiles;

  bool has_profile(const std::string& name) const;
  /// The profile as botocore sees it: the config file's values, overridden by the credentials file's.
  std::map<std::string, std::string> profile(const std::string& name) const;
  /// Every profile name in either file, sorted.
  std::vector<std::string> profile_names() const;
};

/// Reads AWS_CONFIG_FILE / AWS_SHARED_CREDENTIALS_FILE (`~` expanded), defaulting to `home`/.aws/...
Expected<SharedConfig> load_shared_config(const Environment& environment, const std::string& home);

/// How the profile name was chosen.
enum class ProfileSource {
  parameter,            ///< --profile (explicit: also skips the environment provider)
  aws_profile,          ///< AWS_PROFILE
  aws_default_profile,  ///< AWS_DEFAULT_PROFILE
  fallback,             ///< nothing set: "default", which need not exist
};
struct ProfileChoice {
  std::string name;
  ProfileSource source = ProfileSource::fallback;
  /// A named profile (parameter or environment) must exist in one of the files.
  bool must_exist() const { return source != ProfileSource::fallback; }
};
/// --profile, else AWS_PROFILE, else AWS_DEFAULT_PROFILE, else "default" (empty values count as unset).
ProfileChoice choose_profile(std::string_view parameter, const Environment& environment);

//----------------------------------------------------------------------------------------------------------------
// Region and command lines

/// --region, AWS_REGION, AWS_DEFAULT_REGION, then the profile's `region`. No region, a named profile that
/// does not exist, or a malformed region name is an error that says what to set.
Expected<std::string> resolve_region(const AwsConfigOptions& options);

/// Splits a command line as POSIX `shlex.split` does (botocore's credential_process): whitespace separates,
/// '...' is literal, "..." allows \" and \\, a backslash outside quotes escapes the next character.
Expected<std::vector<std::string>> split_command_line(std::string_view line);

//----------------------------------------------------------------------------------------------------------------
// The chain

/// When temporary credentials are refreshed.
struct RefreshPolicy {
  /// Refresh this long before expiry; if that refresh fails, the cached credentials are still used.
  Millis advisory{std::chrono::minutes(5)};
  /// Closer than this to expiry, a failed refresh is an error (and the next call walks the chain again).
  Millis mandatory{std::chrono::minutes(1)};
  /// Inside the advisory window, at most one refresh attempt per interval (so a failing endpoint is not
  /// asked on every request, and credentials that are issued already inside the window are not refetched
  /// on every call).
  Millis retry_interval{std::chrono::seconds(30)};
};

/// Walks the chain once (no caching). `clock` judges expiry: give it wall-clock time, never a
/// time-compressed scenario clock.
Expected<Credentials> resolve_credentials(const AwsConfigOptions& options, const Clock& clock);

/// The chain with a cache: the first get() walks it; later calls return the cached credentials until
/// temporary ones come within `RefreshPolicy::advisory` of expiring, then ask the same provider again.
/// `Credentials::source` says where they came from. Thread-safe (one mutex; a refresh blocks other callers).
class CredentialProvider {
 public:
  /// `clock` (wall-clock time; nullptr: the system clock) must outlive the provider.
  explicit CredentialProvider(AwsConfigOptions options, const Clock* clock = nullptr, RefreshPolicy policy = {});
  ~CredentialProvider();
  CredentialProvider(const CredentialProvider&) = delete;
  CredentialProvider& operator=(const CredentialProvider&) = delete;

  /// Credentials valid for at least RefreshPolicy::mandatory, or an error (see the chain above).
  Expected<Credentials> get();
  /// The region for the same profile and environment (see resolve_region).
  Expected<std::string> region() const;
  /// The chosen profile name (and how it was chosen).
  ProfileChoice profile() const;
  /// How many times a provider has been asked for credentials (the first walk counts once); for tests
  /// and diagnostics.
  int fetch_count() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace fleetsim::aws
