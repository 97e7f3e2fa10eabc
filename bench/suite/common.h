// Shared pieces of the rpcnet-vs-gRPC suite (`make bench`): scenario arguments, the result
// record a client run prints, time and statistics helpers, /proc readers.
//
// Process model: `rpcnet_bench run` (the orchestrator) spawns, for every scenario run, a server
// process (`rpcnet_bench server <impl> ...`, which prints "PORT <n>" on stdout) and a client
// process (`rpcnet_bench client <impl> <scenario> ...`, which prints "key value" lines on stdout),
// both exec'd from the same binary. A client that hangs or crashes costs that one run, not the
// suite.
#pragma once

#include <sched.h>
#include <time.h>
#include <sys/resource.h>
#include <sys/types.h>

#include <algorithm>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <fstream>
#include <map>
#include <string>
#include <thread>
#include <vector>

#include "base/percentile.h"

namespace bench {

using Clock = std::chrono::steady_clock;

inline Clock::duration seconds(double s) {
  return std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(s));
}
inline double micros(Clock::duration d) { return std::chrono::duration<double, std::micro>(d).count(); }
inline double secs(Clock::duration d) { return std::chrono::duration<double>(d).count(); }

// What a client run is asked to do. Every scenario runs `warm` seconds of traffic that is not
// counted, then `measure` seconds that are (connect and idle scenarios count connections).
struct ClientArgs {
  std::string impl;      // "rpcnet" | "grpc"
  std::string scenario;  // unary_seq | unary_conc | stream | bidi | connect | mixed | idle
  std::string ca_path;
  std::string host = "127.0.0.1";  // the server's address (IPv4 literal)
  std::string bind = "127.0.0.1";  // the client's own address
  std::uint16_t port = 0;
  pid_t server_pid = 0;
  double warm = 0.25;
  double measure = 1.0;
  int concurrency = 64;        // unary_conc: calls in flight
  std::size_t size = 1024;     // stream: message size; mixed: bulk message size
  std::size_t payload = 64;    // unary / bidi / small-call payload
  int window = 64;             // bidi: messages in flight
  int count = 100;             // connect: connections
  bool resumed = false;        // connect: with TLS session resumption
  int conns = 5000;            // idle: connections
  double rate = 1000;          // mixed: small calls per second (open loop)
};

// What a client run reports; printed as "key value" lines and parsed back by the orchestrator.
// A value the run could not produce is absent.
struct Sample {
  std::map<std::string, double> values;
  std::map<std::string, std::string> texts;  // non-numeric facts (the negotiated TLS suite), one line
  long errors = 0;
  void set(const std::string& key, double value) { values[key] = value; }
  void print() const {
    for (const auto& [key, value] : values) std::printf("%s %.6g\n", key.c_str(), value);
    for (const auto& [key, text] : texts) std::printf("%s %s\n", key.c_str(), text.c_str());
    std::printf("errors %ld\n", errors);
    std::fflush(stdout);
  }
};

// Reported p50/p99 use the project's one convention, nearest rank (base/percentile.h).
inline double percentile(const std::vector<double>& v, double fraction) {
  return rpcnet::percentile(v, fraction).value_or(0);
}

inline double median(std::vector<double> v) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  const std::size_t n = v.size();
  return n % 2 == 1 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

// Latency samples and completions inside the measurement window.
struct Window {
  Clock::time_point begin;
  Clock::time_point end;
  bool contains(Clock::time_point t) const { return t >= begin && t < end; }
  static Window after(double warm, double measure) {
    const auto now = Clock::now();
    return Window{now + seconds(warm), now + seconds(warm + measure)};
  }
};

// VmRSS of a process in kB, or -1.
inline long vm_rss_kb(pid_t pid) {
  std::ifstream status("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(status, line)) {
    if (line.rfind("VmRSS:", 0) == 0) return std::stol(line.substr(6));
  }
  return -1;
}

// utime + stime of a process in seconds, or -1.
inline double cpu_seconds(pid_t pid) {
  std::ifstream stat("/proc/" + std::to_string(pid) + "/stat");
  std::string text((std::istreambuf_iterator<char>(stat)), std::istreambuf_iterator<char>());
  const auto close = text.rfind(')');
  if (close == std::string::npos) return -1;
  std::vector<std::string> fields;
  std::size_t pos = close + 2;
  while (pos < text.size()) {
    const auto space = text.find(' ', pos);
    fields.push_back(text.substr(pos, space - pos));
    if (space == std::string::npos) break;
    pos = space + 1;
  }
  // fields[0] is field 3 (state); utime is field 14, stime field 15.
  if (fields.size() < 13) return -1;
  const double ticks = static_cast<double>(std::stoll(fields[11]) + std::stoll(fields[12]));
  return ticks / 100.0;  // USER_HZ is 100 on Linux
}

// CPU time (all threads, user + system) of a process in seconds with nanosecond resolution,
// through its CPU-time clock (clock_getcpuclockid: any process in our pid namespace, which the
// server is on every link), or -1. /proc/<pid>/stat counts 10 ms ticks: too coarse for a window.
inline double process_cpu_seconds(pid_t pid) {
  clockid_t clock = CLOCK_PROCESS_CPUTIME_ID;
  if (pid != 0 && ::clock_getcpuclockid(pid, &clock) != 0) return -1;
  timespec now{};
  if (::clock_gettime(clock, &now) != 0) return -1;
  return static_cast<double>(now.tv_sec) + static_cast<double>(now.tv_nsec) / 1e9;
}

