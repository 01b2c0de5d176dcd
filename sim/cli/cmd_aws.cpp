// The AWS control-plane commands: provision, teardown, profile, status, violations, mitigation.
#include <chrono>
#include <iostream>
#include <memory>
#include <thread>

#include "sim/aws/provision.hpp"
#include "sim/cli/aws_session.hpp"
#include "sim/cli/commands.hpp"
#include "sim/scenario/expand.hpp"
#include "sim/scenario/loader.hpp"

namespace fleetsim::cli {

namespace {

void progress_line(const aws::ProvisionProgress& p) {
  // Every 1% (or each thing of a small fleet), so a large fleet shows it is moving.
  std::size_t step = std::max<std::size_t>(1, p.things_total / 100);
  if (p.things_done % step == 0 || p.things_done == p.things_total)
    std::cerr << "\r" << p.step << ": " << p.things_done << "/" << p.things_total << std::flush;
  if (p.things_done == p.things_total) std::cerr << '\n';
}

struct ScenarioCommand {
  std::string file;
  std::string certs;
  AwsCliOptions aws;
};

}  // namespace

Command add_provision(CLI::App& app) {
  auto o = std::make_shared<ScenarioCommand>();
  auto* sub = app.add_subcommand("provision", "Create the scenario's thing groups, things, certificates, policy and "
                                              "security profile in AWS IoT (or the emulator)");
  sub->footer(
      "Idempotent and resumable: each resource is recorded in <certs>/manifest.jsonl as soon as it exists,\n"
      "and a rerun continues where the last one stopped. Keys are written 0600 as <certs>/<thing>.key.\n"
      "The policy lets each thing connect only as itself and use only its own topics, so the\n"
      "authorization-failures anomaly is a real denial. The security profile is attached to the groups.");
  sub->add_option("file", o->file, "Scenario YAML file")->required();
  sub->add_option("--certs", o->certs, "Where keys, certificates and the manifest go (default certs/<scenario>/)");
  add_aws_options(sub, o->aws);
  return {sub, [o] {
            auto [s, shard] = load_for_command("provision", o->file, "", "0/1");
            auto session = make_aws_session(o->aws);
            auto plan = provision_plan_for(s, o->certs);
            std::cerr << "provisioning " << plan.things.size() << " things in " << session.client->region() << " ("
                      << session.client->endpoint() << ")\n";
            auto out = aws::provision(*session.client, plan, {progress_line, 0});
            if (!out.ok) {
              std::cerr << "fleetsim provision: " << out.error << "\n  rerun the same command to continue; "
                        << "the manifest is " << out.manifest.string() << '\n';
              return int(exit_runtime_failure);
            }
            std::cout << "provisioned: " << out.things_created << " things created, " << out.things_skipped
                      << " already there; manifest " << out.manifest.string() << '\n';
            return int(exit_ok);
          }};
}

Command add_teardown(CLI::App& app) {
  auto o = std::make_shared<ScenarioCommand>();
  auto* sub = app.add_subcommand("teardown", "Remove exactly what provision created (from its manifest)");
  sub->add_option("file", o->file, "Scenario YAML file")->required();
  sub->add_option("--certs", o->certs, "The folder provision wrote (default certs/<scenario>/)");
  add_aws_options(sub, o->aws);
  return {sub, [o] {
            auto [s, shard] = load_for_command("teardown", o->file, "", "0/1");
            auto dir = o->certs.empty() ? std::filesystem::path("certs") / s.name : std::filesystem::path(o->certs);
            if (!std::filesystem::exists(dir / "manifest.jsonl"))
              bad_argument("teardown", "--certs", "no manifest in " + dir.string(), "nothing was provisioned from here");
            auto session = make_aws_session(o->aws);
            auto out = aws::teardown(*session.client, dir, progress_line);
            if (!out.ok) {
              std::cerr << "fleetsim teardown: " << out.error << "\n  rerun to continue\n";
              return int(exit_runtime_failure);
            }
            std::cout << "removed " << out.things_created << " things and their certificates, policies and groups\n";
            return int(exit_ok);
          }};
}

Command add_profile(CLI::App& app) {
  auto o = std::make_shared<ScenarioCommand>();
  auto action = std::make_shared<std::string>();
  auto* sub = app.add_subcommand("profile", "Create or update (apply), show or delete the scenario's security profile");
  sub->add_option("action", *action, "apply, show or delete")->required()->check(CLI::IsMember({"apply", "show", "delete"}));
  sub->add_option("file", o->file, "Scenario YAML file")->required();
  add_aws_options(sub, o->aws);
  return {sub, [o, action] {
            auto [s, shard] = load_for_command("profile", o->file, "", "0/1");
            if (!s.security_profile.present) bad_argument("profile", o->file, "the scenario has no security_profile");
            auto session = make_aws_session(o->aws);
            auto& c = *session.client;
            const auto& name = s.security_profile.name;
            if (*action == "show") {
              auto p = expect_ok(c.call("DescribeSecurityProfile", {{"securityProfileName", name}}));
              if (o->aws.output == "json") {
                std::cout << p.dump(2) << '\n';
              } else {
                std::cout << p["securityProfileName"].get<std::string>() << " version " << p["version"] << '\n';
                print_rows(p["behaviors"], {"name", "metric", "criteria.mlDetectionConfig.confidenceLevel", "suppressAlerts"}, "table");
              }
              return int(exit_ok);
            }
            if (*action == "delete") {
              expect_ok(c.call("DeleteSecurityProfile", {{"securityProfileName", name}}));
              std::cout << "deleted security profile " << name << '\n';
              return int(exit_ok);
            }
            auto input = profile_input(s.security_profile);
            auto created = c.call("CreateSecurityProfile", input);
            if (auto* e = std::get_if<aws::AwsError>(&created); e && e->code == "ResourceAlreadyExistsException") {
              // Update, guarded by the version we read: a concurrent change fails instead of being lost.
              auto current = expect_ok(c.call("DescribeSecurityProfile", {{"securityProfileName", name}}));
              input["expectedVersion"] = current["version"];
              auto updated = expect_ok(c.call("UpdateSecurityProfile", input));
              std::cout << "updated security profile " << name << " to version " << updated["version"] << '\n';
            } else {
              expect_ok(std::move(created));
              std::cout << "created security profile " << name << '\n';
            }
            return int(exit_ok);
          }};
}

Command add_status(CLI::App& app) {
  struct Opts {
    std::string profile_name;
    bool wait = false;
    std::string timeout = "30d";
    std::string interval = "5m";
    AwsCliOptions aws;
  };
  auto o = std::make_shared<Opts>();
  auto* sub = app.add_subcommand("status", "ML Detect model training per behavior (GetBehaviorModelTrainingSummaries)");
  sub->add_option("--security-profile-name", o->profile_name, "Only this profile");
  sub->add_flag("--wait", o->wait, "Wait until every model is ACTIVE (exit 1 on --timeout)");
  sub->add_option("--timeout", o->timeout, "How long --wait waits")->capture_default_str();
  sub->add_option("--interval", o->interval, "How often --wait asks")->capture_default_str();
  add_aws_options(sub, o->aws);
  return {sub, [o] {
            auto timeout = parse_duration(o->timeout);
            if (!timeout) bad_argument("status", "--timeout", timeout.error());
            auto interval = parse_duration(o->interval);
            if (!interval) bad_argument("status", "--interval", interval.error());
            auto session = make_aws_session(o->aws);
            nlohmann::json input = nlohmann::json::object();
            if (!o->profile_name.empty()) input["securityProfileName"] = o->profile_name;
            auto until = std::chrono::steady_clock::now() + *timeout;
            for (;;) {
              auto r = expect_ok(session.client->call_all("GetBehaviorModelTrainingSummaries", input, "summaries"));
              const auto& rows = r["summaries"];
              bool all_active = !rows.empty();
              for (const auto& row : rows) all_active &= row.value("modelStatus", "") == "ACTIVE";
              if (!o->wait || all_active || std::chrono::steady_clock::now() >= until) {
                print_rows(rows, {"securityProfileName", "behaviorName", "modelStatus", "datapointsCollectionPercentage",
                                  "trainingDataCollectionStartDate", "lastModelRefreshDate"},
                           o->aws.output);
                return int(o->wait && !all_active ? exit_expectations_failed : exit_ok);
              }
              std::cerr << "waiting: " << rows.size() << " models, not all ACTIVE yet\n";
              std::this_thread::sleep_for(std::min<std::chrono::steady_clock::duration>(*interval, until - std::chrono::steady_clock::now()));
            }
          }};
}

Command add_violations(CLI::App& app) {
  struct Opts {
    std::string which;
    std::string thing, profile, criteria, verification, start = "24h", end;
    bool suppressed = true;
    AwsCliOptions aws;
  };
  auto o = std::make_shared<Opts>();
  auto* sub = app.add_subcommand("violations", "Active violations, or violation events in a time range (all pages)");
  sub->add_option("which", o->which, "active or events")->required()->check(CLI::IsMember({"active", "events"}));
  sub->add_option("--thing-name", o->thing, "Only this thing");
  sub->add_option("--security-profile-name", o->profile, "Only this profile");
  sub->add_option("--behavior-criteria-type", o->criteria, "STATIC, STATISTICAL or MACHINE_LEARNING")
      ->check(CLI::IsMember({"STATIC", "STATISTICAL", "MACHINE_LEARNING"}));
  sub->add_option("--verification-state", o->verification, "TRUE_POSITIVE, BENIGN_POSITIVE, FALSE_POSITIVE or UNKNOWN");
  sub->add_option("--list-suppressed-alerts", o->suppressed, "Include violations of behaviors that suppress alerts")
      ->capture_default_str();
  sub->add_option("--start-time", o->start, "events: RFC 3339, or how long ago (e.g. 24h)")->capture_default_str();
  sub->add_option("--end-time", o->end, "events: RFC 3339 (default: now)");
  add_aws_options(sub, o->aws);
  return {sub, [o] {
            auto session = make_aws_session(o->aws);
            nlohmann::json in = {{"listSuppressedAlerts", o->suppressed}};
            if (!o->thing.empty()) in["thingName"] = o->thing;
            if (!o->profile.empty()) in["securityProfileName"] = o->profile;
            if (!o->criteria.empty()) in["behaviorCriteriaType"] = o->criteria;
            if (!o->verification.empty()) in["verificationState"] = o->verification;
            if (o->which == "active") {
              auto r = expect_ok(session.client->call_all("ListActiveViolations", in, "activeViolations"));
              print_rows(r["activeViolations"], {"thingName", "securityProfileName", "behavior.name",
                                                 "violationEventAdditionalInfo.confidenceLevel", "violationStartTime",
                                                 "verificationState"},
                         o->aws.output);
              return int(exit_ok);
            }
            auto now = SystemClock().now();
            auto instant = [&](const std::string& text, const char* option) -> EpochMillis {
              if (auto t = parse_rfc3339(text)) return *t;
              if (auto d = parse_duration(text)) return now - d->count();
              bad_argument("violations", option, "'" + text + "' is neither RFC 3339 nor a duration ago");
            };
            in["startTime"] = double(instant(o->start, "--start-time")) / 1000.0;
            in["endTime"] = double(o->end.empty() ? now : instant(o->end, "--end-time")) / 1000.0;
            auto r = expect_ok(session.client->call_all("ListViolationEvents", in, "violationEvents"));
            print_rows(r["violationEvents"], {"violationEventTime", "thingName", "behavior.name", "violationEventType",
                                              "violationEventAdditionalInfo.confidenceLevel", "metricValue.count"},
                       o->aws.output);
            return int(exit_ok);
          }};
}

Command add_mitigation(CLI::App& app) {
  struct Opts {
    std::string which, name, role_arn, group, task_id, profile, behavior, start = "24h";
    std::vector<std::string> actions;
    AwsCliOptions aws;
  };
  auto o = std::make_shared<Opts>();
  auto* sub = app.add_subcommand("mitigation", "Mitigation actions: create (quarantine group), list, start a task");
  sub->add_option("which", o->which, "create, list or start")->required()->check(CLI::IsMember({"create", "list", "start"}));
  sub->add_option("--action-name", o->name, "create: the action's name");
  sub->add_option("--role-arn", o->role_arn, "create: the role the action runs as");
  sub->add_option("--thing-group", o->group, "create: the quarantine group things are added to");
  sub->add_option("--task-id", o->task_id, "start: a task id");
  sub->add_option("--security-profile-name", o->profile, "start: the profile whose violations to mitigate");
  sub->add_option("--behavior-name", o->behavior, "start: the behavior");
  sub->add_option("--actions", o->actions, "start: action names");
  sub->add_option("--start-time", o->start, "start: violations since (RFC 3339 or a duration ago)")->capture_default_str();
  add_aws_options(sub, o->aws);
  return {sub, [o] {
            auto session = make_aws_session(o->aws);
            auto& c = *session.client;
            if (o->which == "list") {
              auto r = expect_ok(c.call_all("ListMitigationActions", nlohmann::json::object(), "actionIdentifiers"));
              print_rows(r["actionIdentifiers"], {"actionName", "actionArn", "creationDate"}, o->aws.output);
              return int(exit_ok);
            }
            if (o->which == "create") {
              if (o->name.empty() || o->role_arn.empty() || o->group.empty())
                bad_argument("mitigation", "create", "needs --action-name, --role-arn and --thing-group");
              auto r = expect_ok(c.call("CreateMitigationAction",
                                        {{"actionName", o->name}, {"roleArn", o->role_arn},
                                         {"actionParams", {{"addThingsToThingGroupParams", {{"thingGroupNames", {o->group}}}}}}}));
              std::cout << "created mitigation action " << r.value("actionArn", o->name) << '\n';
              return int(exit_ok);
            }
            if (o->task_id.empty() || o->profile.empty() || o->behavior.empty() || o->actions.empty())
              bad_argument("mitigation", "start", "needs --task-id, --security-profile-name, --behavior-name and --actions");
            auto now = SystemClock().now();
            auto since = parse_rfc3339(o->start);
            auto ago = parse_duration(o->start);
            if (!since && !ago) bad_argument("mitigation", "--start-time", "'" + o->start + "' is neither RFC 3339 nor a duration");
            double start = double(since ? *since : now - ago->count()) / 1000.0;
            auto r = expect_ok(c.call("StartDetectMitigationActionsTask",
                                      {{"taskId", o->task_id},
                                       {"target", {{"securityProfileName", o->profile}, {"behaviorName", o->behavior}}},
                                       {"actions", o->actions},
                                       {"violationEventOccurrenceRange", {{"startTime", start}, {"endTime", double(now) / 1000.0}}},
                                       {"includeSuppressedAlerts", true},
                                       {"clientRequestToken", o->task_id}}));
            std::cout << "started mitigation task " << r.value("taskId", o->task_id) << '\n';
            return int(exit_ok);
          }};
}

}  // namespace fleetsim::cli
