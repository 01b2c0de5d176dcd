#include "sim/local/policy.hpp"

#include <algorithm>
#include <cctype>

#include <nlohmann/json.hpp>

namespace fleetsim::local {

namespace {

using nlohmann::json;
using Glob = CompiledPolicy::Glob;
using Patterns = CompiledPolicy::Patterns;

constexpr std::array<std::string_view, iot_action_count> action_names{"iot:Connect", "iot:Publish", "iot:Subscribe",
                                                                      "iot:Receive"};
constexpr std::array<std::string_view, iot_action_count> resource_types{"client/", "topic/", "topicfilter/", "topic/"};
constexpr std::string_view condition_operators[] = {"StringEquals",           "StringNotEquals",
                                                     "StringEqualsIgnoreCase", "StringNotEqualsIgnoreCase",
                                                     "StringLike",             "StringNotLike",
                                                     "Bool",                   "Null"};
constexpr std::size_t max_document_chars = 2048;

std::string lower(std::string_view s) {
  std::string out(s);
  for (auto& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

bool iequals(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return std::tolower(static_cast<unsigned char>(x)) == std::tolower(static_cast<unsigned char>(y));
         });
}

// The bytes of the UTF-8 sequence that starts with `c` (1 for a stray continuation byte).
std::size_t utf8_length(char c) {
  const auto u = static_cast<unsigned char>(c);
  return u < 0xC0 ? 1 : u < 0xE0 ? 2 : u < 0xF0 ? 3 : 4;
}

// `*` and `?` are wildcards, everything else literal.
Glob plain_glob(std::string_view text) {
  Glob g{std::string(text), std::string(text.size(), '\0')};
  for (std::size_t i = 0; i < text.size(); ++i)
    if (text[i] == '*' || text[i] == '?') g.wild[i] = text[i];
  return g;
}

//---------------------------------------------------------------------------------------------------
// Variables

// The value of a policy variable or condition key (case-insensitive, as IAM), nullopt without one.
std::optional<std::string> lookup(std::string_view name, const ConnectionVariables& v) {
  constexpr std::string_view attributes = "iot:connection.thing.attributes[";
  if (iequals(name, "iot:ClientId")) return v.client_id;
  if (iequals(name, "iot:Connection.Thing.IsAttached")) return v.thing_name ? "true" : "false";
  if (!v.thing_name) return std::nullopt;
  if (iequals(name, "iot:Connection.Thing.ThingName")) return v.thing_name;
  if (iequals(name, "iot:Connection.Thing.ThingTypeName")) return v.thing_type_name;
  if (name.size() > attributes.size() && name.back() == ']' && iequals(name.substr(0, attributes.size()), attributes)) {
    auto it = v.thing_attributes.find(std::string(name.substr(attributes.size(), name.size() - attributes.size() - 1)));
    if (it != v.thing_attributes.end()) return it->second;
  }
  return std::nullopt;
}

// Appends `text` to `g`, its `*` and `?` as wildcards.
void append_plain(Glob& g, std::string_view text) {
  const std::size_t at = g.text.size();
  g.text.append(text);
  g.wild.append(text.size(), '\0');
  for (auto i = text.find_first_of("*?"); i != std::string_view::npos; i = text.find_first_of("*?", i + 1))
    g.wild[at + i] = text[i];
}

// `text` with its variables replaced by literal values; nullopt when one has no value.
std::optional<Glob> bind_variables(std::string_view text, bool substitute, const ConnectionVariables& v) {
  Glob g;
  g.text.reserve(text.size() + 32);
  g.wild.reserve(text.size() + 32);
  for (std::size_t i = 0; i < text.size();) {
    auto var = substitute ? text.find("${", i) : std::string_view::npos;
    const auto end = var == std::string_view::npos ? var : text.find('}', var + 2);
    if (end == std::string_view::npos) var = text.size();  // no complete variable left: the rest is literal
    append_plain(g, text.substr(i, var - i));
    if (var == text.size()) break;
    const auto name = text.substr(var + 2, end - var - 2);
    std::optional<std::string> value;
    if (name == "*" || name == "?" || name == "$") value = std::string(name);
    else value = lookup(name, v);
    if (!value) return std::nullopt;
    g.text += *value;
    g.wild.append(value->size(), '\0');
    i = end + 1;
  }
  return g;
}

bool condition_holds(const PolicyCondition& c, bool substitute, const ConnectionVariables& vars) {
  const auto value = lookup(c.key, vars);
  if (c.op == "Null") {
    const bool want_absent = std::any_of(c.values.begin(), c.values.end(), [](auto& s) { return iequals(s, "true"); });
    return want_absent == !value.has_value();
  }
  const bool negated = c.op.starts_with("StringNot");
  if (!value) return c.if_exists || negated;
  const bool ignore_case = c.op.ends_with("IgnoreCase") || c.op == "Bool";
  bool any = false;
  for (const auto& written : c.values) {
    auto bound = bind_variables(written, substitute, vars);
    if (!bound) continue;
    if (c.op == "StringLike" || c.op == "StringNotLike") any = glob_matches(*bound, *value);
    else any = ignore_case ? iequals(bound->text, *value) : bound->text == *value;
    if (any) break;
  }
  return negated ? !any : any;
}

//---------------------------------------------------------------------------------------------------
// Compiling a pattern against its resource type's ARN prefix

// The positions of `g` from which the rest of the pattern must match what follows `prefix` (an NFA run
// over the prefix). Empty: no resource of this type can match.
std::vector<std::size_t> after_prefix(const Glob& g, std::string_view prefix) {
  const std::size_t n = g.text.size();
  // The common case: the ARN prefix is spelled out before any wildcard.
  const std::size_t head = std::min(g.wild.find_first_not_of('\0'), n);
  if (g.text.compare(0, std::min(head, prefix.size()), prefix, 0, std::min(head, prefix.size())) != 0) return {};
  if (head >= prefix.size()) return {prefix.size()};
  auto close = [&](std::vector<std::size_t> s) {
    for (std::size_t k = 0; k < s.size(); ++k)  // a star may also match nothing
      if (s[k] < n && g.wild[s[k]] == '*' && std::find(s.begin(), s.end(), s[k] + 1) == s.end()) s.push_back(s[k] + 1);
    std::sort(s.begin(), s.end());
    return s;
  };
  std::vector<std::size_t> states = close({0});
  for (std::size_t c = 0; c < prefix.size() && !states.empty(); ++c) {
    std::vector<std::size_t> next;
    for (auto i : states) {
      if (i >= n) continue;
      if (g.wild[i] == '*') next.push_back(i);
      else if (g.wild[i] == '?' || g.text[i] == prefix[c]) next.push_back(i + 1);
    }
    std::sort(next.begin(), next.end());
    next.erase(std::unique(next.begin(), next.end()), next.end());
    states = close(std::move(next));
  }
  // A position a star before it reaches for free is covered by that star.
  std::vector<std::size_t> out;
  for (auto i : states)
    if (!(i > 0 && g.wild[i - 1] == '*' && std::binary_search(states.begin(), states.end(), i - 1))) out.push_back(i);
  return out;
}

// Files the rest of `g` from `from` under the cheapest test that decides it.
void add_pattern(Patterns& p, const Glob& g, std::size_t from) {
  const std::string_view text = std::string_view(g.text).substr(from), wild = std::string_view(g.wild).substr(from);
  const auto first_wild = wild.find_first_not_of('\0');
  if (first_wild == std::string_view::npos) {
    p.exact.emplace_back(text);
  } else if (first_wild + 1 == wild.size() && wild[first_wild] == '*') {
    if (first_wild == 0) p.any = true;
    else p.prefixes.emplace_back(text.substr(0, first_wild));
  } else {
    p.globs.push_back({std::string(text), std::string(wild)});
  }
}

void finish(Patterns& p) {
  std::sort(p.exact.begin(), p.exact.end());
  p.exact.erase(std::unique(p.exact.begin(), p.exact.end()), p.exact.end());
  for (auto& u : p.unless) finish(u);
}

//---------------------------------------------------------------------------------------------------
// Parsing

// A string or a non-empty array of non-empty strings at `where`.
Expected<std::vector<std::string>> strings(const json& j, const std::string& where) {
  std::vector<std::string> out;
  if (j.is_string()) {
    out.push_back(j.get<std::string>());
  } else if (j.is_array() && !j.empty()) {
    for (const auto& e : j) {
      if (!e.is_string()) return unexpected(where + " must hold strings only, not " + e.dump());
      out.push_back(e.get<std::string>());
    }
  } else {
    return unexpected(where + " must be a string or a non-empty array of strings, not " + j.dump());
  }
  for (const auto& s : out)
    if (s.empty()) return unexpected(where + " has an empty string");
  return out;
}

// The IotActions `pattern` covers (case-insensitive, `*` and `?` wildcards).
std::uint8_t action_mask(const std::string& pattern) {
  const Glob g = plain_glob(lower(pattern));
  std::uint8_t mask = 0;
  for (std::size_t i = 0; i < iot_action_count; ++i)
    if (glob_matches(g, lower(action_names[i]))) mask |= static_cast<std::uint8_t>(1u << i);
  return mask;
}

Expected<std::vector<PolicyCondition>> parse_conditions(const json& block, const std::string& where) {
  if (!block.is_object()) return unexpected(where + " must be an object of operators, not " + block.dump());
  std::vector<PolicyCondition> out;
  for (const auto& [written_op, tests] : block.items()) {
    const std::string at = where + "." + written_op;
    if (written_op.starts_with("ForAnyValue:") || written_op.starts_with("ForAllValues:"))
      return unexpected(at + ": the set operators ForAnyValue and ForAllValues are not supported by the local emulator");
    std::string op = written_op;
    const bool if_exists = op.size() > 8 && op.ends_with("IfExists");
    if (if_exists) op.resize(op.size() - 8);
    if (std::find(std::begin(condition_operators), std::end(condition_operators), op) == std::end(condition_operators) ||
        (if_exists && op == "Null"))
      return unexpected(at + ": the condition operator " + written_op +
                        " is not supported by the local emulator (supported: StringEquals, StringNotEquals, "
                        "StringEqualsIgnoreCase, StringNotEqualsIgnoreCase, StringLike, StringNotLike, Bool, each "
                        "with IfExists, and Null)");
    if (!tests.is_object() || tests.empty()) return unexpected(at + " must be a non-empty object of condition keys");
    for (const auto& [key, values] : tests.items()) {
      PolicyCondition c{op, if_exists, key, {}};
      for (const auto& v : values.is_array() ? values : json::array({values})) {
        if (v.is_string()) c.values.push_back(v.get<std::string>());
        else if (v.is_boolean() || v.is_number()) c.values.push_back(v.dump());
        else return unexpected(at + "." + key + " must be a string, a boolean, a number or an array of them");
      }
      if (c.values.empty()) return unexpected(at + "." + key + " has no values");
      out.push_back(std::move(c));
    }
  }
  return out;
}

Expected<PolicyStatement> parse_statement(const json& s, const std::string& where) {
  if (!s.is_object()) return unexpected(where + " must be an object, not " + s.dump());
  for (const auto& [key, value] : s.items()) {
    static const std::string_view known[] = {"Sid", "Effect", "Action", "NotAction", "Resource", "NotResource",
                                             "Condition"};
    if (key == "Principal" || key == "NotPrincipal")
      return unexpected(where + " has " + key + ", which AWS IoT policies do not have (the principal is the "
                        "certificate or thing group the policy is attached to)");
    if (std::find(std::begin(known), std::end(known), key) == std::end(known))
      return unexpected(where + " has an unknown element \"" + key + "\"");
  }
  PolicyStatement out;
  if (s.contains("Sid") && !s["Sid"].is_string()) return unexpected(where + ".Sid must be a string");
  if (!s.contains("Effect")) return unexpected(where + " has no Effect");
  const json& effect = s["Effect"];
  if (effect != "Allow" && effect != "Deny")
    return unexpected(where + ".Effect must be \"Allow\" or \"Deny\", not " + effect.dump());
  out.deny = effect == "Deny";

  const bool action = s.contains("Action"), not_action = s.contains("NotAction");
  if (action == not_action)
    return unexpected(where + (action ? " has both Action and NotAction" : " has no Action (or NotAction)"));
  const std::string action_key = action ? "Action" : "NotAction";
  auto actions = strings(s[action_key], where + "." + action_key);
  if (!actions) return unexpected(actions.error());
  for (const auto& a : *actions) {
    const auto colon = a.find(':');
    if (a != "*" && (colon == std::string::npos || colon == 0 || colon + 1 == a.size()))
      return unexpected(where + "." + action_key + " \"" + a + "\" is not service:action (such as iot:Publish)");
    out.actions |= action_mask(a);
  }
  if (not_action) out.actions = static_cast<std::uint8_t>(~out.actions & ((1u << iot_action_count) - 1));

  const bool resource = s.contains("Resource");
  out.not_resource = s.contains("NotResource");
  if (resource == out.not_resource)
    return unexpected(where + (resource ? " has both Resource and NotResource" : " has no Resource (or NotResource)"));
  const std::string resource_key = resource ? "Resource" : "NotResource";
  auto resources = strings(s[resource_key], where + "." + resource_key);
  if (!resources) return unexpected(resources.error());
  for (const auto& r : *resources)
    if (r != "*" && !r.starts_with("arn:"))
      return unexpected(where + "." + resource_key + " \"" + r +
                        "\" must be an ARN (arn:aws:iot:REGION:ACCOUNT:topic/NAME, topicfilter/FILTER, client/ID) or \"*\"");
  out.resources = std::move(*resources);

  if (s.contains("Condition")) {
    auto conditions = parse_conditions(s["Condition"], where + ".Condition");
    if (!conditions) return unexpected(conditions.error());
    out.conditions = std::move(*conditions);
  }
  return out;
}

}  // namespace

std::string_view to_string(IotAction a) { return action_names[static_cast<std::size_t>(a)]; }

std::string_view partition_of(std::string_view region) {
  if (region.starts_with("cn-")) return "aws-cn";
  if (region.starts_with("us-gov-")) return "aws-us-gov";
  return "aws";
}

bool glob_matches(const Glob& g, std::string_view name) {
  const std::size_t n = g.text.size();
  std::size_t p = 0, s = 0, star = std::string::npos, mark = 0;
  while (s < name.size()) {
    if (p < n && g.wild[p] == '?') {
      ++p;
      s += utf8_length(name[s]);
    } else if (p < n && g.wild[p] == '*') {
      star = p++;
      mark = s;
    } else if (p < n && g.wild[p] == '\0' && g.text[p] == name[s]) {
      ++p;
      ++s;
    } else if (star != std::string::npos) {  // let the last star take one more character
      p = star + 1;
      mark += utf8_length(name[mark]);
      s = mark;
    } else {
      return false;
    }
  }
  while (p < n && g.wild[p] == '*') ++p;
  return p == n && s == name.size();
}

Expected<PolicyDocument> PolicyDocument::parse(std::string_view json_text) {
  json doc;
  try {
    doc = json::parse(json_text);
  } catch (const json::parse_error& e) {
    std::string what = e.what();
    if (auto at = what.find("] "); at != std::string::npos) what.erase(0, at + 2);
    return unexpected("the policy document is not valid JSON: " + what);
  }
  if (!doc.is_object()) return unexpected("the policy document must be a JSON object");
  for (const auto& [key, value] : doc.items())
    if (key != "Version" && key != "Statement" && key != "Id")
      return unexpected("the policy document has an unknown element \"" + key + "\" (expected Version, Statement, Id)");
  PolicyDocument out;
  if (doc.contains("Version")) {
    const json& v = doc["Version"];
    if (v != "2012-10-17" && v != "2008-10-17")
      return unexpected("Version must be \"2012-10-17\" (or \"2008-10-17\", without policy variables), not " + v.dump());
    out.substitute_ = v == "2012-10-17";
  } else {
    out.substitute_ = false;  // IAM's default version predates policy variables
  }
  if (!doc.contains("Statement")) return unexpected("the policy document has no Statement");
  const json& st = doc["Statement"];
  if (st.is_object()) {
    auto s = parse_statement(st, "Statement");
    if (!s) return unexpected(s.error());
    out.statements_.push_back(std::move(*s));
  } else if (st.is_array()) {
    for (std::size_t i = 0; i < st.size(); ++i) {
      auto s = parse_statement(st[i], "Statement[" + std::to_string(i) + "]");
      if (!s) return unexpected(s.error());
      out.statements_.push_back(std::move(*s));
    }
  } else {
    return unexpected("Statement must be an object or an array of objects, not " + st.dump());
  }
  return out;
}

std::optional<std::string> check_policy_document(std::string_view json_text) {
  std::size_t chars = 0;
  for (char c : json_text)  // characters, not bytes: UTF-8 continuation bytes do not count
    if (c != ' ' && c != '\t' && c != '\n' && c != '\r' && (static_cast<unsigned char>(c) & 0xC0) != 0x80) ++chars;
  if (chars > max_document_chars)
    return "the policy document has " + std::to_string(chars) + " characters without whitespace; AWS IoT allows at most " +
           std::to_string(max_document_chars);
  auto parsed = PolicyDocument::parse(json_text);
  if (!parsed) return parsed.error();
  return std::nullopt;
}

//---------------------------------------------------------------------------------------------------
// CompiledPolicy

bool Patterns::matches(std::string_view name) const {
  if (any) return true;
  if (!exact.empty() && std::binary_search(exact.begin(), exact.end(), name, std::less<>{})) return true;
  for (const auto& p : prefixes)
    if (name.starts_with(p)) return true;
  for (const auto& g : globs)
    if (glob_matches(g, name)) return true;
  for (const auto& u : unless)
    if (!u.matches(name)) return true;
  return false;
}

CompiledPolicy::CompiledPolicy(const std::vector<std::shared_ptr<const PolicyDocument>>& documents,
                               const ConnectionVariables& vars, std::string_view region, std::string_view account_id)
    : client_id_(vars.client_id) {
  const std::string arn_prefix =
      "arn:" + std::string(partition_of(region)) + ":iot:" + std::string(region) + ":" + std::string(account_id) + ":";
  for (const auto& d : documents)
    if (d)
      for (const auto& s : d->statements()) add(s, d->substitutes_variables(), vars, arn_prefix);
  for (auto& p : allow_) finish(p);
  for (auto& p : deny_) finish(p);
}

void CompiledPolicy::add(const PolicyStatement& s, bool substitute, const ConnectionVariables& vars,
                         const std::string& arn_prefix) {
  if (s.actions == 0) return;
  for (const auto& c : s.conditions)
    if (!condition_holds(c, substitute, vars)) return;
  std::vector<std::optional<Glob>> bound;
  for (const auto& r : s.resources) bound.push_back(bind_variables(r, substitute, vars));
  for (std::size_t a = 0; a < iot_action_count; ++a) {
    if (!(s.actions & (1u << a))) continue;
    Patterns& target = s.deny ? deny_[a] : allow_[a];
    Patterns negated;
    Patterns& into = s.not_resource ? negated : target;
    const std::string prefix = arn_prefix + std::string(resource_types[a]);
    for (const auto& g : bound)
      if (g)  // a resource naming a variable without a value matches nothing
        for (auto from : after_prefix(*g, prefix)) add_pattern(into, *g, from);
    if (s.not_resource) target.unless.push_back(std::move(negated));
  }
}

bool CompiledPolicy::allows(IotAction action, std::string_view name) const {
  const auto a = static_cast<std::size_t>(action);
  if (!deny_[a].empty() && deny_[a].matches(name)) return false;  // an explicit Deny wins
  return allow_[a].matches(name);
}

}  // namespace fleetsim::local
