#include "runtime/child_process.h"

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

extern char** environ;

namespace rpcnet::runtime {

Process::Process(const std::vector<std::string>& argv, StdoutTo stdout_to) {
  const bool capture = stdout_to == StdoutTo::kCapturedLines;
  int in[2] = {-1, -1};
  int out[2] = {-1, -1};
  if (pipe2(in, O_CLOEXEC) != 0) return;
  if (capture && pipe2(out, O_CLOEXEC) != 0) {
    close(in[0]);
    close(in[1]);
    return;
  }
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_adddup2(&actions, in[0], 0);
  posix_spawn_file_actions_adddup2(&actions, capture ? out[1] : 2, 1);
  std::vector<char*> args;
  for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  if (posix_spawnp(&pid_, args[0], &actions, nullptr, args.data(), environ) != 0) pid_ = -1;
  posix_spawn_file_actions_destroy(&actions);
  close(in[0]);
  stdin_ = in[1];
  if (!capture) {
    eof_ = true;  // nothing to read: output waits end at once
    return;
  }
  close(out[1]);
  stdout_ = out[0];
  reader_ = std::thread([this] { read_lines(); });
}

Process::~Process() {
  kill(SIGKILL);
  if (stdin_ >= 0) close(stdin_);
  if (reader_.joinable()) reader_.join();
  if (stdout_ >= 0) close(stdout_);
}

void Process::send(const std::string& line) {
  const std::string text = line + "\n";
  if (stdin_ >= 0) (void)!write(stdin_, text.data(), text.size());
}

void Process::close_stdin() {
  if (stdin_ >= 0) close(stdin_);
  stdin_ = -1;
}

bool Process::reap(int options) {
  if (pid_ <= 0) return true;
  int status = 0;
  rusage usage{};
  if (wait4(pid_, &status, options, &usage) != pid_) return false;
  pid_ = -1;
  if (WIFEXITED(status)) exit_code_ = WEXITSTATUS(status);
  if (WIFSIGNALED(status)) exit_signal_ = WTERMSIG(status);
  cpu_seconds_ = static_cast<double>(usage.ru_utime.tv_sec + usage.ru_stime.tv_sec) +
                 static_cast<double>(usage.ru_utime.tv_usec + usage.ru_stime.tv_usec) / 1e6;
  return true;
}

bool Process::reap_within(std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    if (reap(WNOHANG)) return true;
    // The end of the child's output usually means it is exiting: check again at once then.
    MutexLock lock(mutex_);
    changed_.wait_for(mutex_, std::chrono::milliseconds(20), [&]() RPCNET_NO_THREAD_SAFETY_ANALYSIS { return eof_; });
  }
  return false;
}

void Process::kill(int signal) {
  if (pid_ <= 0) return;
  ::kill(pid_, signal);
  reap(0);
}

bool Process::terminate(int signal, std::chrono::milliseconds timeout) {
  if (pid_ <= 0) return true;
  ::kill(pid_, signal);
  if (reap_within(timeout)) return true;
  kill(SIGKILL);
  return false;
}

std::optional<int> Process::wait_exit(std::chrono::milliseconds timeout) {
  if (!reap_within(timeout) && pid_ > 0) return std::nullopt;
  return exit_code_;
}

bool Process::running() { return !reap(WNOHANG); }

std::optional<std::size_t> Process::wait_line(const std::function<bool(const std::string&)>& match,
                                              std::chrono::milliseconds timeout, std::size_t from) {
  MutexLock lock(mutex_);
  std::optional<std::size_t> found;
  // The predicates run with mutex_ held, inside a std:: template the analysis cannot see.
  changed_.wait_for(mutex_, timeout, [&]() RPCNET_NO_THREAD_SAFETY_ANALYSIS {
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

bool Process::wait_output_end(std::chrono::milliseconds timeout) {
  MutexLock lock(mutex_);
  return changed_.wait_for(mutex_, timeout, [&]() RPCNET_NO_THREAD_SAFETY_ANALYSIS { return eof_; });
}

std::size_t Process::line_count() const {
  MutexLock lock(mutex_);
  return lines_.size();
}

std::vector<std::string> Process::lines(std::size_t from) const {
  MutexLock lock(mutex_);
  std::vector<std::string> out;
  for (std::size_t i = from; i < lines_.size(); ++i) out.push_back(lines_[i].text);
  return out;
}

ProcessClock::time_point Process::line_time(std::size_t index) const {
  MutexLock lock(mutex_);
  return lines_.at(index).at;
}

void Process::read_lines() {
  std::string partial;
  char buffer[4096];
  for (;;) {
    const ssize_t n = read(stdout_, buffer, sizeof buffer);
    if (n <= 0) break;
    partial.append(buffer, static_cast<std::size_t>(n));
    std::size_t newline;
    while ((newline = partial.find('\n')) != std::string::npos) {
      MutexLock lock(mutex_);
      lines_.push_back(Line{partial.substr(0, newline), ProcessClock::now()});
      partial.erase(0, newline + 1);
      changed_.notify_all();
    }
  }
  MutexLock lock(mutex_);
  if (!partial.empty()) lines_.push_back(Line{partial, ProcessClock::now()});  // no final newline
  eof_ = true;
  changed_.notify_all();
}

}  // namespace rpcnet::runtime
