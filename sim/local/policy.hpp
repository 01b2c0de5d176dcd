#pragma once
// AWS IoT policy documents: parsed and checked once (CreatePolicy), bound to one connection's policy
// variables and compiled at CONNECT, then asked per message. IAM's evaluation logic: an explicit Deny
// wins, otherwise an Allow is needed (default deny).
//
// Supported: Version "2012-10-17" (variables substituted) or "2008-10-17"/absent (no substitution, as
// IAM); Statement as an object or an array; Sid; Effect Allow|Deny; Action and NotAction (strings with
// `*`/`?`, case-insensitive: iot:Connect, iot:Publish, iot:Subscribe, iot:Receive, iot:*, iot:Publish*,
// *); Resource and NotResource (ARNs or `*`, with `*` for any run of characters and `?` for one; MQTT's
// `+` and `#` are literal characters, as AWS documents); Condition with the connection-level keys
// (iot:ClientId, iot:Connection.Thing.ThingName, .ThingTypeName, .IsAttached, .Attributes[NAME]) and the
// operators StringEquals, StringNotEquals, StringEqualsIgnoreCase, StringNotEqualsIgnoreCase, StringLike,
// StringNotLike, Bool (each also ...IfExists) and Null. Conditions are decided once per connection: every
// supported key is known at CONNECT. Other operators and ForAnyValue:/ForAllValues: are rejected by
// name; an unknown key is absent (so only ...IfExists, Null and the Not operators can be true).
//
// Variables: ${iot:ClientId}, ${iot:Connection.Thing.ThingName}, ${iot:Connection.Thing.ThingTypeName},
// ${iot:Connection.Thing.IsAttached}, ${iot:Connection.Thing.Attributes[NAME]}, and the escapes ${*},
// ${?}, ${$}. A value stands for itself (a `*` in a client id is no wildcard). A resource that names a
// variable without a value (the thing variables when the certificate is not attached to a thing named
// like the client id; any unknown variable) matches nothing, as AWS documents.
#include <array>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "sim/core/expected.hpp"
#include "sim/local/broker_hooks.hpp"

namespace fleetsim::local {

/// The data-plane actions the broker asks about.
enum class IotAction : std::uint8_t { connect, publish, subscribe, receive };
inline constexpr std::size_t iot_action_count = 4;
std::string_view to_string(IotAction a);  ///< "iot:Connect", ...

/// What one connection's policy variables resolve to.
struct ConnectionVariables {
  std::string client_id;
  /// iot:Connection.Thing.ThingName: set when the certificate is attached to the thing whose name is the
  /// client id (iot:Connection.Thing.IsAttached is then "true"); unset, the thing variables have no value.
  std::optional<std::string> thing_name;
  std::optional<std::string> thing_type_name;         ///< only with a thing that has a type
  std::map<std::string, std::string> thing_attributes;  ///< only with a thing
};

/// One condition test: `op` over `key` with any of `values` (the Condition block ANDs them).
struct PolicyCondition {
  std::string op;       ///< operator without "IfExists" ("StringEquals", "Bool", "Null", ...)
  bool if_exists = false;
  std::string key;      ///< as written (looked up case-insensitively, as IAM)
  std::vector<std::string> values;
};

struct PolicyStatement {
  bool deny = false;
  std::uint8_t actions = 0;  ///< bit i: the statement covers IotAction(i) (NotAction already applied)
  bool not_resource = false;
  std::vector<std::string> resources;  ///< as written, variables unsubstituted
  std::vector<PolicyCondition> conditions;
};

/// A parsed, checked policy document with its variables still unbound: parse once per document, bind
/// per connection. Immutable, so one instance serves every connection and thread.
class PolicyDocument {
 public:
  /// The error names what is wrong and where ("Statement[1].Effect must be \"Allow\" or \"Deny\", not ...").
  static Expected<PolicyDocument> parse(std::string_view json_text);

  const std::vector<PolicyStatement>& statements() const { return statements_; }
  bool substitutes_variables() const { return substitute_; }

 private:
  std::vector<PolicyStatement> statements_;
  bool substitute_ = true;
};

/// CreatePolicy's check: nullopt when AWS IoT would accept `json_text`, else the MalformedPolicyException
/// message. Adds AWS's size limit (2048 characters, whitespace not counted) to PolicyDocument::parse.
std::optional<std::string> check_policy_document(std::string_view json_text);

/// The AWS partition of a region: "aws", "aws-cn" (cn-*), "aws-us-gov" (us-gov-*).
std::string_view partition_of(std::string_view region);

/// One connection's policies: variables substituted, conditions decided and every resource pattern
/// compiled against the ARN prefix of its resource type, so a question costs a few string compares.
/// Immutable and thread-safe.
class CompiledPolicy final : public ConnectionPolicy {
 public:
  /// Documents that fail to parse contribute nothing (default deny), as if not attached.
  CompiledPolicy(const std::vector<std::shared_ptr<const PolicyDocument>>& documents, const ConnectionVariables& vars,
                 std::string_view region, std::string_view account_id);

  /// Whether `action` is allowed on the resource named by `name`: a client id for connect, a topic name
  /// for publish and receive, a topic filter (its `+` and `#` literal) for subscribe.
  bool allows(IotAction action, std::string_view name) const;

  /// iot:Connect on client/<the connection's client id>.
  bool may_connect() const { return allows(IotAction::connect, client_id_); }
  bool may_publish(std::string_view topic) const override { return allows(IotAction::publish, topic); }
  bool may_subscribe(std::string_view topic_filter) const override {
    return allows(IotAction::subscribe, topic_filter);
  }
  bool may_receive(std::string_view topic) const override { return allows(IotAction::receive, topic); }

  /// A pattern with `*` and `?` wildcards whose other characters are literal (from the policy or from a
  /// variable's value).
  struct Glob {
    std::string text;
    std::string wild;  ///< per character: '*', '?' or '\0' (literal)
  };
  /// The compiled resource patterns of one effect and action, matched against the resource name alone.
  struct Patterns {
    bool any = false;                      ///< some pattern is `*` after the prefix
    std::vector<std::string> exact;        ///< sorted
    std::vector<std::string> prefixes;     ///< "literal*"
    std::vector<Glob> globs;               ///< everything else
    std::vector<Patterns> unless;          ///< NotResource statements: match when their set does not
    bool empty() const { return !any && exact.empty() && prefixes.empty() && globs.empty() && unless.empty(); }
    bool matches(std::string_view name) const;
  };

 private:
  void add(const PolicyStatement& s, bool substitute, const ConnectionVariables& vars, const std::string& arn_prefix);

  std::string client_id_;
  std::array<Patterns, iot_action_count> allow_, deny_;
};

/// Matches `name` against a glob: `*` any run of characters (also none), `?` one UTF-8 character.
bool glob_matches(const CompiledPolicy::Glob& g, std::string_view name);

}  // namespace fleetsim::local
