#include "sim/aws/iot_client.hpp"

#include <algorithm>
#include <cmath>
#include <thread>

#include "sim/aws/operations.hpp"
#include "sim/aws/sigv4.hpp"

namespace fleetsim::aws {

namespace {

bool throttling(const AwsError& e) {
  static constexpr std::string_view codes[] = {"ThrottlingException", "Throttling", "TooManyRequestsException",
                                               "RequestLimitExceeded", "ThrottledException", "SlowDown"};
  return e.status == 429 || std::find(std::begin(codes), std::end(codes), e.code) != std::end(codes);
}

bool retryable(const AwsError& e) {
  if (e.status == 0) return e.code != "BadUrl" && e.code != "Credentials" && e.code != "InvalidInput";
  return throttling(e) || e.status >= 500;
}

bool skewed(const AwsError& e) {
  return e.code == "RequestTimeTooSkewed" ||
         (e.code == "InvalidSignatureException" && e.message.find("Signature expired") != std::string::npos);
}

bool expired_token(const AwsError& e) {
  return e.code == "ExpiredTokenException" || e.code == "ExpiredToken" || e.code == "RequestExpired";
}

// "Mon, 01 Jan 2024 00:00:00 GMT" → epoch ms (the Date header, for clock-skew correction).
std::optional<EpochMillis> parse_http_date(std::string_view s) {
  static constexpr std::string_view months[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                                "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
  if (s.size() < 29) return std::nullopt;
  int month = -1;
  for (int i = 0; i < 12; ++i)
    if (s.substr(8, 3) == months[i]) month = i + 1;
  if (month < 0) return std::nullopt;
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.4s-%02d-%.2sT%.8sZ", s.data() + 12, month, s.data() + 5, s.data() + 17);
  auto t = parse_rfc3339(buf);
  return t ? std::optional<EpochMillis>(*t) : std::nullopt;
}

// An error that never got an HTTP answer (or a client-side refusal).
AwsError local_error(std::string_view operation, std::string code, std::string message, int status = 0) {
  AwsError e;
  e.operation = std::string(operation);
  e.status = status;
  e.code = std::move(code);
  e.message = std::move(message);
  return e;
}

AwsError error_from(std::string_view operation, const HttpResponse& r) {
  AwsError e;
  e.operation = std::string(operation);
  e.status = r.status;
  e.request_id = r.header("x-amzn-RequestId");
  auto code = r.header("x-amzn-ErrorType");
  nlohmann::json body = nlohmann::json::parse(r.body, nullptr, false);
  if (!body.is_discarded() && body.is_object()) {
    for (auto key : {"message", "Message"})
      if (body.contains(key) && body[key].is_string()) e.message = body[key].get<std::string>();
    if (code.empty())
      for (auto key : {"code", "Code", "__type"})
        if (body.contains(key) && body[key].is_string()) code = body[key].get<std::string>();
  } else if (!r.body.empty() && e.message.empty()) {
    e.message = r.body.substr(0, 200);
  }
  // botocore: the code ends at the first ':' (header) and after the last '#' (__type).
  if (auto colon = code.find(':'); colon != std::string::npos) code.resize(colon);
  if (auto hash = code.rfind('#'); hash != std::string::npos) code.erase(0, hash + 1);
  e.code = code.empty() ? "HTTP" + std::to_string(r.status) : code;
  return e;
}

}  // namespace

std::string AwsError::describe() const {
  std::string out = operation + " failed: ";
  if (status) out += "HTTP " + std::to_string(status) + " ";
  out += code;
  if (!message.empty()) out += ": " + message;
  if (!request_id.empty()) out += " (request id " + request_id + ")";
  if (attempts > 1) out += " after " + std::to_string(attempts) + " attempts";
  return out;
}

double published_tps(std::string_view op) {
  // From the Device Defender and IoT Core quota pages (check Service Quotas for your account).
  static const std::map<std::string_view, double> table{
      {"DescribeSecurityProfile", 25}, {"ListMetricValues", 15}, {"CreateThing", 15}, {"CreateThingGroup", 25},
      {"AddThingToThingGroup", 60},    {"AttachPolicy", 15},     {"AttachThingPrincipal", 15}, {"CreatePolicy", 10},
      {"CreateKeysAndCertificate", 10}, {"DescribeEndpoint", 10}};
  auto it = table.find(op);
  return it == table.end() ? 10 : it->second;
}

IotClient::IotClient(IotClientOptions options, CredentialSource credentials)
    : options_(std::move(options)), credentials_(std::move(credentials)), http_(options_.http), rng_(options_.seed) {
  endpoint_ = options_.endpoint_url.empty() ? "https://iot." + options_.region + ".amazonaws.com" : options_.endpoint_url;
  while (!endpoint_.empty() && endpoint_.back() == '/') endpoint_.pop_back();
  if (!options_.sleep) options_.sleep = [](Millis d) { std::this_thread::sleep_for(d); };
  if (!options_.clock) options_.clock = &system_clock_;
}

IotClient::~IotClient() = default;

void IotClient::pace(std::string_view operation) {
  if (!options_.rate_limit) return;
  auto it = options_.tps.find(std::string(operation));
  double tps = it != options_.tps.end() ? it->second : published_tps(operation);
  if (tps <= 0) tps = options_.default_tps;
  auto interval = static_cast<EpochMillis>(std::ceil(1000.0 / tps));
  auto now = options_.clock->now();
  auto& next = next_allowed_[std::string(operation)];
  if (next > now) {
    options_.sleep(Millis(next - now));
    now = next;
  }
  next = now + interval;
}

AwsResult<nlohmann::json> IotClient::call(std::string_view operation, const nlohmann::json& input) {
  const auto* op = find_operation(operation);
  if (!op) return local_error(operation, "InvalidInput", "fleetsim does not know this operation");
  auto wire = serialize(*op, input);
  if (!wire) return local_error(operation, "InvalidInput", wire.error());
  auto url = parse_url(endpoint_);
  if (!url) return local_error(operation, "BadUrl", url.error());
  bool refreshed = false, corrected = false;
  AwsError last;
  for (int attempt = 1; attempt <= options_.max_attempts; ++attempt) {
    pace(operation);
    auto creds = credentials_();
    if (!creds) return local_error(operation, "Credentials", creds.error());
    SigningRequest req;
    req.method = wire->method;
    req.host = url->authority();
    req.path = (url->target == "/" ? "" : url->target) + wire->path;
    req.query = wire->query;
    req.headers = wire->headers;
    req.body = wire->body;
    sign(req, *creds, options_.region, "iot", options_.clock->now() + skew_.count());
    ++attempts_;
    HttpRequest http{req.method, (url->tls ? "https://" : "http://") + url->authority() + req.target(), req.headers,
                     req.body, options_.timeout};
    auto response = http_.send(http);
    if (auto* err = std::get_if<HttpError>(&response)) {
      static constexpr const char* kinds[] = {"ResolveError", "ConnectError", "TlsError", "Timeout", "IoError", "BadUrl"};
      last = local_error(operation, kinds[static_cast<int>(err->kind)], err->message);
    } else {
      auto& r = std::get<HttpResponse>(response);
      if (r.status >= 200 && r.status < 300) {
        if (r.body.empty()) return nlohmann::json::object();
        auto json = nlohmann::json::parse(r.body, nullptr, false);
        if (json.is_discarded() || !json.is_object()) {
          auto e = local_error(operation, "MalformedResponse",
                               "the service answered with a body that is not a JSON object: " + r.body.substr(0, 120),
                               r.status);
          e.request_id = r.header("x-amzn-RequestId");
          e.attempts = attempt;
          return e;
        }
        return json;
      }
      last = error_from(operation, r);
      if (skewed(last) && !corrected) {
        // As botocore does: learn the server's time from its Date header and sign again.
        if (auto server = parse_http_date(r.header("Date"))) {
          skew_ = Millis(*server - options_.clock->now());
          corrected = true;
          --attempt;
          continue;
        }
      }
      if (expired_token(last) && !refreshed) {
        refreshed = true;  // the credential source refreshes what has expired
        --attempt;
        continue;
      }
    }
    last.attempts = attempt;
    if (!retryable(last) || attempt == options_.max_attempts) return last;
    // Exponential backoff with full jitter.
    double cap = std::min(double(options_.max_backoff.count()), double(options_.base_backoff.count()) * std::pow(2.0, attempt - 1));
    options_.sleep(Millis(static_cast<std::int64_t>(rng_.uniform(0, cap))));
  }
  return last;
}

AwsResult<nlohmann::json> IotClient::call_all(std::string_view operation, nlohmann::json input, std::string_view list_key,
                                              std::size_t max_pages) {
  nlohmann::json all = nlohmann::json::array();
  nlohmann::json last;
  for (std::size_t page = 0; page < max_pages; ++page) {
    auto r = call(operation, input);
    if (auto* e = std::get_if<AwsError>(&r)) return *e;
    last = std::move(std::get<nlohmann::json>(r));
    if (last.contains(list_key) && last[std::string(list_key)].is_array())
      for (auto& item : last[std::string(list_key)]) all.push_back(std::move(item));
    auto token = last.find("nextToken");
    if (token == last.end() || !token->is_string() || token->get<std::string>().empty()) {
      last[std::string(list_key)] = std::move(all);
      last.erase("nextToken");
      return last;
    }
    if (input.contains("nextToken") && input["nextToken"] == *token)
      return local_error(operation, "MalformedResponse", "the service returned the same nextToken twice");
    input["nextToken"] = *token;
  }
  return local_error(operation, "TooManyPages", "stopped after " + std::to_string(max_pages) + " pages; narrow the request");
}

}  // namespace fleetsim::aws
