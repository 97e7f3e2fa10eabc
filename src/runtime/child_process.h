// A child process with its stdin writable and its stdout read line by line on a thread, for
// tools and tests that orchestrate several processes (the cluster demo, namespace tests).
// Waiting for output is always bounded. The destructor kills (SIGKILL) and reaps the child.
#pragma once

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <condition_variable>
#include <functional>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

extern char** environ;

namespace rpcnet::runtime {

using ProcessClock = std::chrono::steady_clock;

// One child process with its stdout captured as lines.
class Process {
 public:
  explicit Process(const std::vector<std::string>& argv) {
    int in[2], out[2];
    if (pipe2(in, O_CLOEXEC) != 0 || pipe2(out, O_CLOEXEC) != 0) return;
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_adddup2(&actions, in[0], 0);
    posix_spawn_file_actions_adddup2(&actions, out[1], 1);
    std::vector<char*> args;
    for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
    args.push_back(nullptr);
    if (posix_spawnp(&pid_, args[0], &actions, nullptr, args.data(), environ) != 0) pid_ = -1;
    posix_spawn_file_actions_destroy(&actions);
    close(in[0]);
    close(out[1]);
    stdin_ = in[1];
    stdout_ = out[0];
    reader_ = std::thread([this] { read_lines(); });
  }
  ~Process() {
    kill(SIGKILL);
    if (stdin_ >= 0) close(stdin_);
    if (reader_.joinable()) reader_.join();
    if (stdout_ >= 0) close(stdout_);
  }
  Process(const Process&) = delete;
  Process& operator=(const Process&) = delete;

  bool started() const { return pid_ > 0; }

  void send(const std::string& line) {
    const std::string text = line + "\n";
    if (stdin_ >= 0) (void)!write(stdin_, text.data(), text.size());
  }

  // Sends `signal` and reaps the child (blocks until it exits).
  void kill(int signal) {
    if (pid_ > 0) {
      ::kill(pid_, signal);
      int status = 0;
      waitpid(pid_, &status, 0);
      pid_ = -1;
    }
  }
  // Sends `signal` and waits up to `timeout` for the child to exit; then SIGKILL. True if it
  // exited by itself.
  bool terminate(int signal, std::chrono::milliseconds timeout) {
    if (pid_ <= 0) return true;
    ::kill(pid_, signal);
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    int status = 0;
    while (std::chrono::steady_clock::now() < deadline) {
      if (waitpid(pid_, &status, WNOHANG) == pid_) {
        pid_ = -1;
        return true;
      }
      std::unique_lock lock(mutex_);
      changed_.wait_for(lock, std::chrono::milliseconds(20), [&] { return eof_; });
    }
    kill(SIGKILL);
    return false;
  }
  pid_t pid() const { return pid_; }

  // Closes the child's stdin (a child that serves until EOF then shuts down).
  void close_stdin() {
    if (stdin_ >= 0) close(stdin_);
    stdin_ = -1;
  }
  // Waits up to `timeout` for the child to exit by itself; its exit code, or nullopt if it is
  // still running (it is not killed) or died of a signal.
  std::optional<int> wait_exit(std::chrono::milliseconds timeout) {
    if (pid_ <= 0) return exit_code_;
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    int status = 0;
    while (std::chrono::steady_clock::now() < deadline) {
      if (waitpid(pid_, &status, WNOHANG) == pid_) {
        pid_ = -1;
        if (WIFEXITED(status)) exit_code_ = WEXITSTATUS(status);
        return exit_code_;
      }
      std::unique_lock lock(mutex_);
      changed_.wait_for(lock, std::chrono::milliseconds(20), [&] { return eof_; });
    }
    return std::nullopt;
  }
  // True while the child has not exited (it is reaped if it has).
  bool running() {
    if (pid_ <= 0) return false;
    int status = 0;
    if (waitpid(pid_, &status, WNOHANG) == pid_) {
      pid_ = -1;
      if (WIFEXITED(status)) exit_code_ = WEXITSTATUS(status);
      return false;
    }
    return true;
  }

  // Waits until some line (from index `from` on) satisfies `match`; returns its index.
  std::optional<std::size_t> wait_line(const std::function<bool(const std::string&)>& match,
                                       std::chrono::milliseconds timeout, std::size_t from = 0) {
    std::unique_lock lock(mutex_);
    std::optional<std::size_t> found;
    changed_.wait_for(lock, timeout, [&] {
      for (std::size_t i = from; i < lines_.size(); ++i) {
        if (match(lines_[i].text)) {
          found = i;
          return true;
        }
      }
      return eof_;
    });
    return found;
  }

  std::size_t line_count() const {
    std::lock_guard lock(mutex_);
    return lines_.size();
  }
  std::vector<std::string> lines(std::size_t from = 0) const {
    std::lock_guard lock(mutex_);
    std::vector<std::string> out;
    for (std::size_t i = from; i < lines_.size(); ++i) out.push_back(lines_[i].text);
    return out;
  }
  ProcessClock::time_point line_time(std::size_t index) const {
    std::lock_guard lock(mutex_);
    return lines_.at(index).at;
  }

 private:
  struct Line {
    std::string text;
    ProcessClock::time_point at;
  };

  void read_lines() {
    std::string partial;
    char buffer[4096];
    for (;;) {
      const ssize_t n = read(stdout_, buffer, sizeof buffer);
      if (n <= 0) break;
      partial.append(buffer, static_cast<std::size_t>(n));
      std::size_t newline;
      while ((newline = partial.find('\n')) != std::string::npos) {
        std::lock_guard lock(mutex_);
        lines_.push_back(Line{partial.substr(0, newline), ProcessClock::now()});
        partial.erase(0, newline + 1);
        changed_.notify_all();
      }
    }
    std::lock_guard lock(mutex_);
    eof_ = true;
    changed_.notify_all();
  }

  pid_t pid_ = -1;
  int stdin_ = -1;
  int stdout_ = -1;
  std::thread reader_;
  mutable std::mutex mutex_;
  std::condition_variable changed_;
  std::vector<Line> lines_;
  bool eof_ = false;
  std::optional<int> exit_code_;
};

}  // namespace rpcnet::runtime
