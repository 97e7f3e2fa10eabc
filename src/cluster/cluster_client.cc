// ClusterClient: selection (WorkerRegistry), a connection pool, and the retry loop
// (retry_policy.h). Everything but worker_stats runs on the client's own event loop, so the pool
// needs no lock. Times and waits use the clock of the RPC config (virtual on an in-memory network).
#include "rpcnet/cluster/cluster_client.h"

#include <asio/experimental/as_tuple.hpp>
#include <asio/experimental/awaitable_operators.hpp>
#include <asio/steady_timer.hpp>
#include <asio/this_coro.hpp>
#include <asio/use_awaitable.hpp>
#include <algorithm>
#include <map>
#include <set>

#include "cluster/cluster_metrics.h"
#include "base/logging.h"
#include "cluster/pooled_connection.h"
#include "cluster/prng.h"
#include "rpcnet/cluster/hedge_policy.h"
#include "rpcnet/testing/in_memory_network.h"
#include "rpcnet/thread_annotations.h"
#include "runtime/clock.h"
#include "runtime/cross_loop.h"
#include "runtime/event.h"
#include "runtime/event_wait.h"
#include "runtime/memory_network.h"
#include "runtime/timer.h"

namespace rpcnet::cluster {

namespace {

using Clock = std::chrono::steady_clock;

std::chrono::milliseconds ceil_ms(Clock::duration d) {
  return std::max(std::chrono::milliseconds(1), std::chrono::ceil<std::chrono::milliseconds>(d));
}

// One pooled connection per worker; a connect in progress is shared by the calls that need it.
struct Pooled {
  std::optional<RpcClient> client;
  WorkerInfo made_for;  // the worker as selected when `client` was connected
  // Counts connects, so that a call failing late on a connection the pool has already replaced
  // (e.g. dropped because its worker restarted) neither drops the new one nor ejects the worker.
  std::uint64_t generation = 0;
  bool connecting = false;
  std::shared_ptr<runtime::Event> connected;  // set when the connect in progress ends
  std::optional<RpcError> connect_error;
};

struct PooledClient {
  RpcClient client;
  std::uint64_t generation;
};

}  // namespace

runtime::Clock clock_of(const RpcConfig& config) {
  return config.network() ? config.network()->implementation().clock() : runtime::Clock();
}

struct ClusterClient::State {
  State(std::shared_ptr<WorkerRegistry> registry_in, ClusterClientConfig config_in, asio::any_io_executor executor_in)
      : registry(std::move(registry_in)),
        config(std::move(config_in)),
        executor(std::move(executor_in)),
        clock(clock_of(config.rpc)),
        budget(config.retry, clock.now()),
        hedging(config.hedge_percentile, config.hedge_min_delay),
        rng(entropy_seed(), "cluster_client") {}

  std::shared_ptr<WorkerRegistry> registry;
  ClusterClientConfig config;
  asio::any_io_executor executor;
  runtime::Clock clock;                                    // the RPC config's
  RetryBudget budget;                                      // loop only: retries and hedges
  HedgePolicy hedging;                                     // loop only
  Prng rng;                                                // loop only: retry jitter
  std::map<std::string, std::shared_ptr<Pooled>> pool;     // loop only

  mutable Mutex stats_mutex;  // worker_stats() and stats() read these from any thread
  std::map<std::string, WorkerStats> stats RPCNET_GUARDED_BY(stats_mutex);
  ClusterClientStats totals RPCNET_GUARDED_BY(stats_mutex);

