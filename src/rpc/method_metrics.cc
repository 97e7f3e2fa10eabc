#include "rpc/method_metrics.h"

#include <array>
#include <atomic>
#include <map>
#include <mutex>
#include <shared_mutex>
#include <string>

#include "rpcnet/metrics.h"

namespace rpcnet::rpc {
namespace {

// The label of calls to methods no handler is registered for: a client must not be able to
// create label values (and series) at will.
constexpr std::string_view kUnknownMethod = "_unknown";
constexpr std::size_t kStatusCodes = 17;  // OK .. UNAUTHENTICATED

// The series of one method on one side, looked up once per method and then cached.
class MethodSeries {
 public:
  MethodSeries(MetricsRegistry& registry, const std::string& prefix, const std::string& method)
      : registry_(registry),
        prefix_(prefix),
        method_(method),
        started_(registry.counter(prefix + "_calls_started_total", "Calls that began, by method.", {{"method", method}})),
        duration_(registry.histogram(prefix + "_call_duration_seconds", "Call duration: from its start to its final status.",
                                     MetricsRegistry::latency_buckets(), {{"method", method}})),
        request_bytes_(registry.counter(prefix + "_request_bytes_total", "Request message payload bytes, by method.",
                                        {{"method", method}})),
        response_bytes_(registry.counter(prefix + "_response_bytes_total", "Response message payload bytes, by method.",
                                         {{"method", method}})) {}

  void started() noexcept { started_.inc(); }

  void finished(const CallOutcome& outcome) noexcept {
    finished_counter(outcome.code).inc();
    duration_.observe(std::chrono::duration<double>(outcome.duration).count());
    request_bytes_.inc(outcome.request_bytes);
    response_bytes_.inc(outcome.response_bytes);
  }

 private:
  Counter& finished_counter(StatusCode code) noexcept {
    const auto index = static_cast<std::size_t>(code) < kStatusCodes ? static_cast<std::size_t>(code) : 2;  // UNKNOWN
    Counter* counter = finished_[index].load(std::memory_order_acquire);
    if (counter == nullptr) {
      // The registry returns the same series to racing threads, so either store is right.
      counter = &registry_.counter(prefix_ + "_calls_finished_total", "Calls that ended, by method and status code.",
                                   {{"method", method_}, {"code", std::string(status_code_name(static_cast<StatusCode>(index)))}});
      finished_[index].store(counter, std::memory_order_release);
    }
    return *counter;
  }

  MetricsRegistry& registry_;
  const std::string prefix_;
  const std::string method_;
  Counter& started_;
  Histogram& duration_;
  Counter& request_bytes_;
  Counter& response_bytes_;
  std::array<std::atomic<Counter*>, kStatusCodes> finished_{};
};

// Method name -> series, shared by every loop of one server or client.
class SeriesCache {
 public:
  SeriesCache(MetricsRegistry& registry, std::string prefix) : registry_(registry), prefix_(std::move(prefix)) {}

  MethodSeries& get(std::string_view method) {
    {
      std::shared_lock lock(mutex_);
      if (auto it = series_.find(method); it != series_.end()) return *it->second;
    }
    std::unique_lock lock(mutex_);
    auto it = series_.find(method);
    if (it == series_.end()) {
      const std::string name(method);
      it = series_.emplace(name, std::make_unique<MethodSeries>(registry_, prefix_, name)).first;
    }
    return *it->second;
  }

 private:
  MetricsRegistry& registry_;
  const std::string prefix_;
  std::shared_mutex mutex_;
  std::map<std::string, std::unique_ptr<MethodSeries>, std::less<>> series_;
};

class ServerMethodMetrics final : public ServerInterceptor {
 public:
  explicit ServerMethodMetrics(MetricsRegistry& registry) : cache_(registry, "rpcnet_server") {}

  asio::awaitable<Result<void>> on_start(ServerCallInfo& call) override {
    cache_.get(label(call)).started();
    co_return ok();
  }
  void on_end(const ServerCallInfo& call, const CallOutcome& outcome) noexcept override {
    cache_.get(label(call)).finished(outcome);
  }

 private:
  static std::string_view label(const ServerCallInfo& call) {
    return call.registered ? std::string_view(call.context.method()) : kUnknownMethod;
  }
  SeriesCache cache_;
};

// Client method names come from the program itself, not from a peer: used as they are.
class ClientMethodMetrics final : public ClientInterceptor {
 public:
  explicit ClientMethodMetrics(MetricsRegistry& registry) : cache_(registry, "rpcnet_client") {}

  asio::awaitable<Result<void>> on_start(ClientCallInfo& call) override {
    cache_.get(call.method).started();
    co_return ok();
  }
  void on_end(const ClientCallInfo& call, const CallOutcome& outcome) noexcept override {
    cache_.get(call.method).finished(outcome);
  }

 private:
  SeriesCache cache_;
};

template <class Interceptor>
std::vector<std::shared_ptr<Interceptor>> with_metrics_first(std::shared_ptr<Interceptor> metrics,
                                                             const std::vector<std::shared_ptr<Interceptor>>& user) {
  std::vector<std::shared_ptr<Interceptor>> chain;
  chain.reserve(user.size() + 1);
  if (metrics) chain.push_back(std::move(metrics));
  chain.insert(chain.end(), user.begin(), user.end());
  return chain;
}

}  // namespace

std::vector<std::shared_ptr<ServerInterceptor>> server_chain(const RpcConfig& config) {
  std::shared_ptr<ServerInterceptor> metrics;
  if (config.method_metrics()) metrics = std::make_shared<ServerMethodMetrics>(config.metrics_registry());
  return with_metrics_first(std::move(metrics), config.server_interceptors());
}

std::vector<std::shared_ptr<ClientInterceptor>> client_chain(const RpcConfig& config) {
  std::shared_ptr<ClientInterceptor> metrics;
  if (config.method_metrics()) metrics = std::make_shared<ClientMethodMetrics>(config.metrics_registry());
  return with_metrics_first(std::move(metrics), config.client_interceptors());
}

}  // namespace rpcnet::rpc
