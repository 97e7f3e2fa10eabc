// The library's side of rpcnet/log.h: RPCNET_LOG checks the component's level with one relaxed
// atomic load and evaluates the message and fields only when the record will be emitted, so a
// disabled log line on a hot path costs a load and a compare.
//
//   RPCNET_LOG(kTls, kWarn, "handshake failed", {{"conn", id}, {"alert", name}});
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

#include "rpcnet/log.h"
#include "rpcnet/thread_annotations.h"

namespace rpcnet::log_detail {

// Until the first use reads RPCNET_LOG: the slow path reads it, then answers.
inline constexpr std::uint8_t kLevelsUnread = 0xff;
extern std::atomic<std::uint8_t> g_levels[kLogComponentCount];

bool enabled_after_reading_environment(LogComponent component, LogLevel level);

inline bool log_enabled(LogComponent component, LogLevel level) noexcept {
  const std::uint8_t current =
      g_levels[static_cast<std::size_t>(component)].load(std::memory_order_relaxed);
  if (current == kLevelsUnread) [[unlikely]] {
    return enabled_after_reading_environment(component, level);
  }
  return static_cast<std::uint8_t>(level) <= current;
}

// Builds the record and hands it to the sink. Never throws (a throwing sink is ignored).
void emit(LogComponent component, LogLevel level, std::string message,
          std::vector<LogField> fields = {}) noexcept;

// Caps one log site that a peer can trigger at will (a refused connection, a failed handshake, a
// reset stream), so a flood of them cannot flood the log: a token bucket of `per_second` records
// with a burst of the same. Records past it are dropped and counted; the next record let through
// carries `suppressed=<count>`.
class LogRateLimit {
 public:
  explicit LogRateLimit(double per_second) RPCNET_NO_THREAD_SAFETY_ANALYSIS  // nothing shared yet
      : per_second_(per_second), tokens_(per_second) {}

  // True if a record may go out at `now`; `suppressed` gets the number dropped since the last.
  bool admit(std::chrono::steady_clock::time_point now, std::uint64_t& suppressed) noexcept {
    MutexLock lock(mutex_);
    if (last_ != std::chrono::steady_clock::time_point{}) {
      tokens_ += per_second_ * std::chrono::duration<double>(now - last_).count();
      if (tokens_ > per_second_) tokens_ = per_second_;
    }
    last_ = now;
    if (tokens_ < 1) {
      ++dropped_;
      return false;
    }
    tokens_ -= 1;
    suppressed = dropped_;
    dropped_ = 0;
    return true;
  }

 private:
  Mutex mutex_;
  const double per_second_;
  double tokens_ RPCNET_GUARDED_BY(mutex_);
  std::chrono::steady_clock::time_point last_ RPCNET_GUARDED_BY(mutex_){};
  std::uint64_t dropped_ RPCNET_GUARDED_BY(mutex_) = 0;
};

// Records per second a peer-triggered log site may emit (RPCNET_LOG_LIMITED).
inline constexpr double kPeerTriggeredLogsPerSecond = 10;

inline void emit_limited(LogRateLimit& limit, LogComponent component, LogLevel level, std::string message,
                         std::vector<LogField> fields = {}) noexcept {
  std::uint64_t suppressed = 0;
  if (!limit.admit(std::chrono::steady_clock::now(), suppressed)) return;
  try {
    if (suppressed != 0) fields.push_back({"suppressed", std::to_string(suppressed)});
  } catch (...) {
    return;
  }
  emit(component, level, std::move(message), std::move(fields));
}

// Lower-case hex of `len` bytes: connection IDs in the `conn` field.
std::string hex(const std::uint8_t* data, std::size_t len);

}  // namespace rpcnet::log_detail

#define RPCNET_LOG(component, level, ...)                                               \
  do {                                                                                  \
    if (::rpcnet::log_detail::log_enabled(::rpcnet::LogComponent::component,            \
                                          ::rpcnet::LogLevel::level)) {                 \
      ::rpcnet::log_detail::emit(::rpcnet::LogComponent::component,                    \
                                 ::rpcnet::LogLevel::level, __VA_ARGS__);               \
    }                                                                                   \
  } while (false)

// RPCNET_LOG for a site a peer can trigger at will: at most kPeerTriggeredLogsPerSecond records
// a second from this site (LogRateLimit), the rest counted into the next one's `suppressed`.
#define RPCNET_LOG_LIMITED(component, level, ...)                                       \
  do {                                                                                  \
    if (::rpcnet::log_detail::log_enabled(::rpcnet::LogComponent::component,            \
                                          ::rpcnet::LogLevel::level)) {                 \
      static ::rpcnet::log_detail::LogRateLimit rpcnet_log_limit_(                      \
          ::rpcnet::log_detail::kPeerTriggeredLogsPerSecond);                          \
      ::rpcnet::log_detail::emit_limited(rpcnet_log_limit_, ::rpcnet::LogComponent::component, \
                                         ::rpcnet::LogLevel::level, __VA_ARGS__);        \
    }                                                                                   \
  } while (false)

#define RPCNET_LOG_ENABLED(component, level)                                            \
  ::rpcnet::log_detail::log_enabled(::rpcnet::LogComponent::component,                  \
                                    ::rpcnet::LogLevel::level)
