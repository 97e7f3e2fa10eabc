#include "stdin_lines.h"

#include <deque>
#include <iostream>
#include <iterator>
#include <mutex>
#include <thread>

#include "runtime/event.h"

namespace rpcnet::tool {

struct StdinLines::Shared {
  std::mutex mutex;
  std::deque<std::string> lines;
  bool ended = false;
  // Set (and replaced) whenever a line arrives or input ends.
  std::shared_ptr<runtime::Event> changed = std::make_shared<runtime::Event>();

  void publish(std::optional<std::string> line) {
    std::shared_ptr<runtime::Event> wake;
    {
      std::lock_guard lock(mutex);
      if (line) {
        lines.push_back(std::move(*line));
      } else {
        ended = true;
      }
      wake = std::exchange(changed, std::make_shared<runtime::Event>());
    }
    wake->set();
  }
};

StdinLines::StdinLines() : shared_(std::make_shared<Shared>()) {
  std::thread([shared = shared_] {
    for (std::string line; std::getline(std::cin, line);) {
      if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
      shared->publish(std::move(line));
    }
    shared->publish(std::nullopt);
  }).detach();
}

asio::awaitable<std::optional<std::string>> StdinLines::next() {
  for (;;) {
    std::shared_ptr<runtime::Event> changed;
    {
      std::lock_guard lock(shared_->mutex);
      if (!shared_->lines.empty()) {
        std::string line = std::move(shared_->lines.front());
        shared_->lines.pop_front();
        co_return line;
      }
      if (shared_->ended) co_return std::nullopt;
      changed = shared_->changed;
    }
    co_await changed->wait();
  }
}

std::string read_all_stdin() {
  std::cin >> std::noskipws;
  return std::string(std::istreambuf_iterator<char>(std::cin), std::istreambuf_iterator<char>());
}

}  // namespace rpcnet::tool
