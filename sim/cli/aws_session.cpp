#include "sim/cli/aws_session.hpp"

#include <iostream>

#include "sim/cli/commands.hpp"
#include "sim/scenario/expand.hpp"
#include "sim/core/time.hpp"

namespace fleetsim::cli {

template <class Target>
void add_options_to(Target* app, AwsCliOptions& o) {
  app->add_option("--region", o.region, "AWS region (default: AWS_REGION, AWS_DEFAULT_REGION or the profile's)");
  app->add_option("--profile", o.profile, "Named profile from ~/.aws/config and ~/.aws/credentials");
  app->add_option("--endpoint-url", o.endpoint_url, "Send requests here instead (e.g. the local emulator)");
  app->add_option("--ca-bundle", o.ca_bundle, "CA bundle to verify the endpoint's certificate");
  app->add_option("--output", o.output, "table or json")->check(CLI::IsMember({"table", "json"}))->capture_default_str();
}

void add_aws_options(CLI::App* app, AwsCliOptions& o) { add_options_to(app, o); }
void add_aws_options(CLI::Option_group* group, AwsCliOptions& o) { add_options_to(group, o); }

AwsSession make_aws_session(const AwsCliOptions& o) {
  aws::AwsConfigOptions config;
  config.profile = o.profile;
  config.region = o.region;
  config.http.ca_file = o.ca_bundle;
  AwsSession session;
  session.credentials = std::make_unique<aws::CredentialProvider>(config);
  auto region = session.credentials->region();
  if (!region) bad_argument("aws", "--region", region.error(), "pass --region or set AWS_REGION");
  // Fail early and clearly when no credentials can be found, before any request.
  if (auto c = session.credentials->get(); !c)
    throw InputError({{Diagnostic::Severity::error, {"AWS credentials", 0, 0}, c.error(),
                       "set AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, or --profile"}});
  aws::IotClientOptions client;
  client.region = *region;
  client.endpoint_url = o.endpoint_url;
  client.http.ca_file = o.ca_bundle;
  auto* provider = session.credentials.get();
  session.client = std::make_unique<aws::IotClient>(client, [provider] { return provider->get(); });
  return session;
}

void aws_failure(const aws::AwsError& e) {
  std::cerr << "fleetsim: " << e.describe() << '\n';
  std::exit(exit_runtime_failure);
}

nlohmann::json expect_ok(aws::AwsResult<nlohmann::json> r) {
  if (auto* e = std::get_if<aws::AwsError>(&r)) aws_failure(*e);
  return std::get<nlohmann::json>(std::move(r));
}

namespace {
std::string cell(const nlohmann::json& row, const std::string& column) {
  const nlohmann::json* v = &row;
  for (std::size_t start = 0; start <= column.size();) {
    auto dot = column.find('.', start);
    auto key = column.substr(start, dot - start);
    if (!v->is_object() || !v->contains(key)) return "-";
    v = &(*v)[key];
    if (dot == std::string::npos) break;
    start = dot + 1;
  }
  if (v->is_string()) return v->get<std::string>();
  if (v->is_number() && (column.find("Date") != std::string::npos || column.find("Time") != std::string::npos))
    return format_rfc3339(static_cast<EpochMillis>(v->get<double>() * 1000));
  return v->dump();
}
}  // namespace

void print_rows(const nlohmann::json& rows, const std::vector<std::string>& columns, const std::string& output) {
  if (output == "json") {
    std::cout << rows.dump(2) << '\n';
    return;
  }
  std::vector<std::vector<std::string>> table{columns};
  for (const auto& row : rows) {
    std::vector<std::string> line;
    for (const auto& c : columns) line.push_back(cell(row, c));
    table.push_back(std::move(line));
  }
  std::vector<std::size_t> width(columns.size());
  for (const auto& line : table)
    for (std::size_t i = 0; i < line.size(); ++i) width[i] = std::max(width[i], line[i].size());
  for (const auto& line : table) {
    for (std::size_t i = 0; i < line.size(); ++i)
      std::cout << line[i] << (i + 1 < line.size() ? std::string(width[i] - line[i].size() + 2, ' ') : "");
    std::cout << '\n';
  }
  if (rows.empty()) std::cout << "(none)\n";
}

nlohmann::json profile_input(const scenario::SecurityProfile& p) {
  nlohmann::json in = {{"securityProfileName", p.name}, {"behaviors", p.behaviors}};
  if (!p.description.empty()) in["securityProfileDescription"] = p.description;
  if (!p.additional_metrics_to_retain_v2.empty()) in["additionalMetricsToRetainV2"] = p.additional_metrics_to_retain_v2;
  return in;
}

aws::ProvisionPlan provision_plan_for(const scenario::Scenario& s, const std::string& certs) {
  aws::ProvisionPlan plan;
  plan.scenario = s.name;
  plan.certs_dir = certs.empty() ? std::filesystem::path("certs") / s.name : std::filesystem::path(certs);
  auto e = scenario::expand(s, {0, 1}, Millis(0), 0);
  for (const auto& t : e.things) plan.things.push_back({t.name, s.fleet[t.group].thing_group});
  for (const auto& g : s.fleet) {
    plan.publish_topics.push_back(g.topics.at(g.baseline.publish.topic));
    if (!g.baseline.receive.topic.empty()) {
      plan.subscribe_topics.push_back(g.topics.at(g.baseline.receive.topic));
      plan.command_topics.push_back(g.topics.at(g.baseline.receive.topic));
    }
    plan.device_metrics |= g.baseline.device_metrics.enabled;
  }
  if (s.security_profile.present) {
    plan.security_profile = profile_input(s.security_profile);
    plan.profile_target_groups = s.security_profile.target_groups;
  }
  return plan;
}

}  // namespace fleetsim::cli
