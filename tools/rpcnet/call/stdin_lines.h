// Lines of standard input for a coroutine, read on a thread of their own: a blocking read
// must not stall the event loop that also carries the call (bidirectional calls answer each
// line as it comes, so a person can type them).
//
// The reader thread is detached and owns, with the StdinLines, the shared queue: the process
// may exit while it still waits for input that never comes.
#pragma once

#include <asio/awaitable.hpp>
#include <memory>
#include <optional>
#include <string>

namespace rpcnet::tool {

class StdinLines {
 public:
  // Starts the reader thread.
  StdinLines();

  // The next line without its newline; nullopt at the end of input. Blank lines are skipped.
  asio::awaitable<std::optional<std::string>> next();

  struct Shared;

 private:
  std::shared_ptr<Shared> shared_;
};

// All of standard input, as it is (for unary requests given as "-" and for --raw).
std::string read_all_stdin();

}  // namespace rpcnet::tool
