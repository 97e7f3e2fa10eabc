// The library's side of rpcnet/log.h: RPCNET_LOG checks the component's level with one relaxed
// atomic load and evaluates the message and fields only when the record will be emitted, so a
// disabled log line on a hot path costs a load and a compare.
//
//   RPCNET_LOG(kTls, kWarn, "handshake failed", {{"conn", id}, {"alert", name}});
#pragma once

#include <atomic>
#include <cstdint>
#include <string>
#include <vector>

#include "rpcnet/log.h"

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

#define RPCNET_LOG_ENABLED(component, level)                                            \
  ::rpcnet::log_detail::log_enabled(::rpcnet::LogComponent::component,                  \
                                    ::rpcnet::LogLevel::level)
