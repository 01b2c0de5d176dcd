#pragma once
// Runs a real program for a test: arguments, optional stdin, captured output, and a hard deadline.
#include <chrono>
#include <string>
#include <vector>

namespace fleetsim::test {

struct ProcessResult {
  int exit_code = -1;       ///< the exit status, or 128+signal when killed by a signal
  bool timed_out = false;   ///< killed because the deadline passed
  std::string out;          ///< everything written to stdout
  std::string err;          ///< everything written to stderr
};

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
