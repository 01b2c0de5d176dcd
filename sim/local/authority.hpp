#pragma once
// Who may connect to the local broker and what they may do: the registry's certificates, things, thing
// groups and policies, evaluated like AWS IoT (sim/local/policy.hpp).
//
// Decisions are taken at CONNECT: a connection keeps the rights it was given, and a registry change
// (certificate deactivated, policy detached) applies to the connections made after it. AWS itself takes
// 6 to 8 minutes to apply policy changes and only closes connections when their certificate is revoked
// or deactivated, which the emulator leaves to the broker.
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>

#include "sim/local/broker_hooks.hpp"
#include "sim/local/policy.hpp"
#include "sim/local/store.hpp"

namespace fleetsim::local {

/// The BrokerAuthority over the emulator's registry. authorize_connect(who):
///  - no certificate, an unknown one or one that is not ACTIVE: refused with bad_credentials (CONNACK 4;
///    the certificate is the client's credential);
///  - the thing: the one whose name is the client id, when the certificate is attached to it (that is
///    iot:Connection.Thing.ThingName, and IsAttached "true"); otherwise the thing variables have no value;
///  - the policies: those attached to the certificate, plus, with a thing, those attached to its thing
///    groups and their parent groups (AWS applies thing group policies when the client id is the thing name);
///  - they must allow iot:Connect on client/<client id>, or the connection is refused with
///    not_authorized (CONNACK 5);
///  - otherwise the decision carries the compiled policy and the thing name ("" without a thing).
/// Thread-safe. Parsed documents are cached by their text, so a changed document is parsed again and an
/// unchanged one (the fleet's one shared policy) is parsed once; binding it to a connection costs
/// microseconds. Store access takes the store's lock once per CONNECT.
class RegistryAuthority final : public BrokerAuthority {
 public:
  RegistryAuthority(const Store& store, std::string region, std::string account_id);

  ConnectDecision authorize_connect(const ConnectionIdentity& who) const override;

 private:
  // The parsed document (nullptr when it does not parse: it then grants nothing).
  std::shared_ptr<const PolicyDocument> parsed(const std::string& document) const;

  const Store& store_;
  std::string region_, account_id_;
  mutable std::mutex cache_mutex_;
  mutable std::unordered_map<std::string, std::shared_ptr<const PolicyDocument>> documents_;
};

/// Every client may connect and do anything; the thing name is the client id. For tests and for a
/// broker run without a registry.
class AllowAllAuthority final : public BrokerAuthority {
 public:
  ConnectDecision authorize_connect(const ConnectionIdentity& who) const override;
};

}  // namespace fleetsim::local
