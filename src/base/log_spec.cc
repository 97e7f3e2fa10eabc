#include "base/log_spec.h"

#include <optional>

namespace rpcnet::log_detail {

namespace {

std::string_view trim(std::string_view text) {
  const auto first = text.find_first_not_of(" \t");
  if (first == std::string_view::npos) return {};
  const auto last = text.find_last_not_of(" \t");
  return text.substr(first, last - first + 1);
}

}  // namespace

LogSpec parse_log_spec(std::string_view text) {
  LogSpec spec;
  std::optional<LogLevel> fallback;
  std::array<std::optional<LogLevel>, kLogComponentCount> named{};
  for (;;) {
    const auto comma = text.find(',');
    const std::string_view entry = trim(text.substr(0, comma));
    if (!entry.empty()) {
      const auto equals = entry.find('=');
      if (equals == std::string_view::npos) {
        if (auto level = parse_log_level(entry)) {
          fallback = level;
        } else {
          spec.rejected.emplace_back(entry);
        }
      } else {
        const auto component = parse_log_component(trim(entry.substr(0, equals)));
        const auto level = parse_log_level(trim(entry.substr(equals + 1)));
        if (component && level) {
          named[static_cast<std::size_t>(*component)] = level;
        } else {
          spec.rejected.emplace_back(entry);
        }
      }
    }
    if (comma == std::string_view::npos) break;
    text.remove_prefix(comma + 1);
  }
  for (std::size_t i = 0; i < kLogComponentCount; ++i) {
    spec.levels[i] = named[i].value_or(fallback.value_or(LogLevel::kOff));
  }
  return spec;
}

}  // namespace rpcnet::log_detail
