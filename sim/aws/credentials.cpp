#include "sim/aws/credentials.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <poll.h>
#include <pwd.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <charconv>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <mutex>
#include <nlohmann/json.hpp>
#include <sstream>
#include <system_error>
#include <thread>
#include <variant>

#include "sim/core/text.hpp"

extern char** environ;

namespace fleetsim::aws {

namespace {

using json = nlohmann::json;
namespace fs = std::filesystem;

std::string trim(std::string_view s) {
  auto b = s.find_first_not_of(" \t\r\n\f\v");
  if (b == std::string_view::npos) return {};
  auto e = s.find_last_not_of(" \t\r\n\f\v");
  return std::string(s.substr(b, e - b + 1));
}

std::string lower(std::string_view s) {
  std::string out(s);
  for (auto& c : out)
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  return out;
}

std::optional<std::string> non_empty(std::optional<std::string> v) {
  if (v && v->empty()) return std::nullopt;
  return v;
}

bool is_true(const std::optional<std::string>& v) { return v && lower(trim(*v)) == "true"; }

std::optional<std::string> value_of(const std::map<std::string, std::string>& m, const std::string& key) {
  auto it = m.find(key);
  if (it == m.end() || it->second.empty()) return std::nullopt;
  return it->second;
}

std::string seconds_text(std::chrono::milliseconds d) {
  std::ostringstream out;
  out << static_cast<double>(d.count()) / 1000.0 << " s";
  return out.str();
}

std::string expand_home(const std::string& path, const std::string& home) {
  if (home.empty()) return path;
  if (path == "~") return home;
  if (path.starts_with("~/")) return home + path.substr(1);
  return path;
}

// The whole file; nullopt when it does not exist; an error when it exists but cannot be read.
Expected<std::optional<std::string>> read_optional_file(const std::string& path) {
  std::error_code ec;
  auto status = fs::status(path, ec);
  if (status.type() == fs::file_type::not_found) return std::optional<std::string>{};
  if (ec) return unexpected("cannot read " + path + ": " + ec.message());
  if (fs::is_directory(status)) return unexpected("cannot read " + path + ": it is a directory");
  std::ifstream in(path, std::ios::binary);
  if (!in) return unexpected("cannot read " + path + ": " + std::generic_category().message(errno));
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  return std::optional<std::string>{std::move(text)};
}

std::string home_directory(const AwsConfigOptions& o) {
  if (!o.home.empty()) return o.home;
  if (auto h = non_empty(o.environment("HOME"))) return *h;
  long size = sysconf(_SC_GETPW_R_SIZE_MAX);
  std::vector<char> buffer(size > 0 ? static_cast<std::size_t>(size) : 16384);
  passwd pw{};
  passwd* found = nullptr;
  if (getpwuid_r(getuid(), &pw, buffer.data(), buffer.size(), &found) == 0 && found && found->pw_dir)
    return found->pw_dir;
  return {};
}

// "[profile dev]" for the config file, "[dev]" for the credentials file.
std::string config_section_label(const std::string& profile) {
  return profile == "default" ? "[default]" : "[profile " + profile + "]";
}

//----------------------------------------------------------------------------------------------------------------
// XML (STS answers): the text of the first <tag>...</tag> inside `xml`, entities decoded.

std::string xml_decode(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (s[i] != '&') {
      out += s[i];
      continue;
    }
    auto semi = s.find(';', i);
    if (semi == std::string_view::npos || semi - i > 10) {
      out += s[i];
      continue;
    }
    auto entity = s.substr(i + 1, semi - i - 1);
    std::optional<unsigned> code;
    if (entity == "amp")
      code = '&';
    else if (entity == "lt")
      code = '<';
    else if (entity == "gt")
      code = '>';
    else if (entity == "quot")
      code = '"';
    else if (entity == "apos")
      code = '\'';
    else if (entity.starts_with("#x") || entity.starts_with("#X") || entity.starts_with("#")) {
      bool hex = entity.size() > 1 && (entity[1] == 'x' || entity[1] == 'X');
      auto digits = entity.substr(hex ? 2 : 1);
      unsigned v = 0;
      auto [p, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), v, hex ? 16 : 10);
      if (ec == std::errc{} && p == digits.data() + digits.size() && !digits.empty()) code = v;
    }
    if (!code) {
      out += s[i];
      continue;
    }
    unsigned c = *code;  // as UTF-8
    if (c < 0x80) {
      out += static_cast<char>(c);
    } else if (c < 0x800) {
      out += static_cast<char>(0xC0 | (c >> 6));
      out += static_cast<char>(0x80 | (c & 0x3F));
    } else if (c < 0x10000) {
      out += static_cast<char>(0xE0 | (c >> 12));
      out += static_cast<char>(0x80 | ((c >> 6) & 0x3F));
      out += static_cast<char>(0x80 | (c & 0x3F));
    } else {
      out += static_cast<char>(0xF0 | (c >> 18));
      out += static_cast<char>(0x80 | ((c >> 12) & 0x3F));
      out += static_cast<char>(0x80 | ((c >> 6) & 0x3F));
      out += static_cast<char>(0x80 | (c & 0x3F));
    }
    i = semi;
  }
  return out;
}

// The raw content between <tag ...> and </tag>, or nullopt.
std::optional<std::string_view> xml_element(std::string_view xml, std::string_view tag) {
  std::string open = "<" + std::string(tag);
  std::size_t pos = 0;
  for (;;) {
    pos = xml.find(open, pos);
    if (pos == std::string_view::npos) return std::nullopt;
    auto after = pos + open.size();
    if (after < xml.size() &&
        (xml[after] == '>' || xml[after] == ' ' || xml[after] == '\t' || xml[after] == '\n' || xml[after] == '\r'))
      break;
    pos = after;  // a longer tag name with the same prefix
  }
  auto start = xml.find('>', pos);
  if (start == std::string_view::npos) return std::nullopt;
  if (xml[start - 1] == '/') return std::string_view{};  // <tag/>
  ++start;
  auto end = xml.find("</" + std::string(tag) + ">", start);
  if (end == std::string_view::npos) return std::nullopt;
  return xml.substr(start, end - start);
}

std::optional<std::string> xml_text(std::string_view xml, std::string_view tag) {
  auto e = xml_element(xml, tag);
  if (!e) return std::nullopt;
  return trim(xml_decode(*e));
}