  void count(std::uint64_t ClusterClientStats::*counter) {
    MutexLock lock(stats_mutex);
    ++(totals.*counter);
  }
  void count_retry_plan(RetryVerdict verdict) {
    if (verdict == RetryVerdict::kRetry) count(&ClusterClientStats::retries);
    if (verdict == RetryVerdict::kBudgetExhausted) count(&ClusterClientStats::retries_suppressed_by_budget);
  }
  void record_attempt(const std::string& id) {
    MutexLock lock(stats_mutex);
    WorkerStats& s = stats[id];
    s.id = id;
    ++s.attempts;
    s.last_routed = clock.now();
  }
  void record_failure(const std::string& id) {
    MutexLock lock(stats_mutex);
    ++stats[id].failures;
  }
  // `generation`: of the connection a call failed on; nullopt when connecting failed.
  void connection_failed(const std::string& id, std::optional<std::uint64_t> generation = std::nullopt) {
    const auto it = pool.find(id);
    if (generation && it != pool.end() && it->second->generation != *generation) return;
    if (it != pool.end() && !it->second->connecting) it->second->client.reset();
    registry->eject(id, config.ejection);
    count(&ClusterClientStats::ejections);
    RPCNET_LOG(kCluster, kWarn, "worker ejected",
               {{"worker", id},
                {"for_ms", std::to_string(config.ejection.count())},
                {"reason", generation ? "a call failed on its connection" : "connecting to it failed"}});
  }
};

namespace {

using State = ClusterClient::State;

// Waits until `at` on the client's clock; a cancellation (a hedge losing its race) ends the wait
// early, without an error, as it ends an asio::steady_timer wait. A virtual runtime::Timer wait
// ignores per-operation cancellation, so there the wait is on an Event the timer sets.
asio::awaitable<void> wait_until(const State& s, Clock::time_point at) {
  if (s.clock.timeline() == nullptr) {
    asio::steady_timer timer(s.executor, at);
    (void)co_await timer.async_wait(asio::experimental::as_tuple(asio::use_awaitable));
    co_return;
  }
  auto fired = std::make_shared<runtime::Event>();
  runtime::Timer timer(s.executor, s.clock);
  timer.expires_at(at);
  timer.async_wait([fired](const asio::error_code& error) {
    if (!error) fired->set();
  });
  (void)co_await fired->async_wait(asio::experimental::as_tuple(asio::use_awaitable));
}

// Waits for a connect in progress to end, or `deadline` on the client's clock.
asio::awaitable<runtime::WaitEnd> wait_for_connect(const State& s, runtime::Event& connected, Clock::time_point deadline) {
  if (s.clock.timeline() == nullptr) co_return co_await runtime::wait_until(connected, deadline);
  using namespace asio::experimental::awaitable_operators;
  auto connect_ended = connected.wait();
  auto deadline_passed = wait_until(s, deadline);
  try {
    (void)co_await (std::move(connect_ended) || std::move(deadline_passed));
  } catch (const asio::multiple_exceptions&) {
    co_return runtime::WaitEnd::kCancelled;
  }
  co_return connected.is_set() ? runtime::WaitEnd::kSet : runtime::WaitEnd::kTimedOut;
}

asio::awaitable<Result<PooledClient>> pooled_connection(std::shared_ptr<State> s, WorkerInfo worker,
                                                       Clock::time_point deadline) {
  auto& slot = s->pool[worker.id];
  if (!slot) slot = std::make_shared<Pooled>();
  const std::shared_ptr<Pooled> entry = slot;
  while (entry->connecting) {
    const std::shared_ptr<runtime::Event> connected = entry->connected;
    if (co_await wait_for_connect(*s, *connected, deadline) == runtime::WaitEnd::kCancelled) {
      co_return RpcError::cancelled("the wait for a connect to " + worker.id + " was cancelled");
    }
    if (s->clock.now() >= deadline && entry->connecting) co_return RpcError::timeout("connect to " + worker.id + " timed out");
  }
  if (entry->client) {
    const PooledVerdict verdict = judge_pooled_connection(entry->client->is_connected(), entry->made_for, worker);
    if (verdict == PooledVerdict::kReuse) co_return PooledClient{*entry->client, entry->generation};
    // A restarted worker's old process is gone: calls still waiting on its connection fail now
    // (kConnection) instead of at the idle timeout.
    if (verdict == PooledVerdict::kRestarted) s->count(&ClusterClientStats::connections_dropped_for_restart);
    entry->client->close();
    entry->client.reset();
  }
  entry->connecting = true;
  entry->connected = std::make_shared<runtime::Event>();
  entry->made_for = worker;
  ++entry->generation;
  RpcConfig config = s->config.rpc;
  config.with_connect_timeout(std::min(config.connect_timeout(), ceil_ms(deadline - s->clock.now())));
  auto connected = co_await RpcClient::connect(worker.address, config);
  entry->connecting = false;
  std::exchange(entry->connected, nullptr)->set();
  if (!connected) {
    entry->connect_error = connected.error();
    // The connect timeout was cut to the call's deadline: when that is what ran out, the call
    // failed by its deadline (DEADLINE_EXCEEDED), not because the worker is unreachable.
    if (s->clock.now() >= deadline) co_return RpcError::timeout("deadline exceeded while connecting to " + worker.id);
    co_return connected.error();
  }
  entry->client = *connected;
  co_return PooledClient{std::move(*connected), entry->generation};
}

// The result of one attempt, with what the retry logic needs to know about it.
asio::awaitable<Result<Bytes>> unary_attempt(std::shared_ptr<State> s, WorkerInfo worker, std::string method,
                                             Bytes data, CallOptions options, Clock::time_point deadline) {
  s->record_attempt(worker.id);
  auto client = co_await pooled_connection(s, worker, deadline);
  if (!client) {
    s->record_failure(worker.id);
    s->connection_failed(worker.id);
    RpcError error = client.error();
    co_return std::move(error.mark_not_started());
  }
  options.timeout = ceil_ms(deadline - s->clock.now());
  s->registry->call_started(worker.id);
  const auto started = s->clock.now();
  auto reply = co_await client->client.call(method, std::move(data), options);
  const auto latency = s->clock.now() - started;
  s->registry->call_finished(worker.id, latency, !reply.ok());
  s->hedging.on_attempt_ended(latency, reply ? AttemptOutcome::kSucceeded : attempt_outcome(reply.error()));
  if (!reply) {
    s->record_failure(worker.id);
    if (reply.error().kind() == ErrorKind::kConnection) s->connection_failed(worker.id, client->generation);
  }
  co_return reply;
}

// A second attempt on another worker after `delay`, paid for with a retry-budget token taken
// when it fires. With no other worker or no token it never answers before the deadline: the
// first attempt then decides alone.
asio::awaitable<Result<Bytes>> hedge_attempt(std::shared_ptr<State> s, TagFilter filter, std::string first_id,
                                             std::string method, Bytes data, CallOptions options,
                                             Clock::time_point deadline, Clock::duration delay) {
  co_await wait_until(*s, s->clock.now() + delay);
  auto worker = s->registry->select_worker(filter, {first_id});
  const bool other_worker = worker && worker->id != first_id;
  const bool paid = other_worker && s->budget.try_withdraw(s->clock.now());
  if (other_worker) {
    s->count(paid ? &ClusterClientStats::hedges : &ClusterClientStats::hedges_suppressed_by_budget);
  }
  if (!paid) {
    co_await wait_until(*s, deadline);
    co_return RpcError::timeout(other_worker ? "no hedge: the retry budget is empty" : "no second worker to hedge on");
  }
  co_return co_await unary_attempt(s, std::move(*worker), std::move(method), std::move(data), std::move(options),
                                   deadline);
}

asio::awaitable<Result<Bytes>> hedged_attempt(std::shared_ptr<State> s, WorkerInfo first, TagFilter filter,
                                              std::string method, Bytes data, CallOptions options,
                                              Clock::time_point deadline, Clock::duration delay) {
  using namespace asio::experimental::awaitable_operators;
  const std::string first_id = first.id;
  auto primary = unary_attempt(s, std::move(first), method, data, options, deadline);
  auto backup = hedge_attempt(s, std::move(filter), first_id, method, std::move(data), std::move(options), deadline,
                              delay);
  auto winner = co_await (std::move(primary) || std::move(backup));
  if (winner.index() == 0) co_return std::get<0>(std::move(winner));
  co_return std::get<1>(std::move(winner));
}

asio::awaitable<Result<Bytes>> call_with_retries(std::shared_ptr<State> s, std::string method, Bytes data,
                                                 TagFilter filter, WorkerCallOptions options) {
  const auto start = s->clock.now();
  const auto overall = start + options.timeout.value_or(s->config.rpc.default_timeout());
  const RetryPolicy& policy = s->config.retry;
  s->budget.deposit(start);
  std::set<std::string> tried;
  std::optional<RpcError> last;
  // What every attempt sends; each one sets its own timeout (and draws its own span id).
  CallOptions per_attempt;
  per_attempt.metadata = std::move(options.metadata);
  per_attempt.trace_parent = options.trace_parent;
  for (int attempt = 1;; ++attempt) {
    auto worker = s->registry->select_worker(filter, tried);
    if (!worker && !tried.empty()) worker = s->registry->select_worker(filter);  // all tried once
    if (!worker) co_return last ? *last : worker.error();
    const auto now = s->clock.now();
    auto deadline = attempt_deadline(overall, now, policy.min_attempt_time);
    if (!deadline) co_return last ? *last : RpcError::timeout("deadline exceeded before a worker was tried");
    if (options.idempotent && options.attempt_timeout) deadline = std::min(*deadline, now + *options.attempt_timeout);
    const std::string id = worker->id;
    std::optional<Clock::duration> hedge;
    if (attempt == 1 && options.hedge && options.idempotent) hedge = s->hedging.delay();
    Result<Bytes> reply = RpcError::cancelled();
    if (hedge) {
      reply = co_await hedged_attempt(s, std::move(*worker), filter, method, data, per_attempt, *deadline, *hedge);
    } else {
      reply = co_await unary_attempt(s, std::move(*worker), method, data, per_attempt, *deadline);
    }
    if (reply) co_return reply;
    RpcError error = std::move(reply).error();
    tried.insert(id);
    const RetryPlan plan = plan_retry(policy, s->budget, error, options.idempotent, error.not_started(), attempt,
                                      overall, s->clock.now(), s->rng.next());
    s->count_retry_plan(plan.verdict);
    if (plan.verdict != RetryVerdict::kRetry) co_return error;
    last = std::move(error);
    if (plan.start > s->clock.now()) {
      co_await wait_until(*s, plan.start);
    }
  }
}

// Opens a streaming call on some worker, retrying only failures to connect or open.
template <class T, class Open>
asio::awaitable<Result<T>> open_with_retries(std::shared_ptr<State> s, TagFilter filter, WorkerCallOptions options,
                                             Open open) {
  const auto overall = s->clock.now() + options.timeout.value_or(s->config.rpc.default_timeout());
  s->budget.deposit(s->clock.now());
  std::set<std::string> tried;
  std::optional<RpcError> last;
  for (int attempt = 1;; ++attempt) {
    auto worker = s->registry->select_worker(filter, tried);
    if (!worker) co_return last ? *last : worker.error();
    const auto deadline = attempt_deadline(overall, s->clock.now(), s->config.retry.min_attempt_time);
    if (!deadline) co_return last ? *last : RpcError::timeout("deadline exceeded before a worker was tried");
    s->record_attempt(worker->id);
    tried.insert(worker->id);
    auto client = co_await pooled_connection(s, *worker, *deadline);
    RpcError error = RpcError::cancelled();
    if (client) {
      CallOptions call_options;
      call_options.timeout = options.timeout ? std::optional(ceil_ms(*deadline - s->clock.now())) : std::nullopt;
      call_options.metadata = options.metadata;
      call_options.trace_parent = options.trace_parent;
      auto opened = co_await open(client->client, call_options);
      if (opened) co_return opened;
      error = std::move(opened).error();
    } else {
      s->connection_failed(worker->id);
      error = std::move(client).error();
      error.mark_not_started();
    }
    s->record_failure(worker->id);
    const RetryPlan plan = plan_retry(s->config.retry, s->budget, error, false, error.not_started(), attempt, overall,
                                      s->clock.now(), s->rng.next());
    s->count_retry_plan(plan.verdict);
    if (plan.verdict != RetryVerdict::kRetry) co_return error;
    last = std::move(error);
  }
}

// Runs `body` on the client's loop, hopping there (and back) when called from elsewhere.
template <class T, class Body>
asio::awaitable<T> on_loop(const std::shared_ptr<State>& s, Body body) {
  const auto here = co_await asio::this_coro::executor;
  if (here == s->executor) co_return co_await body();
  co_return co_await runtime::run_on<T>(s->executor, std::move(body));
}

// A streaming call on some worker matching `filter`, opened on the client's loop.
template <class T, class Open>
asio::awaitable<Result<T>> open_on_some_worker(std::shared_ptr<State> s, std::string_view filter,
                                               WorkerCallOptions options, Open open) {
  auto parsed = TagFilter::parse(filter);
  if (!parsed) co_return parsed.error();
  auto body = [s, filter = std::move(*parsed), options = std::move(options), open = std::move(open)]() mutable {
    return open_with_retries<T>(s, std::move(filter), std::move(options), std::move(open));
  };
  co_return co_await on_loop<Result<T>>(s, std::move(body));
}

}  // namespace

ClusterClient::ClusterClient(std::shared_ptr<WorkerRegistry> registry, ClusterClientConfig config,
                             asio::any_io_executor executor)
    : registry_(registry), state_(std::make_shared<State>(std::move(registry), std::move(config), std::move(executor))) {
  registry_->start();
  metrics_ = collect_cluster_client_metrics(state_->config.rpc.metrics_registry(), *this);
}

ClusterClient::~ClusterClient() {
  // Pooled clients close when their last copy goes; closing on the loop keeps Asio objects on
  // their own thread.
  asio::post(state_->executor, [state = state_] {
    for (auto& [id, entry] : state->pool) {
      if (entry->client) entry->client->close();
    }
    state->pool.clear();
  });
}

asio::awaitable<Result<Bytes>> ClusterClient::call_worker(std::string_view method, Bytes data, std::string_view filter,
                                                          WorkerCallOptions options) {
  auto parsed = TagFilter::parse(filter);
  if (!parsed) co_return parsed.error();
  auto body = [s = state_, method = std::string(method), data = std::move(data), filter = std::move(*parsed),
               options = std::move(options)]() mutable {
    return call_with_retries(s, std::move(method), std::move(data), std::move(filter), std::move(options));
  };
  co_return co_await on_loop<Result<Bytes>>(state_, std::move(body));
}

asio::awaitable<Result<ResponseStream>> ClusterClient::call_worker_server_streaming(std::string_view method, Bytes data,
                                                                                    std::string_view filter,
                                                                                    WorkerCallOptions options) {
  auto open = [method = std::string(method), data = std::move(data)](RpcClient& client, CallOptions call_options) {
    return client.call_server_streaming(method, data, call_options);
  };
  co_return co_await open_on_some_worker<ResponseStream>(state_, filter, std::move(options), std::move(open));
}

asio::awaitable<Result<ResponseStream>> ClusterClient::call_worker_streaming(std::string_view method,
                                                                             RequestSource requests,
                                                                             std::string_view filter,
                                                                             WorkerCallOptions options) {
  auto open = [method = std::string(method), requests = std::move(requests)](RpcClient& client,
                                                                             CallOptions call_options) {
    return client.call_streaming(method, requests, call_options);
  };
  co_return co_await open_on_some_worker<ResponseStream>(state_, filter, std::move(options), std::move(open));
}

asio::awaitable<Result<Bytes>> ClusterClient::call_worker_client_streaming(std::string_view method,
                                                                           RequestSource requests,
                                                                           std::string_view filter,
                                                                           WorkerCallOptions options) {
  auto open = [method = std::string(method), requests = std::move(requests)](RpcClient& client,
                                                                             CallOptions call_options) {
    return client.call_client_streaming(method, requests, call_options);
  };
  co_return co_await open_on_some_worker<Bytes>(state_, filter, std::move(options), std::move(open));
}

ClusterClientStats ClusterClient::stats() const {
  MutexLock lock(state_->stats_mutex);
  return state_->totals;
}

std::vector<WorkerStats> ClusterClient::worker_stats() const {
  MutexLock lock(state_->stats_mutex);
  std::vector<WorkerStats> out;
  for (const auto& [id, stats] : state_->stats) out.push_back(stats);
  return out;
}

}  // namespace rpcnet::cluster
