#include <time.h>

#include <cstdio>
#include <cstdlib>
#include <mutex>
#include <utility>

#include "base/log_spec.h"
#include "base/logging.h"

namespace rpcnet {

namespace log_detail {

std::atomic<std::uint8_t> g_levels[kLogComponentCount] = {
    kLevelsUnread, kLevelsUnread, kLevelsUnread, kLevelsUnread, kLevelsUnread};

namespace {

struct SinkSlot {
  std::mutex mutex;  // serialises sink calls and sink replacement
  LogSink sink;      // empty: the default stderr sink
};

SinkSlot& slot() {
  static SinkSlot* instance = new SinkSlot();  // never destroyed: loops may log during exit
  return *instance;
}

// Set while this thread is inside the sink: a record logged from there is dropped, not
// deadlocked on the slot's mutex.
thread_local bool t_in_sink = false;

void store_levels(const std::array<LogLevel, kLogComponentCount>& levels) {
  for (std::size_t i = 0; i < kLogComponentCount; ++i) {
    g_levels[i].store(static_cast<std::uint8_t>(levels[i]), std::memory_order_relaxed);
  }
}

std::array<LogLevel, kLogComponentCount> levels_from_environment() {
  const char* text = std::getenv("RPCNET_LOG");
  LogSpec spec = parse_log_spec(text ? text : "");
  static std::once_flag reported;
  if (!spec.rejected.empty()) {
    std::call_once(reported, [&] {
      for (const auto& entry : spec.rejected) {
        std::fprintf(stderr,
                     "rpcnet: RPCNET_LOG: ignoring \"%s\" (expected a level or component=level; "
                     "levels off error warn info debug trace; components quic tls rpc cluster "
                     "membership)\n",
                     entry.c_str());
      }
    });
  }
  return spec.levels;
}

std::once_flag g_environment_read;

void read_environment_once() {
  std::call_once(g_environment_read, [] { store_levels(levels_from_environment()); });
}

void write_default(const LogRecord& record) {
  std::string line = format_log_record(record);
  line += '\n';
  std::fwrite(line.data(), 1, line.size(), stderr);
}

bool needs_quotes(std::string_view value) {
  if (value.empty()) return true;
  for (const char c : value) {
    const auto byte = static_cast<unsigned char>(c);
    if (byte <= ' ' || byte == 0x7f || c == '"' || c == '=' || c == '\\') return true;
  }
  return false;
}

void append_value(std::string& out, std::string_view value) {
  if (!needs_quotes(value)) {
    out += value;
    return;
  }
  out += '"';
  for (const char c : value) {
    const auto byte = static_cast<unsigned char>(c);
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
      default:
        if (byte < 0x20 || byte == 0x7f) {
          char escaped[5];
          std::snprintf(escaped, sizeof escaped, "\\x%02x", byte);
          out += escaped;
        } else {
          out += c;
        }
    }
  }
  out += '"';
}

}  // namespace

bool enabled_after_reading_environment(LogComponent component, LogLevel level) {
  read_environment_once();
  return static_cast<std::uint8_t>(level) <=
         g_levels[static_cast<std::size_t>(component)].load(std::memory_order_relaxed);
}

void emit(LogComponent component, LogLevel level, std::string message,
          std::vector<LogField> fields) noexcept {
  if (t_in_sink) return;
  try {
    LogRecord record{std::chrono::system_clock::now(), level, component, std::move(message),
                     std::move(fields)};
    SinkSlot& s = slot();
    std::lock_guard lock(s.mutex);
    t_in_sink = true;
    try {
      if (s.sink) {
        s.sink(record);
      } else {
        write_default(record);
      }
    } catch (...) {
      // A throwing sink loses its record, never the caller (often inside an ngtcp2 callback).
    }
    t_in_sink = false;
  } catch (...) {
    // Out of memory building the record: the record is lost.
  }
}

std::string hex(const std::uint8_t* data, std::size_t len) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string out(2 * len, '0');
  for (std::size_t i = 0; i < len; ++i) {
    out[2 * i] = kDigits[data[i] >> 4];
    out[2 * i + 1] = kDigits[data[i] & 0xf];
  }
  return out;
}

}  // namespace log_detail