// Client and server CPU over the measurement window only (not start-up, handshake, warm-up or
// the drain after it): a thread of the client process sleeps until the window opens, reads both
// processes' CPU clocks, sleeps until it closes and reads them again. It runs besides the
// scenario, so it works for either implementation's client loop; its own two wake-ups cost
// microseconds. Read the result after the window ended (the destructor joins).
class CpuWindow {
 public:
  CpuWindow(Window window, pid_t server_pid)
      : thread_([this, window, server_pid] {
          std::this_thread::sleep_until(window.begin);
          const double client0 = process_cpu_seconds(0), server0 = process_cpu_seconds(server_pid);
          std::this_thread::sleep_until(window.end);
          const double client1 = process_cpu_seconds(0), server1 = process_cpu_seconds(server_pid);
          if (client0 >= 0 && client1 >= 0) client_s_ = client1 - client0;
          if (server_pid > 0 && server0 >= 0 && server1 >= 0) server_s_ = server1 - server0;
        }) {}
  ~CpuWindow() { join(); }
  CpuWindow(const CpuWindow&) = delete;
  CpuWindow& operator=(const CpuWindow&) = delete;

  // Sets cpu_us_per_call (client + server), client_ and server_cpu_us_per_call from `calls`
  // completed in the window; nothing if a clock could not be read or no call completed.
  void report(Sample& sample, double calls) {
    join();
    if (client_s_ < 0 || server_s_ < 0 || calls <= 0) return;
    sample.set("client_cpu_us_per_call", client_s_ * 1e6 / calls);
    sample.set("server_cpu_us_per_call", server_s_ * 1e6 / calls);
    sample.set("cpu_us_per_call", (client_s_ + server_s_) * 1e6 / calls);
  }

 private:
  void join() {
    if (thread_.joinable()) thread_.join();
  }
  double client_s_ = -1;
  double server_s_ = -1;
  std::thread thread_;
};

// Busy CPU seconds of the whole machine so far (all cores: user+nice+system+irq+softirq+steal),
// from /proc/stat; -1 if unreadable. The difference over a run, minus the client's and the
// server's own CPU, is what other processes took meanwhile (the machine is shared).
inline double machine_busy_seconds() {
  std::ifstream stat("/proc/stat");
  std::string cpu;
  long long user = 0, nice = 0, system = 0, idle = 0, iowait = 0, irq = 0, softirq = 0, steal = 0;
  if (!(stat >> cpu >> user >> nice >> system >> idle >> iowait >> irq >> softirq >> steal) || cpu != "cpu") {
    return -1;
  }
  return static_cast<double>(user + nice + system + irq + softirq + steal) / 100.0;
}

// Pins the calling process (and every thread it starts afterwards) to one CPU; a negative cpu
// leaves it unpinned. Server and client call it first thing, before any thread exists.
inline bool pin_to_cpu(int cpu) {
  if (cpu < 0) return true;
  cpu_set_t set;
  CPU_ZERO(&set);
  CPU_SET(cpu, &set);
  if (::sched_setaffinity(0, sizeof set, &set) == 0) return true;
  std::fprintf(stderr, "bench: cannot pin to CPU %d\n", cpu);
  return false;
}

// Both server and client raise their descriptor limit to the hard limit (5,000 idle
// connections need as many sockets on each side).
inline void raise_nofile_limit() {
  rlimit limit{};
  if (::getrlimit(RLIMIT_NOFILE, &limit) == 0 && limit.rlim_cur < limit.rlim_max) {
    limit.rlim_cur = limit.rlim_max;
    (void)::setrlimit(RLIMIT_NOFILE, &limit);
  }
}

// The server-streaming request: count and size, 16 bytes little-endian (rpcnet side).
inline std::vector<std::uint8_t> encode_stream_request(std::uint64_t count, std::uint64_t size) {
  std::vector<std::uint8_t> out(16);
  for (int i = 0; i < 8; ++i) {
    out[static_cast<std::size_t>(i)] = static_cast<std::uint8_t>(count >> (8 * i));
    out[static_cast<std::size_t>(8 + i)] = static_cast<std::uint8_t>(size >> (8 * i));
  }
  return out;
}
inline bool decode_stream_request(const std::vector<std::uint8_t>& in, std::uint64_t& count,
                                  std::uint64_t& size) {
  if (in.size() != 16) return false;
  count = 0;
  size = 0;
  for (int i = 0; i < 8; ++i) {
    count |= static_cast<std::uint64_t>(in[static_cast<std::size_t>(i)]) << (8 * i);
    size |= static_cast<std::uint64_t>(in[static_cast<std::size_t>(8 + i)]) << (8 * i);
  }
  return true;
}

// A stream "long enough": the client cancels it when its window ends.
inline constexpr std::uint64_t kEndlessCount = std::uint64_t{1} << 40;

}  // namespace bench
