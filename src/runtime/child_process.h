// A child process for tools, tests and benchmarks that orchestrate several processes (the
// cluster demo, namespace and hostile tests, the bench suite): one spawner for all of them.
//
// Contract:
//   - By default the child's stdin is a pipe (send(), close_stdin()) and its stdout is read line
//     by line on a thread (wait_line(), lines()); with StdoutTo::kOurStderr it writes straight to
//     our stderr and nothing is captured.
//   - Every wait is bounded by a timeout. The child is reaped by whichever call sees it exit;
//     its exit code and the CPU time it used are kept for exit_code() / cpu_seconds().
//   - The destructor kills (SIGKILL) and reaps a child still running.
//
// Example:
//   rpcnet::runtime::Process server({"./server", "--port", "0"});
//   auto line = server.wait_line([](const std::string& l) { return l.starts_with("PORT "); }, 5s);
//   if (!line) return;  // nothing within 5 s
//   server.terminate(SIGTERM, 2s);
#pragma once

#include <sys/types.h>

#include <chrono>
#include <condition_variable>
#include <functional>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "rpcnet/thread_annotations.h"

namespace rpcnet::runtime {

using ProcessClock = std::chrono::steady_clock;

// Where the child's stdout goes.
enum class StdoutTo : unsigned char { kCapturedLines, kOurStderr };

class Process {
 public:
  explicit Process(const std::vector<std::string>& argv, StdoutTo stdout_to = StdoutTo::kCapturedLines);
  ~Process();
  Process(const Process&) = delete;
  Process& operator=(const Process&) = delete;

  bool started() const { return pid_ > 0; }
  pid_t pid() const { return pid_; }

  void send(const std::string& line);
  // Closes the child's stdin (a child that serves until EOF then shuts down).
  void close_stdin();

  // Sends `signal` and reaps the child (blocks until it exits).
  void kill(int signal);
  // Sends `signal` and waits up to `timeout` for the child to exit; then SIGKILL. True if it
  // exited by itself.
  bool terminate(int signal, std::chrono::milliseconds timeout);
  // Waits up to `timeout` for the child to exit by itself; its exit code, or nullopt if it is
  // still running (it is not killed) or died of a signal.
  std::optional<int> wait_exit(std::chrono::milliseconds timeout);
  // True while the child has not exited (it is reaped if it has).
  bool running();
  // After the child was reaped: its exit code (nullopt if a signal ended it), the signal that
  // ended it (nullopt if it exited), and the user + system CPU seconds it used.
  std::optional<int> exit_code() const { return exit_code_; }
  std::optional<int> exit_signal() const { return exit_signal_; }
  double cpu_seconds() const { return cpu_seconds_; }

  // Waits until some line (from index `from` on) satisfies `match`; returns its index.
  std::optional<std::size_t> wait_line(const std::function<bool(const std::string&)>& match,
                                       std::chrono::milliseconds timeout, std::size_t from = 0);
  // Waits up to `timeout` for the child to close its stdout (usually: to exit); true if it did.
  bool wait_output_end(std::chrono::milliseconds timeout);

  std::size_t line_count() const;
  std::vector<std::string> lines(std::size_t from = 0) const;
  ProcessClock::time_point line_time(std::size_t index) const;

 private:
  struct Line {
    std::string text;
    ProcessClock::time_point at;
  };

  void read_lines();
  // waitpid/wait4 with `options`; true (and the outcome recorded) once the child is reaped.
  bool reap(int options);
  // Bounded wait for the child to exit by itself; true once it is reaped.
  bool reap_within(std::chrono::milliseconds timeout);

  pid_t pid_ = -1;
  int stdin_ = -1;
  int stdout_ = -1;
  std::thread reader_;
  mutable Mutex mutex_;
  std::condition_variable_any changed_;  // with mutex_: a line came, or the end of the output
  std::vector<Line> lines_ RPCNET_GUARDED_BY(mutex_);
  bool eof_ RPCNET_GUARDED_BY(mutex_) = false;
  std::optional<int> exit_code_;
  std::optional<int> exit_signal_;
  double cpu_seconds_ = 0;
};

}  // namespace rpcnet::runtime