const std::string* LogRecord::field(std::string_view key) const {
  for (const auto& f : fields) {
    if (f.key == key) return &f.value;
  }
  return nullptr;
}

void set_log_sink(LogLevel level, LogSink sink) {
  log_detail::read_environment_once();  // so that a later first use does not overwrite `level`
  auto& s = log_detail::slot();
  LogSink old;
  {
    std::lock_guard lock(s.mutex);
    old = std::exchange(s.sink, std::move(sink));
    std::array<LogLevel, kLogComponentCount> levels;
    levels.fill(level);
    log_detail::store_levels(levels);
  }
  // `old` is destroyed here, outside the lock, in case its captures log on destruction.
}

void restore_default_log_sink() {
  log_detail::read_environment_once();
  auto& s = log_detail::slot();
  LogSink old;
  {
    std::lock_guard lock(s.mutex);
    old = std::exchange(s.sink, nullptr);
    log_detail::store_levels(log_detail::levels_from_environment());
  }
}

void set_log_level(LogComponent component, LogLevel level) {
  log_detail::read_environment_once();
  log_detail::g_levels[static_cast<std::size_t>(component)].store(
      static_cast<std::uint8_t>(level), std::memory_order_relaxed);
}

LogLevel log_level(LogComponent component) {
  log_detail::read_environment_once();
  return static_cast<LogLevel>(
      log_detail::g_levels[static_cast<std::size_t>(component)].load(std::memory_order_relaxed));
}

namespace {
constexpr std::string_view kLevelNames[] = {"off", "error", "warn", "info", "debug", "trace"};
constexpr std::string_view kComponentNames[] = {"quic", "tls", "rpc", "cluster", "membership"};

bool equals_ignoring_case(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    char c = a[i];
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
    if (c != b[i]) return false;
  }
  return true;
}
}  // namespace

std::string_view to_string(LogLevel level) {
  const auto i = static_cast<std::size_t>(level);
  return i < std::size(kLevelNames) ? kLevelNames[i] : "unknown";
}

std::string_view to_string(LogComponent component) {
  const auto i = static_cast<std::size_t>(component);
  return i < std::size(kComponentNames) ? kComponentNames[i] : "unknown";
}

std::optional<LogLevel> parse_log_level(std::string_view text) {
  for (std::size_t i = 0; i < std::size(kLevelNames); ++i) {
    if (equals_ignoring_case(text, kLevelNames[i])) return static_cast<LogLevel>(i);
  }
  return std::nullopt;
}

std::optional<LogComponent> parse_log_component(std::string_view text) {
  for (std::size_t i = 0; i < std::size(kComponentNames); ++i) {
    if (equals_ignoring_case(text, kComponentNames[i])) return static_cast<LogComponent>(i);
  }
  return std::nullopt;
}

std::string format_log_record(const LogRecord& record) {
  const auto since_epoch = record.time.time_since_epoch();
  const auto seconds = std::chrono::floor<std::chrono::seconds>(since_epoch);
  const auto millis =
      std::chrono::duration_cast<std::chrono::milliseconds>(since_epoch - seconds).count();
  const time_t t = static_cast<time_t>(seconds.count());
  struct tm utc {};
  gmtime_r(&t, &utc);
  char stamp[40];
  const std::size_t n = std::strftime(stamp, sizeof stamp, "%Y-%m-%dT%H:%M:%S", &utc);
  std::snprintf(stamp + n, sizeof stamp - n, ".%03dZ", static_cast<int>(millis));

  std::string out = "time=";
  out += stamp;
  out += " level=";
  out += to_string(record.level);
  out += " component=";
  out += to_string(record.component);
  out += " msg=";
  log_detail::append_value(out, record.message);
  for (const auto& field : record.fields) {
    out += ' ';
    out += field.key;
    out += '=';
    log_detail::append_value(out, field.value);
  }
  return out;
}

}  // namespace rpcnet
