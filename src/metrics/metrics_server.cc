// MetricsServer: one coroutine accepts, one per connection reads a request head (bounded in
// size and time), answers and closes. All of it on the server's own single-threaded loop.
#include "rpcnet/metrics_server.h"

#include <asio/co_spawn.hpp>
#include <asio/detached.hpp>
#include <asio/experimental/as_tuple.hpp>
#include <asio/experimental/awaitable_operators.hpp>
#include <asio/ip/tcp.hpp>
#include <asio/steady_timer.hpp>
#include <asio/this_coro.hpp>
#include <asio/use_awaitable.hpp>
#include <asio/write.hpp>
#include <atomic>
#include <optional>
#include <variant>

#include "metrics/http_request.h"
#include "rpcnet/runtime.h"

namespace rpcnet {

using asio::experimental::as_tuple;
using namespace asio::experimental::awaitable_operators;
using metrics::HttpRequestHead;

namespace {

constexpr std::string_view kExpositionType = "text/plain; version=0.0.4; charset=utf-8";
constexpr std::string_view kTextType = "text/plain; charset=utf-8";
// A 408 goes to a peer that has already been too slow: give the answer itself a short bound.
constexpr std::chrono::seconds kTimeoutAnswerLimit{1};

asio::awaitable<void> sleep_for(std::chrono::steady_clock::duration duration) {
  asio::steady_timer timer(co_await asio::this_coro::executor, duration);
  (void)co_await timer.async_wait(as_tuple(asio::use_awaitable));
}

}  // namespace

struct MetricsServer::State {
  State(MetricsRegistry& served, MetricsServerOptions limits) : registry(served), options(limits) {}

  MetricsRegistry& registry;
  const MetricsServerOptions options;
  Runtime runtime{1};  // declared before the acceptor: destroyed after it
  std::optional<asio::ip::tcp::acceptor> acceptor;
  SocketAddress bound;
  std::size_t connections = 0;  // touched only on the loop
  std::atomic<std::uint64_t> requests{0};
  std::atomic<std::uint64_t> connections_refused{0};

  asio::awaitable<void> accept_loop();
  asio::awaitable<void> serve_connection(asio::ip::tcp::socket socket);
  asio::awaitable<HttpRequestHead> read_head(asio::ip::tcp::socket& socket);
  std::string answer(const HttpRequestHead& head);
};

asio::awaitable<void> MetricsServer::State::accept_loop() {
  for (;;) {
    auto [error, socket] = co_await acceptor->async_accept(as_tuple(asio::use_awaitable));
    if (error == asio::error::operation_aborted || !acceptor->is_open()) co_return;
    if (error) {
      // E.g. out of file descriptors: back off instead of spinning on the same failure.
      co_await sleep_for(std::chrono::milliseconds(50));
      continue;
    }
    if (connections >= options.max_connections) {
      connections_refused.fetch_add(1, std::memory_order_relaxed);
      continue;  // `socket` closes as it goes out of scope
    }
    ++connections;
    asio::co_spawn(acceptor->get_executor(), serve_connection(std::move(socket)), asio::detached);
  }
}

asio::awaitable<HttpRequestHead> MetricsServer::State::read_head(asio::ip::tcp::socket& socket) {
  std::string buffer;
  char chunk[1024];
  for (;;) {
    auto [error, received] = co_await socket.async_read_some(asio::buffer(chunk), as_tuple(asio::use_awaitable));
    if (error) {
      HttpRequestHead gone;  // the peer left: nothing to answer
      gone.outcome = HttpRequestHead::Outcome::kBad;
      co_return gone;
    }
    buffer.append(chunk, received);
    HttpRequestHead head = metrics::parse_http_request_head(buffer, options.max_request_bytes);
    if (head.outcome != HttpRequestHead::Outcome::kIncomplete) co_return head;
  }
}

std::string MetricsServer::State::answer(const HttpRequestHead& head) {
  if (head.outcome == HttpRequestHead::Outcome::kBad) {
    return metrics::http_response(head.status, kTextType, "malformed request\n");
  }
  if (head.method != "GET") {
    return metrics::http_response(405, kTextType, "only GET is served\n", "Allow: GET\r\n");
  }
  if (head.path != "/metrics") return metrics::http_response(404, kTextType, "only /metrics is served\n");
  return metrics::http_response(200, kExpositionType, registry.prometheus_text());
}

asio::awaitable<void> MetricsServer::State::serve_connection(asio::ip::tcp::socket socket) {
  struct Slot {
    std::size_t& count;
    ~Slot() { --count; }
  } slot{connections};

  auto reading = read_head(socket);
  auto read_or_timeout = co_await (std::move(reading) || sleep_for(options.request_timeout));
  std::string response;
  std::chrono::steady_clock::duration write_limit = options.request_timeout;
  if (read_or_timeout.index() == 0) {
    const HttpRequestHead& head = std::get<0>(read_or_timeout);
    if (head.outcome == HttpRequestHead::Outcome::kBad && head.status == 0) co_return;  // peer left
    response = answer(head);
  } else {
    response = metrics::http_response(408, kTextType, "request not complete in time\n");
    write_limit = kTimeoutAnswerLimit;
  }
  requests.fetch_add(1, std::memory_order_relaxed);
  auto writing = asio::async_write(socket, asio::buffer(response), as_tuple(asio::use_awaitable));
  (void)co_await (std::move(writing) || sleep_for(write_limit));
  std::error_code ignored;
  socket.shutdown(asio::ip::tcp::socket::shutdown_both, ignored);
}

MetricsServer::MetricsServer(std::unique_ptr<State> state) : state_(std::move(state)) {}

MetricsServer::~MetricsServer() {
  // Joins the loop thread and destroys the connection coroutines while the loop still exists.
  state_->runtime.shutdown();
}

Result<std::unique_ptr<MetricsServer>> MetricsServer::start(const SocketAddress& address,
                                                           MetricsRegistry& registry,
                                                           MetricsServerOptions options) {
  auto state = std::make_unique<State>(registry, options);
  const asio::ip::tcp::endpoint endpoint(address.address(), address.port());
  asio::ip::tcp::acceptor acceptor(state->runtime.executor(0));
  std::error_code error;
  acceptor.open(endpoint.protocol(), error);
  if (!error) acceptor.set_option(asio::socket_base::reuse_address(true), error);
  if (!error) acceptor.bind(endpoint, error);
  if (!error) acceptor.listen(asio::socket_base::max_listen_connections, error);
  if (error) {
    return RpcError::io("metrics endpoint cannot listen on " + to_string(address) + ": " + error.message());
  }
  const auto local = acceptor.local_endpoint();
  state->bound = SocketAddress(local.address(), local.port());
  state->acceptor.emplace(std::move(acceptor));
  State& raw = *state;
  asio::co_spawn(raw.runtime.executor(0), raw.accept_loop(), asio::detached);
  return std::unique_ptr<MetricsServer>(new MetricsServer(std::move(state)));
}

SocketAddress MetricsServer::address() const { return state_->bound; }

MetricsServer::Stats MetricsServer::stats() const {
  return Stats{state_->requests.load(std::memory_order_relaxed),
               state_->connections_refused.load(std::memory_order_relaxed)};
}

}  // namespace rpcnet
