#include "rpcnet/health_service.h"

#include "health/server.hpp"

namespace rpcnet {

namespace {

using grpc::health::v1::HealthCheckRequest;
using grpc::health::v1::HealthCheckResponse;

HealthCheckResponse response_of(HealthStatus status) {
  HealthCheckResponse response;
  // HealthStatus is numbered as the wire enum.
  response.set_status(static_cast<HealthCheckResponse::ServingStatus>(static_cast<int>(status)));
  return response;
}

class HealthService final : public grpc::health::v1::HealthHandler {
 public:
  explicit HealthService(HealthTable& table) : table_(table) {}

  asio::awaitable<Result<HealthCheckResponse>> Check(const HealthCheckRequest& request,
                                                     CallContext&) override {
    const auto status = table_.get(request.service());
    if (!status) {
      co_return RpcError::status(StatusCode::kNotFound,
                                 "unknown service \"" + request.service() + "\"");
    }
    co_return response_of(*status);
  }

  asio::awaitable<Result<void>> Watch(const HealthCheckRequest& request,
                                      TypedServerWriter<HealthCheckResponse>& writer,
                                      CallContext&) override {
    auto watch = table_.watch(request.service());
    if (!watch) co_return std::move(watch).error();
    for (;;) {
      const auto status = co_await (*watch)->next();
      if (!status) co_return ok();  // the server stops serving: end cleanly
      auto written = co_await writer.write(response_of(*status));
      if (!written) co_return written;
    }
  }

 private:
  HealthTable& table_;  // the server's: outlives its handlers
};

}  // namespace

void enable_health_service(RpcServer& server) {
  grpc::health::v1::HealthServer::register_with(server, std::make_shared<HealthService>(server.health()));
}

}  // namespace rpcnet
