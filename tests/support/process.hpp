#pragma once
// Runs a real program for a test: arguments, optional stdin, captured output, and a hard deadline.
#include <chrono>
#include <functional>
#include <string>
#include <vector>

namespace fleetsim::test {

struct ProcessResult {
  int exit_code = -1;       ///< the exit status, or 128+signal when killed by a signal
  bool timed_out = false;   ///< killed because the deadline passed
  std::string out;          ///< everything written to stdout
  std::string err;          ///< everything written to stderr
};

/// A child process running in the background, for tests that signal or kill it mid-run.
class ChildProcess {
 public:
  /// Starts argv[0] (a path); stdout and stderr go to files in `log_dir` (or /dev/null when empty).
  explicit ChildProcess(const std::vector<std::string>& argv, const std::string& log_dir = {});
  ~ChildProcess();  ///< kills it if still running
  ChildProcess(const ChildProcess&) = delete;
  ChildProcess& operator=(const ChildProcess&) = delete;
  int pid() const { return pid_; }
  void signal(int sig) const;
  /// Waits for the exit; kills it (and reports timed_out) after `deadline`. out/err hold the log files.
  ProcessResult wait(std::chrono::milliseconds deadline);
  bool running();

 private:
  int pid_ = -1;
  bool reaped_ = false;
  int status_ = 0;
  std::string out_path_, err_path_;
};

/// Polls `condition` every few milliseconds until it holds or `deadline` passes; returns whether it held.
bool wait_until(const std::function<bool()>& condition, std::chrono::milliseconds deadline);

/// A free TCP port on 127.0.0.1 (bound and released; good enough for tests on one machine).
int free_port();

/// The whole content of a file ("" when missing).
std::string read_text(const std::string& path);

/// Runs argv[0] (a path) with the arguments; kills it after `deadline`.
ProcessResult run_process(const std::vector<std::string>& argv, std::chrono::milliseconds deadline = std::chrono::seconds(30),
                          const std::string& stdin_data = {});

/// The fleetsim binary under test, with arguments.
ProcessResult run_fleetsim(const std::vector<std::string>& args, std::chrono::milliseconds deadline = std::chrono::seconds(30));

/// A file in the source tree.
std::string source_path(const std::string& relative);

/// A fresh directory under the system temp dir, removed when the object goes away.
class TempDir {
 public:
  TempDir();
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::string& path() const { return path_; }
  /// Writes `content` to path()/name and returns the full path.
  std::string write(const std::string& name, const std::string& content) const;

 private:
  std::string path_;
};

}  // namespace fleetsim::test
