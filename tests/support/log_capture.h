// Captures rpcnet's log records for a test: installs a sink on construction, restores the
// default sink on destruction. Records arrive from any loop thread; wait_for() blocks (bounded)
// until one matches, since a peer's record may be logged after the call that caused it returned.
#pragma once

#include <chrono>
#include <condition_variable>
#include <functional>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "rpcnet/log.h"

namespace rpcnet::testing {

class LogCapture {
 public:
  explicit LogCapture(LogLevel level = LogLevel::kTrace) {
    set_log_sink(level, [this](const LogRecord& record) {
      std::lock_guard lock(mutex_);
      records_.push_back(record);
      changed_.notify_all();
    });
  }
  ~LogCapture() { restore_default_log_sink(); }
  LogCapture(const LogCapture&) = delete;
  LogCapture& operator=(const LogCapture&) = delete;

  std::vector<LogRecord> records() const {
    std::lock_guard lock(mutex_);
    return records_;
  }

  // The first record matching `match`, waiting up to `bound` for it; nullopt if none came.
  std::optional<LogRecord> wait_for(const std::function<bool(const LogRecord&)>& match,
                                    std::chrono::milliseconds bound = std::chrono::seconds(10)) {
    std::unique_lock lock(mutex_);
    std::optional<LogRecord> found;
    changed_.wait_for(lock, bound, [&] {
      for (const auto& record : records_) {
        if (match(record)) {
          found = record;
          return true;
        }
      }
      return false;
    });
    return found;
  }

  // Matches records by message and the value of one field ("" matches any value).
  static std::function<bool(const LogRecord&)> message_with(std::string message,
                                                            std::string key = "",
                                                            std::string value = "") {
    return [=](const LogRecord& record) {
      if (record.message != message) return false;
      if (key.empty()) return true;
      const std::string* field = record.field(key);
      return field != nullptr && (value.empty() || *field == value);
    };
  }

 private:
  mutable std::mutex mutex_;
  std::condition_variable changed_;
  std::vector<LogRecord> records_;
};

}  // namespace rpcnet::testing