//----------------------------------------------------------------------------------------------------------------
// JSON helpers for the container, IMDS and credential_process answers.

std::optional<std::string> json_string(const json& j, const char* key) {
  if (!j.is_object()) return std::nullopt;
  auto it = j.find(key);
  if (it == j.end() || !it->is_string()) return std::nullopt;
  auto s = it->get<std::string>();
  if (s.empty()) return std::nullopt;
  return s;
}

//----------------------------------------------------------------------------------------------------------------
// Running credential_process: no shell, stdin from /dev/null, stdout and stderr captured, a deadline.

struct ProcessOutcome {
  std::string spawn_error;  ///< non-empty when it could not be started
  bool timed_out = false;
  int exit_status = -1;  ///< when it exited
  int signal = 0;        ///< when a signal killed it
  std::string out, err;
};

ProcessOutcome run_command(const std::vector<std::string>& argv, std::chrono::milliseconds timeout) {
  constexpr std::size_t max_out = 1 << 20, max_err = 64 << 10;
  ProcessOutcome r;
  int out_pipe[2], err_pipe[2];
  if (pipe2(out_pipe, O_CLOEXEC) != 0) {
    r.spawn_error = std::generic_category().message(errno);
    return r;
  }
  if (pipe2(err_pipe, O_CLOEXEC) != 0) {
    r.spawn_error = std::generic_category().message(errno);
    close(out_pipe[0]);
    close(out_pipe[1]);
    return r;
  }
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_adddup2(&actions, out_pipe[1], 1);
  posix_spawn_file_actions_adddup2(&actions, err_pipe[1], 2);
  posix_spawnattr_t attr;
  posix_spawnattr_init(&attr);
  // Its own process group, so a timeout kills whatever it started too; default SIGPIPE and an empty mask,
  // whatever this program set for itself.
  posix_spawnattr_setpgroup(&attr, 0);
  sigset_t defaults, mask;
  sigemptyset(&defaults);
  sigaddset(&defaults, SIGPIPE);
  sigemptyset(&mask);
  posix_spawnattr_setsigdefault(&attr, &defaults);
  posix_spawnattr_setsigmask(&attr, &mask);
  posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETSIGMASK);
  std::vector<char*> args;
  for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  pid_t pid = -1;
  int rc = posix_spawnp(&pid, args[0], &actions, &attr, args.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  posix_spawnattr_destroy(&attr);
  close(out_pipe[1]);
  close(err_pipe[1]);
  if (rc != 0) {
    close(out_pipe[0]);
    close(err_pipe[0]);
    r.spawn_error = std::generic_category().message(rc);
    return r;
  }

  auto until = std::chrono::steady_clock::now() + timeout;
  pollfd fds[2] = {{out_pipe[0], POLLIN, 0}, {err_pipe[0], POLLIN, 0}};
  int open_fds = 2;
  char buf[16384];
  while (open_fds > 0) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(until - std::chrono::steady_clock::now());
    if (left.count() <= 0) {
      r.timed_out = true;
      break;
    }
    int ready = poll(fds, 2, static_cast<int>(std::min<std::int64_t>(left.count() + 1, 1 << 30)));
    if (ready < 0) {
      if (errno == EINTR) continue;
      break;
    }
    for (int i = 0; i < 2; ++i) {
      if (fds[i].fd < 0 || !(fds[i].revents & (POLLIN | POLLHUP | POLLERR))) continue;
      auto n = read(fds[i].fd, buf, sizeof buf);
      if (n > 0) {
        auto& dest = i == 0 ? r.out : r.err;
        auto cap = i == 0 ? max_out : max_err;
        if (dest.size() < cap) dest.append(buf, std::min<std::size_t>(static_cast<std::size_t>(n), cap - dest.size()));
      } else if (n == 0 || (errno != EINTR && errno != EAGAIN)) {
        close(fds[i].fd);
        fds[i].fd = -1;
        --open_fds;
      }
    }
  }
  if (r.timed_out) kill(-pid, SIGKILL);
  for (auto& f : fds)
    if (f.fd >= 0) close(f.fd);
  int status = 0;
  pid_t waited;
  // A process that closed its output but keeps running still gets the deadline.
  for (;;) {
    waited = waitpid(pid, &status, r.timed_out ? 0 : WNOHANG);
    if (waited < 0 && errno == EINTR) continue;
    if (waited != 0) break;
    if (std::chrono::steady_clock::now() >= until) {
      r.timed_out = true;
      kill(-pid, SIGKILL);
      continue;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  if (waited == pid) {
    if (WIFEXITED(status))
      r.exit_status = WEXITSTATUS(status);
    else if (WIFSIGNALED(status))
      r.signal = WTERMSIG(status);
  }
  return r;
}

bool is_loopback_host(const std::string& host) {
  in_addr v4{};
  if (inet_pton(AF_INET, host.c_str(), &v4) == 1) return (ntohl(v4.s_addr) >> 24) == 127;
  in6_addr v6{};
  if (inet_pton(AF_INET6, host.c_str(), &v6) == 1) return IN6_IS_ADDR_LOOPBACK(&v6);
  return false;
}

bool allowed_container_host(const std::string& host) {
  static constexpr std::array<std::string_view, 4> allowed = {"169.254.170.2", "169.254.170.23", "fd00:ec2::23",
                                                              "localhost"};
  std::string h = lower(host);
  return is_loopback_host(h) || std::find(allowed.begin(), allowed.end(), h) != allowed.end();
}

bool valid_region(std::string_view r) {
  if (r.empty() || r.size() > 64) return false;
  return std::all_of(r.begin(), r.end(),
                     [](char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-'; });
}

std::string profile_not_found(const ProfileChoice& choice, const SharedConfig& files) {
  std::string how = choice.source == ProfileSource::parameter     ? "--profile"
                    : choice.source == ProfileSource::aws_profile ? "AWS_PROFILE"
                                                                  : "AWS_DEFAULT_PROFILE";
  auto describe = [](const std::string& path, bool found) {
    if (path.empty()) return std::string("(no home directory)");
    return path + (found ? "" : " (does not exist)");
  };
  std::string msg = "the config profile '" + choice.name + "' (from " + how + ") could not be found; looked in " +
                    describe(files.config_path, files.config_found) + " and " +
                    describe(files.credentials_path, files.credentials_found);
  auto names = files.profile_names();
  if (names.empty()) {
    msg += ", which define no profiles";
  } else {
    std::vector<std::string_view> views(names.begin(), names.end());
    msg += " (profiles there: " + join_alternatives(views, " and ") + ")";
    if (auto m = closest_match(choice.name, views)) msg += "; did you mean '" + *m + "'?";
  }
  return msg;
}

// The profile's `region`, for resolve_region and for STS; "" when it has none.
std::string profile_region(const SharedConfig& files, const std::string& profile) {
  return value_of(files.profile(profile), "region").value_or("");
}

Expected<std::string> region_from(const AwsConfigOptions& options, const ProfileChoice& choice,
                                  const SharedConfig* loaded) {
  const auto& env = options.environment;
  std::string region, from;
  if (!options.region.empty()) {
    region = options.region;
    from = "--region";
  } else if (auto r = non_empty(env("AWS_REGION"))) {
    region = *r;
    from = "AWS_REGION";
  } else if (auto d = non_empty(env("AWS_DEFAULT_REGION"))) {
    region = *d;
    from = "AWS_DEFAULT_REGION";
  } else {
    std::optional<SharedConfig> own;
    if (!loaded) {
      auto files = load_shared_config(env, home_directory(options));
      if (!files) return unexpected(files.error());
      own = *files;
      loaded = &*own;
    }
    if (choice.must_exist() && !loaded->has_profile(choice.name)) return unexpected(profile_not_found(choice, *loaded));
    region = profile_region(*loaded, choice.name);
    from = "region in profile '" + choice.name + "'";
    if (region.empty()) {
      std::string file = loaded->config_path.empty() ? std::string("~/.aws/config") : loaded->config_path;
      return unexpected(
          "no AWS region: pass --region, set AWS_REGION (or AWS_DEFAULT_REGION), or add "
          "'region = us-east-1' (your region) under " +
          config_section_label(choice.name) + " in " + file);
    }
  }
  region = trim(region);
  if (!valid_region(region))
    return unexpected("'" + region + "' (from " + from + ") is not an AWS region name; write e.g. us-east-1");
  return region;
}

}  // namespace

//----------------------------------------------------------------------------------------------------------------
// Environment

Environment process_environment() {
  return [](const std::string& name) -> std::optional<std::string> {
    const char* v = std::getenv(name.c_str());
    if (!v) return std::nullopt;
    return std::string(v);
  };
}

Environment map_environment(std::map<std::string, std::string> variables) {
  return [vars = std::move(variables)](const std::string& name) -> std::optional<std::string> {
    auto it = vars.find(name);
    if (it == vars.end()) return std::nullopt;
    return it->second;
  };
}

//----------------------------------------------------------------------------------------------------------------
// INI files

Expected<IniFile> parse_aws_ini(std::string_view text, std::string_view file) {
  IniFile out;
  IniSection* section = nullptr;
  std::string* value = nullptr;  // the option that indented lines continue
  std::size_t value_indent = 0;
  int line_no = 0;
  auto where = [&] { return std::string(file) + ":" + std::to_string(line_no) + ": "; };
  std::size_t pos = 0;
  while (pos <= text.size()) {
    auto nl = text.find('\n', pos);
    std::string_view raw = text.substr(pos, nl == std::string_view::npos ? std::string_view::npos : nl - pos);
    pos = nl == std::string_view::npos ? text.size() + 1 : nl + 1;
    ++line_no;
    if (!raw.empty() && raw.back() == '\r') raw.remove_suffix(1);
    auto stripped = trim(raw);
    if (stripped.empty() || stripped[0] == '#' || stripped[0] == ';') continue;
    auto indent = raw.find_first_not_of(" \t");
    if (value && indent > value_indent) {  // continuation (or a nested block under `key =`)
      *value += '\n';
      *value += stripped;
      continue;
    }
    if (stripped[0] == '[') {
      auto close = stripped.find(']');
      auto name = close == std::string::npos ? std::string() : trim(std::string_view(stripped).substr(1, close - 1));
      if (name.empty()) return unexpected(where() + "a section header must be [name]");
      section = &out[name];
      value = nullptr;
      continue;
    }
    if (!section) return unexpected(where() + "'key = value' before any [section]");
    auto delim = stripped.find_first_of("=:");
    if (delim == std::string::npos) return unexpected(where() + "expected 'key = value' or a [section]");
    auto key = lower(trim(std::string_view(stripped).substr(0, delim)));
    if (key.empty()) return unexpected(where() + "a key is missing before '" + std::string(1, stripped[delim]) + "'");
    auto& v = section->values[key];
    v = trim(std::string_view(stripped).substr(delim + 1));
    value = &v;
    value_indent = indent;
  }
  // botocore: a value that starts on the next line is a nested block of `key = value` lines.
  for (auto& [name, sec] : out) {
    for (auto it = sec.values.begin(); it != sec.values.end();) {
      if (!it->second.starts_with('\n')) {
        ++it;
        continue;
      }
      auto& nested = sec.nested[it->first];
      std::istringstream lines(it->second);
      std::string line;
      while (std::getline(lines, line)) {
        auto eq = line.find('=');
        if (eq != std::string::npos) nested[trim(line.substr(0, eq))] = trim(line.substr(eq + 1));
      }
      it = sec.values.erase(it);
    }
  }
  return out;
}

bool SharedConfig::has_profile(const std::string& name) const {
  return config_profiles.contains(name) || credentials_profiles.contains(name);
}

std::map<std::string, std::string> SharedConfig::profile(const std::string& name) const {
  std::map<std::string, std::string> merged;
  if (auto it = config_profiles.find(name); it != config_profiles.end()) merged = it->second;
  if (auto it = credentials_profiles.find(name); it != credentials_profiles.end())
    for (const auto& [k, v] : it->second) merged[k] = v;
  return merged;
}

std::vector<std::string> SharedConfig::profile_names() const {
  std::vector<std::string> names;
  for (const auto& [n, _] : config_profiles) names.push_back(n);
  for (const auto& [n, _] : credentials_profiles)
    if (!config_profiles.contains(n)) names.push_back(n);
  std::sort(names.begin(), names.end());
  return names;
}

Expected<SharedConfig> load_shared_config(const Environment& environment, const std::string& home) {
  SharedConfig sc;
  auto path_for = [&](const char* variable, const char* file) -> std::string {
    if (auto p = non_empty(environment(variable))) return expand_home(*p, home);
    return home.empty() ? std::string() : home + "/.aws/" + file;
  };
  sc.config_path = path_for("AWS_CONFIG_FILE", "config");
  sc.credentials_path = path_for("AWS_SHARED_CREDENTIALS_FILE", "credentials");

  if (!sc.config_path.empty()) {
    auto text = read_optional_file(sc.config_path);
    if (!text) return unexpected(text.error());
    if (text->has_value()) {
      sc.config_found = true;
      auto ini = parse_aws_ini(**text, sc.config_path);
      if (!ini) return unexpected(ini.error());
      // [default] first, so that [profile default] wins where both exist.
      if (auto it = ini->find("default"); it != ini->end()) sc.config_profiles["default"] = it->second.values;
      for (const auto& [name, section] : *ini) {
        if (!name.starts_with("profile")) continue;
        auto parts = split_command_line(name);  // botocore: shlex.split, so [profile "my name"] works
        if (!parts || parts->size() != 2 || (*parts)[0] != "profile") continue;
        for (const auto& [k, v] : section.values) sc.config_profiles[(*parts)[1]][k] = v;
      }
    }
  }
  if (!sc.credentials_path.empty()) {
    auto text = read_optional_file(sc.credentials_path);
    if (!text) return unexpected(text.error());
    if (text->has_value()) {
      sc.credentials_found = true;
      auto ini = parse_aws_ini(**text, sc.credentials_path);
      if (!ini) return unexpected(ini.error());
      for (const auto& [name, section] : *ini) sc.credentials_profiles[name] = section.values;
    }
  }
  return sc;
}

ProfileChoice choose_profile(std::string_view parameter, const Environment& environment) {
  if (!parameter.empty()) return {std::string(parameter), ProfileSource::parameter};
  if (auto p = non_empty(environment("AWS_PROFILE"))) return {*p, ProfileSource::aws_profile};
  if (auto p = non_empty(environment("AWS_DEFAULT_PROFILE"))) return {*p, ProfileSource::aws_default_profile};
  return {"default", ProfileSource::fallback};
}

Expected<std::string> resolve_region(const AwsConfigOptions& options) {
  return region_from(options, choose_profile(options.profile, options.environment), nullptr);
}

Expected<std::vector<std::string>> split_command_line(std::string_view line) {
  std::vector<std::string> out;
  std::string word;
  bool in_word = false;
  char quote = 0;
  for (std::size_t i = 0; i < line.size(); ++i) {
    char c = line[i];
    if (quote == '\'') {
      if (c == '\'')
        quote = 0;
      else
        word += c;
      continue;
    }
    if (quote == '"') {
      if (c == '"')
        quote = 0;
      else if (c == '\\' && i + 1 < line.size() && (line[i + 1] == '"' || line[i + 1] == '\\'))
        word += line[++i];
      else
        word += c;
      continue;
    }
    if (c == ' ' || c == '\t' || c == '\n' || c == '\r') {
      if (in_word) out.push_back(std::move(word));
      word.clear();
      in_word = false;
      continue;
    }
    in_word = true;
    if (c == '\'' || c == '"') {
      quote = c;
    } else if (c == '\\') {
      if (i + 1 == line.size()) return unexpected("the command line ends in a lone backslash");
      word += line[++i];
    } else {
      word += c;
    }
  }
  if (quote)
    return unexpected(std::string("the command line has an unclosed ") + (quote == '"' ? "double" : "single") +
                      " quote");
  if (in_word) out.push_back(std::move(word));
  return out;
}

//----------------------------------------------------------------------------------------------------------------
// The chain

namespace {

enum class Step {
  environment,
  assume_role,
  web_identity,
  sso,
  shared_credentials,
  process,
  config_file,
  container,
  imds
};
constexpr std::array<Step, 9> all_steps = {Step::environment, Step::assume_role,        Step::web_identity,
                                           Step::sso,         Step::shared_credentials, Step::process,
                                           Step::config_file, Step::container,          Step::imds};

std::string_view step_name(Step s) {
  switch (s) {
    case Step::environment:
      return "environment";
    case Step::assume_role:
      return "assume-role profile";
    case Step::web_identity:
      return "web identity";
    case Step::sso:
      return "SSO profile";
    case Step::shared_credentials:
      return "shared credentials file";
    case Step::process:
      return "credential_process";
    case Step::config_file:
      return "config file";
    case Step::container:
      return "container endpoint";
    case Step::imds:
      return "instance metadata (IMDS)";
  }
  return "?";
}

struct Skipped {
  std::string reason;  ///< why the provider does not apply
};
struct Failed {
  std::string message;  ///< it applies, but did not produce credentials
};
using Outcome = std::variant<Credentials, Skipped, Failed>;

class Chain {
 public:
  Chain(AwsConfigOptions options, const Clock& clock)
      : options_(std::move(options)), clock_(clock), profile_(choose_profile(options_.profile, options_.environment)) {}

  const ProfileChoice& profile() const { return profile_; }
  const AwsConfigOptions& options() const { return options_; }

  // Loads the files once; an error for unreadable files or a named profile that does not exist.
  std::optional<std::string> prepare() {
    if (files_) return std::nullopt;
    auto files = load_shared_config(options_.environment, home_directory(options_));
    if (!files) return files.error();
    if (profile_.must_exist() && !files->has_profile(profile_.name)) return profile_not_found(profile_, *files);
    files_ = std::move(*files);
    merged_ = files_->profile(profile_.name);
    return std::nullopt;
  }

  const SharedConfig* files() const { return files_ ? &*files_ : nullptr; }

  Outcome run(Step s) {
    Outcome o = dispatch(s);
    if (auto* c = std::get_if<Credentials>(&o); c && c->expiration && *c->expiration <= clock_.now())
      return Failed{c->source + " gave credentials that expired at " + format_rfc3339(*c->expiration) + " (now " +
                    format_rfc3339(clock_.now()) + "); check the system clock"};
    return o;
  }

  struct Found {
    Credentials credentials;
    Step step;
  };
  std::variant<Found, std::string> resolve() {
    if (auto e = prepare()) return *e;
    std::vector<std::pair<Step, std::string>> skipped;
    for (Step s : all_steps) {
      auto o = run(s);
      if (auto* c = std::get_if<Credentials>(&o)) return Found{std::move(*c), s};
      if (auto* f = std::get_if<Failed>(&o)) return std::string(step_name(s)) + ": " + f->message;
      skipped.emplace_back(s, std::get<Skipped>(o).reason);
    }
    std::string msg = "no AWS credentials found for profile '" + profile_.name + "'; tried, in order:";
    for (const auto& [s, why] : skipped) msg += "\n  " + std::string(step_name(s)) + ": " + why;
    msg +=
        "\nset AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, run 'aws configure', or choose a configured profile "
        "with --profile or AWS_PROFILE";
    return msg;
  }

 private:
  std::optional<std::string> env(const std::string& name) const { return non_empty(options_.environment(name)); }
  std::optional<std::string> setting(const std::string& key) const { return value_of(merged_, key); }
  std::string profile_label() const { return "profile '" + profile_.name + "'"; }

  HttpClient& http() {
    if (!http_) http_ = std::make_unique<HttpClient>(options_.http);
    return *http_;
  }

  Outcome dispatch(Step s) {
    switch (s) {
      case Step::environment:
        return from_environment();
      case Step::assume_role:
        return assume_role();
      case Step::web_identity:
        return web_identity();
      case Step::sso:
        return sso();
      case Step::shared_credentials:
        return shared_credentials();
      case Step::process:
        return credential_process();
      case Step::config_file:
        return config_file();
      case Step::container:
        return container();
      case Step::imds:
        return instance_metadata();
    }
    return Skipped{"unknown provider"};
  }

  //--------------------------------------------------------------------------------------------------------------
  Outcome from_environment() {
    if (profile_.source == ProfileSource::parameter)
      return Skipped{"not used because the profile was chosen explicitly (--profile " + profile_.name + ")"};
    auto akid = env("AWS_ACCESS_KEY_ID");
    if (!akid)
      return Skipped{env("AWS_SECRET_ACCESS_KEY") ? "AWS_SECRET_ACCESS_KEY is set but AWS_ACCESS_KEY_ID is not"
                                                  : "AWS_ACCESS_KEY_ID is not set"};
    auto secret = env("AWS_SECRET_ACCESS_KEY");
    if (!secret) return Failed{"AWS_ACCESS_KEY_ID is set but AWS_SECRET_ACCESS_KEY is not; set both (or neither)"};
    Credentials c;
    c.access_key_id = *akid;
    c.secret_access_key = *secret;
    c.session_token = env("AWS_SESSION_TOKEN").value_or(env("AWS_SECURITY_TOKEN").value_or(""));
    c.source = "environment";
    if (auto exp = env("AWS_CREDENTIAL_EXPIRATION")) {
      auto t = parse_rfc3339(trim(*exp));
      if (!t) return Failed{"AWS_CREDENTIAL_EXPIRATION: " + t.error()};
      c.expiration = *t;
    }
    return c;
  }

  //--------------------------------------------------------------------------------------------------------------
  Outcome assume_role() {
    if (!setting("role_arn")) return Skipped{profile_label() + " has no role_arn"};
    if (setting("web_identity_token_file"))
      return Skipped{profile_label() + " has role_arn with web_identity_token_file (web identity handles it)"};
    if (!setting("source_profile") && !setting("credential_source"))
      return Failed{profile_label() + " has role_arn but neither source_profile nor credential_source"};
    return Failed{profile_label() + " assumes a role (role_arn with " +
                  (setting("source_profile") ? "source_profile" : "credential_source") +
                  "), which fleetsim does not support yet; export the role's credentials instead: "
                  "eval \"$(aws configure export-credentials --profile " +
                  profile_.name + " --format env)\" and run without --profile"};
  }

  //--------------------------------------------------------------------------------------------------------------
  Outcome sso() {
    for (const char* key : {"sso_session", "sso_start_url", "sso_account_id", "sso_role_name"})
      if (setting(key))
        return Failed{profile_label() + " signs in through IAM Identity Center (" + key +
                      "), which fleetsim does not support yet; run 'aws sso login --profile " + profile_.name +
                      "', then eval \"$(aws configure export-credentials --profile " + profile_.name +
                      " --format env)\" and run without --profile"};
    return Skipped{profile_label() + " has no sso_* settings"};
  }

  //--------------------------------------------------------------------------------------------------------------
  std::string sts_endpoint(const std::optional<std::string>& region) const {
    if (!options_.sts_endpoint.empty()) return options_.sts_endpoint;
    if (!is_true(env("AWS_IGNORE_CONFIGURED_ENDPOINT_URLS"))) {
      if (auto u = env("AWS_ENDPOINT_URL_STS")) return *u;
      if (auto u = env("AWS_ENDPOINT_URL")) return *u;
    }
    if (!region) return "https://sts.amazonaws.com/";
    return "https://sts." + *region + (region->starts_with("cn-") ? ".amazonaws.com.cn/" : ".amazonaws.com/");
  }

  Outcome web_identity() {
    auto token_file = env("AWS_WEB_IDENTITY_TOKEN_FILE");
    std::string token_from = "AWS_WEB_IDENTITY_TOKEN_FILE";
    if (!token_file) {
      token_file = setting("web_identity_token_file");
      token_from = "web_identity_token_file of " + profile_label();
    }
    if (!token_file)
      return Skipped{"AWS_WEB_IDENTITY_TOKEN_FILE is not set and " + profile_label() +
                     " has no web_identity_token_file"};
    auto role_arn = env("AWS_ROLE_ARN");
    if (!role_arn) role_arn = setting("role_arn");
    if (!role_arn)
      return Failed{token_from + " is set but there is no role to assume: set AWS_ROLE_ARN or role_arn in " +
                    profile_label()};
    auto session = env("AWS_ROLE_SESSION_NAME");
    if (!session) session = setting("role_session_name");
    if (!session) session = "fleetsim-session-" + std::to_string(clock_.now() / 1000);

    auto path = expand_home(*token_file, home_directory(options_));
    auto text = read_optional_file(path);
    if (!text) return Failed{"web identity token (" + token_from + "): " + text.error()};
    if (!text->has_value()) return Failed{"web identity token file " + path + " (" + token_from + ") does not exist"};
    auto token = trim(**text);
    if (token.empty()) return Failed{"web identity token file " + path + " is empty"};

    std::optional<std::string> region;
    if (files_) {
      auto r = region_from(options_, profile_, &*files_);
      if (r) region = *r;
    }
    HttpRequest req;
    req.method = "POST";
    req.url = sts_endpoint(region);
    req.headers = {{"Content-Type", "application/x-www-form-urlencoded; charset=utf-8"}, {"Accept", "text/xml"}};
    req.body = "Action=AssumeRoleWithWebIdentity&Version=2011-06-15&RoleArn=" + uri_encode(*role_arn) +
               "&RoleSessionName=" + uri_encode(*session) + "&WebIdentityToken=" + uri_encode(token);
    req.timeout = options_.sts_timeout;
    auto shown = parse_url(req.url);
    std::string where = shown ? (shown->tls ? "https://" : "http://") + shown->authority() : req.url;
    auto sent = http().send(req);
    if (auto* e = std::get_if<HttpError>(&sent))
      return Failed{"STS AssumeRoleWithWebIdentity at " + where + " failed: " + e->message};
    const auto& res = std::get<HttpResponse>(sent);
    std::string what = "STS AssumeRoleWithWebIdentity for " + *role_arn + " at " + where;
    if (res.status != 200) {
      auto code = xml_text(res.body, "Code");
      auto message = xml_text(res.body, "Message");
      std::string msg = what + " failed: HTTP " + std::to_string(res.status);
      if (code) msg += " " + *code;
      if (message) msg += ": " + *message;
      return Failed{msg};
    }
    auto block = xml_element(res.body, "Credentials");
    if (!block) return Failed{what + " answered without <Credentials>"};
    Credentials c;
    c.access_key_id = xml_text(*block, "AccessKeyId").value_or("");
    c.secret_access_key = xml_text(*block, "SecretAccessKey").value_or("");
    c.session_token = xml_text(*block, "SessionToken").value_or("");
    auto expiration = xml_text(*block, "Expiration");
    if (c.access_key_id.empty() || c.secret_access_key.empty() || c.session_token.empty() || !expiration)
      return Failed{what + " answered with incomplete credentials"};
    auto t = parse_rfc3339(*expiration);
    if (!t) return Failed{what + ": <Expiration>: " + t.error()};
    c.expiration = *t;
    c.source = "web identity (" + *role_arn + " via STS)";
    return c;
  }

  //--------------------------------------------------------------------------------------------------------------
  // Static keys from one section of a file; `where` is "PATH [section]", `kind` what the file is.
  Outcome keys_from(const std::map<std::string, std::string>& section, const std::string& where,
                    const std::string& kind) {
    auto akid = value_of(section, "aws_access_key_id");
    if (!akid) return Skipped{where + " has no aws_access_key_id"};
    auto secret = value_of(section, "aws_secret_access_key");
    if (!secret) return Failed{where + " has aws_access_key_id but no aws_secret_access_key"};
    Credentials c;
    c.access_key_id = *akid;
    c.secret_access_key = *secret;
    c.session_token =
        value_of(section, "aws_session_token").value_or(value_of(section, "aws_security_token").value_or(""));
    c.source = kind + " " + where;
    return c;
  }

  Outcome shared_credentials() {
    const auto& path = files_->credentials_path;
    if (path.empty())
      return Skipped{"no home directory for ~/.aws/credentials (set HOME or AWS_SHARED_CREDENTIALS_FILE)"};
    if (!files_->credentials_found) return Skipped{path + " does not exist"};
    auto it = files_->credentials_profiles.find(profile_.name);
    if (it == files_->credentials_profiles.end()) return Skipped{path + " has no [" + profile_.name + "] section"};
    return keys_from(it->second, path + " [" + profile_.name + "]", "shared credentials file");
  }

  Outcome config_file() {
    const auto& path = files_->config_path;
    if (path.empty()) return Skipped{"no home directory for ~/.aws/config (set HOME or AWS_CONFIG_FILE)"};
    if (!files_->config_found) return Skipped{path + " does not exist"};
    auto label = config_section_label(profile_.name);
    auto it = files_->config_profiles.find(profile_.name);
    if (it == files_->config_profiles.end()) return Skipped{path + " has no " + label + " section"};
    return keys_from(it->second, path + " " + label, "config file");
  }

  //--------------------------------------------------------------------------------------------------------------
  Outcome credential_process() {
    auto command = setting("credential_process");
    if (!command) return Skipped{profile_label() + " has no credential_process"};
    std::string what = "credential_process of " + profile_label();
    auto argv = split_command_line(*command);
    if (!argv) return Failed{what + ": " + argv.error()};
    if (argv->empty()) return Failed{what + " is empty"};
    // Only the program is named in messages: its arguments could carry something private.
    what += " (" + argv->front() + ")";
    auto r = run_command(*argv, options_.process_timeout);
    if (!r.spawn_error.empty()) return Failed{what + " could not be started: " + r.spawn_error};
    if (r.timed_out)
      return Failed{what + " did not finish within " + seconds_text(options_.process_timeout) + "; it was killed"};
    auto err = trim(r.err);
    if (err.size() > 2000) err = err.substr(0, 2000) + "...";
    if (r.signal)
      return Failed{what + " was killed by signal " + std::to_string(r.signal) + (err.empty() ? "" : ": " + err)};
    if (r.exit_status != 0)
      return Failed{what + " exited with status " + std::to_string(r.exit_status) +
                    (err.empty() ? " and no message on stderr" : ": " + err)};
    auto j = json::parse(r.out, nullptr, false);
    if (j.is_discarded() || !j.is_object()) return Failed{what + " did not print a JSON object on stdout"};
    auto version = j.find("Version");
    if (version == j.end() || !version->is_number_integer() || version->get<std::int64_t>() != 1)
      return Failed{what + " printed Version " +
                    (version == j.end()     ? std::string("<missing>")
                     : version->is_number() ? version->dump()
                                            : "<not a number>") +
                    "; only Version 1 is supported"};
    Credentials c;
    auto akid = json_string(j, "AccessKeyId");
    auto secret = json_string(j, "SecretAccessKey");
    if (!akid) return Failed{what + " printed no AccessKeyId"};
    if (!secret) return Failed{what + " printed no SecretAccessKey"};
    c.access_key_id = *akid;
    c.secret_access_key = *secret;
    c.session_token = json_string(j, "SessionToken").value_or("");
    if (auto exp = json_string(j, "Expiration")) {
      auto t = parse_rfc3339(*exp);
      if (!t) return Failed{what + ": Expiration: " + t.error()};
      c.expiration = *t;
    }
    c.source = "credential_process of " + profile_label();
    return c;
  }

  //--------------------------------------------------------------------------------------------------------------
  // The JSON answer of the container endpoint and of IMDS: AccessKeyId, SecretAccessKey, Token, Expiration.
  std::variant<Credentials, std::string> metadata_credentials(const std::string& body) {
    auto j = json::parse(body, nullptr, false);
    if (j.is_discarded() || !j.is_object()) return std::string("the answer is not a JSON object");
    if (auto code = json_string(j, "Code"); code && *code != "Success") return "the answer has Code " + *code;
    Credentials c;
    auto akid = json_string(j, "AccessKeyId");
    auto secret = json_string(j, "SecretAccessKey");
    auto token = json_string(j, "Token");
    if (!akid || !secret || !token) return std::string("the answer lacks AccessKeyId, SecretAccessKey or Token");
    c.access_key_id = *akid;
    c.secret_access_key = *secret;
    c.session_token = *token;
    if (auto exp = json_string(j, "Expiration")) {
      auto t = parse_rfc3339(*exp);
      if (!t) return "Expiration: " + t.error();
      c.expiration = *t;
    }
    return c;
  }

  Outcome container() {
    std::string url;
    std::string from;
    if (auto rel = env("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI")) {
      auto base = options_.container_endpoint;
      while (base.ends_with('/')) base.pop_back();
      url = base + (rel->starts_with('/') ? "" : "/") + *rel;
      from = "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI";
    } else if (auto full = env("AWS_CONTAINER_CREDENTIALS_FULL_URI")) {
      auto u = parse_url(*full);
      if (!u) return Failed{"AWS_CONTAINER_CREDENTIALS_FULL_URI: " + u.error()};
      if (!u->tls && !allowed_container_host(u->host))
        return Failed{
            "AWS_CONTAINER_CREDENTIALS_FULL_URI must be https, or http to a loopback address, "
            "169.254.170.2, 169.254.170.23, fd00:ec2::23 or localhost; refusing host '" +
            u->host + "'"};
      url = *full;
      from = "AWS_CONTAINER_CREDENTIALS_FULL_URI";
    } else {
      return Skipped{"neither AWS_CONTAINER_CREDENTIALS_RELATIVE_URI nor AWS_CONTAINER_CREDENTIALS_FULL_URI is set"};
    }
    auto parsed = parse_url(url);
    if (!parsed) return Failed{from + ": " + parsed.error()};
    // Only scheme and authority in messages: the path can be a capability (an ECS credentials id).
    std::string shown = (parsed->tls ? "https://" : "http://") + parsed->authority();

    HttpRequest req;
    req.method = "GET";
    req.url = url;
    req.timeout = options_.container_timeout;
    req.headers = {{"Accept", "application/json"}};
    std::optional<std::string> auth;
    if (auto file = env("AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE")) {
      auto text = read_optional_file(*file);
      if (!text) return Failed{"AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE: " + text.error()};
      if (!text->has_value()) return Failed{"AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE: " + *file + " does not exist"};
      auth = **text;
      while (!auth->empty() && (auth->back() == '\n' || auth->back() == '\r')) auth->pop_back();
    } else if (auto token = env("AWS_CONTAINER_AUTHORIZATION_TOKEN")) {
      auth = *token;
    }
    if (auth) {
      if (auth->find_first_of("\r\n") != std::string::npos)
        return Failed{"the container authorization token contains a line break; it cannot be a header value"};
      req.headers.emplace_back("Authorization", *auth);
    }

    // botocore tries three times; a 4xx answer is final.
    std::string last;
    for (int attempt = 1; attempt <= 3; ++attempt) {
      if (attempt > 1) std::this_thread::sleep_for(std::chrono::milliseconds(100));
      auto sent = http().send(req);
      if (auto* e = std::get_if<HttpError>(&sent)) {
        last = e->message;
        continue;
      }
      const auto& res = std::get<HttpResponse>(sent);
      if (res.status != 200) {
        last = "HTTP " + std::to_string(res.status);
        auto j = json::parse(res.body, nullptr, false);
        for (const char* k : {"message", "Message"})
          if (auto m = json_string(j, k)) {
            last += ": " + *m;
            break;
          }
        if (res.status < 500) break;
        continue;
      }
      auto c = metadata_credentials(res.body);
      if (auto* why = std::get_if<std::string>(&c)) return Failed{"container endpoint " + shown + ": " + *why};
      auto& creds = std::get<Credentials>(c);
      creds.source = "container endpoint " + shown;
      return creds;
    }
    return Failed{"container endpoint " + shown + " (" + from + "): " + last};
  }

  //--------------------------------------------------------------------------------------------------------------
  Outcome instance_metadata() {
    if (is_true(env("AWS_EC2_METADATA_DISABLED"))) return Skipped{"AWS_EC2_METADATA_DISABLED is true"};
    std::string base;
    if (auto e = env("AWS_EC2_METADATA_SERVICE_ENDPOINT"))
      base = *e;
    else if (auto s = setting("ec2_metadata_service_endpoint"))
      base = *s;
    else {
      auto mode = env("AWS_EC2_METADATA_SERVICE_ENDPOINT_MODE");
      if (!mode) mode = setting("ec2_metadata_service_endpoint_mode");
      base = mode && lower(*mode) == "ipv6" ? "http://[fd00:ec2::254]" : "http://169.254.169.254";
    }
    while (base.ends_with('/')) base.pop_back();
    auto timeout = options_.imds_timeout;
    auto configured = env("AWS_METADATA_SERVICE_TIMEOUT");
    if (!configured) configured = setting("metadata_service_timeout");
    if (configured) {
      auto d = parse_number(trim(*configured));
      if (d && *d > 0) timeout = std::chrono::milliseconds(static_cast<std::int64_t>(*d * 1000));
    }
    bool v1_disabled = is_true(env("AWS_EC2_METADATA_V1_DISABLED")) || is_true(setting("ec2_metadata_v1_disabled"));

    auto fail = [&](const std::string& what) { return Skipped{"no credentials from " + base + ": " + what}; };
    auto send = [&](HttpRequest r) {
      r.timeout = timeout;
      return http().send(r);
    };

    // IMDSv2: a session token first.
    HttpRequest put;
    put.method = "PUT";
    put.url = base + "/latest/api/token";
    put.headers = {{"x-aws-ec2-metadata-token-ttl-seconds", "21600"}};
    auto got = send(put);
    if (auto* e = std::get_if<HttpError>(&got))
      return fail("no answer within " + seconds_text(timeout) + " (" + e->message + "); not on EC2?");
    std::optional<std::string> token;
    const auto& tres = std::get<HttpResponse>(got);
    if (tres.status == 200 && !tres.body.empty()) {
      token = tres.body;
    } else if (tres.status == 403 || tres.status == 404 || tres.status == 405) {
      if (v1_disabled)
        return fail("the token request was refused (HTTP " + std::to_string(tres.status) + ") and IMDSv1 is disabled");
    } else {
      return fail("the token request answered HTTP " + std::to_string(tres.status));
    }
    Headers auth;
    if (token) auth.emplace_back("x-aws-ec2-metadata-token", *token);

    HttpRequest list;
    list.url = base + "/latest/meta-data/iam/security-credentials/";
    list.headers = auth;
    got = send(list);
    if (auto* e = std::get_if<HttpError>(&got)) return fail("the role name request failed: " + e->message);
    const auto& lres = std::get<HttpResponse>(got);
    if (lres.status == 404) return fail("no IAM role is attached to this instance");
    if (lres.status != 200) return fail("the role name request answered HTTP " + std::to_string(lres.status));
    auto role = trim(lres.body.substr(0, lres.body.find('\n')));
    if (role.empty()) return fail("no IAM role is attached to this instance");

    HttpRequest get;
    get.url = base + "/latest/meta-data/iam/security-credentials/" + uri_encode(role);
    get.headers = auth;
    got = send(get);
    if (auto* e = std::get_if<HttpError>(&got)) return fail("the credentials request failed: " + e->message);
    const auto& cres = std::get<HttpResponse>(got);
    if (cres.status != 200)
      return fail("the credentials request for role " + role + " answered HTTP " + std::to_string(cres.status));
    auto c = metadata_credentials(cres.body);
    if (auto* why = std::get_if<std::string>(&c)) return fail("role " + role + ": " + *why);
    auto& creds = std::get<Credentials>(c);
    creds.source = "instance metadata (role " + role + (token ? ")" : ", IMDSv1)");
    return creds;
  }

  AwsConfigOptions options_;
  const Clock& clock_;
  ProfileChoice profile_;
  std::optional<SharedConfig> files_;
  std::map<std::string, std::string> merged_;  // the profile's settings (config file + credentials file)
  std::unique_ptr<HttpClient> http_;
};

const Clock& system_clock() {
  static const SystemClock clock;
  return clock;
}

}  // namespace

Expected<Credentials> resolve_credentials(const AwsConfigOptions& options, const Clock& clock) {
  Chain chain(options, clock);
  auto r = chain.resolve();
  if (auto* e = std::get_if<std::string>(&r)) return unexpected(*e);
  return std::get<Chain::Found>(std::move(r)).credentials;
}

//----------------------------------------------------------------------------------------------------------------
// CredentialProvider

struct CredentialProvider::Impl {
  Impl(AwsConfigOptions o, const Clock& c, RefreshPolicy p) : clock(c), policy(p), chain(std::move(o), c) {}

  const Clock& clock;
  RefreshPolicy policy;
  mutable std::mutex mutex;
  Chain chain;
  std::optional<Credentials> cached;
  Step step = Step::environment;  // the provider that gave `cached`
  EpochMillis next_attempt = 0;   // no advisory refresh before this
  int fetches = 0;
};

CredentialProvider::CredentialProvider(AwsConfigOptions options, const Clock* clock, RefreshPolicy policy)
    : impl_(std::make_unique<Impl>(std::move(options), clock ? *clock : system_clock(), policy)) {}

CredentialProvider::~CredentialProvider() = default;

Expected<Credentials> CredentialProvider::get() {
  std::lock_guard lock(impl_->mutex);
  auto& s = *impl_;
  if (!s.cached) {
    ++s.fetches;
    auto r = s.chain.resolve();
    if (auto* e = std::get_if<std::string>(&r)) return unexpected(*e);
    auto& found = std::get<Chain::Found>(r);
    s.cached = std::move(found.credentials);
    s.step = found.step;
    s.next_attempt = s.clock.now() + s.policy.retry_interval.count();
    return *s.cached;
  }
  if (!s.cached->expiration) return *s.cached;
  auto now = s.clock.now();
  auto expiry = *s.cached->expiration;
  bool mandatory = now >= expiry - s.policy.mandatory.count();
  bool advisory = now >= expiry - s.policy.advisory.count();
  if (!advisory || (!mandatory && now < s.next_attempt)) return *s.cached;

  // Ask the same provider again (botocore refreshes through the provider that issued the credentials).
  ++s.fetches;
  s.next_attempt = now + s.policy.retry_interval.count();
  auto o = s.chain.run(s.step);
  if (auto* c = std::get_if<Credentials>(&o)) {
    s.cached = std::move(*c);
    return *s.cached;
  }
  std::string why = std::holds_alternative<Failed>(o) ? std::get<Failed>(o).message : std::get<Skipped>(o).reason;
  if (!mandatory) return *s.cached;  // still good for a while; try again after retry_interval
  std::string source = s.cached->source;
  s.cached.reset();
  return unexpected("refreshing the credentials from " + source + " (expiring at " + format_rfc3339(expiry) +
                    ") failed: " + std::string(step_name(s.step)) + ": " + why);
}

Expected<std::string> CredentialProvider::region() const {
  std::lock_guard lock(impl_->mutex);
  return region_from(impl_->chain.options(), impl_->chain.profile(), impl_->chain.files());
}

ProfileChoice CredentialProvider::profile() const { return impl_->chain.profile(); }

int CredentialProvider::fetch_count() const {
  std::lock_guard lock(impl_->mutex);
  return impl_->fetches;
}

}  // namespace fleetsim::aws
