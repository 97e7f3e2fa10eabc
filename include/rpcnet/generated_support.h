// rpcnet/generated_support.h — the one header code made by rpcnet-gen depends on.
//
// It turns rpcnet's byte-level calls into typed ones for protobuf messages: serialization,
// typed results, typed streams, and the adapters that wire a generated handler's virtual methods
// into an RpcServer. You rarely use it by hand; generated `<Service>Client` / `<Service>Handler`
// classes do. Two helpers are for application code.
//
// Example (fragment):
//   // Handler side: an error status carrying a typed details message.
//   co_return rpcnet::status_with_details(rpcnet::StatusCode::kInvalidArgument, "overflow",
//                                         OverflowDetail{...});
//   // Caller side: read the details back.
//   if (auto detail = rpcnet::details_as<OverflowDetail>(result.error())) { ... }
//
// Messages that fail to parse are INVALID_ARGUMENT for that call: on the server the handler is
// not run and the caller gets the status; on the client the call fails with kSerialization.
#pragma once

#include <google/protobuf/message_lite.h>

#include <asio/awaitable.hpp>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "rpcnet/client.h"
#include "rpcnet/server.h"

namespace rpcnet {

// ---- serialization ---------------------------------------------------------------------------

inline Bytes serialize(const google::protobuf::MessageLite& message) {
  Bytes out(message.ByteSizeLong());
  if (!out.empty()) message.SerializeWithCachedSizesToArray(out.data());
  return out;
}

// Errors: kSerialization (INVALID_ARGUMENT) naming the message type.
template <class Message>
Result<Message> parse(ByteView bytes) {
  Message message;
  if (!message.ParseFromArray(bytes.data(), static_cast<int>(bytes.size()))) {
    return RpcError::serialization("cannot parse a " + std::string(message.GetTypeName()));
  }
  return message;
}

// ---- typed statuses ----------------------------------------------------------------------------

template <class Details>
RpcError status_with_details(StatusCode code, std::string message, const Details& details) {
  return RpcError::status(code, std::move(message), serialize(details));
}

// The error's details parsed as `Details`; nullopt when there are none or they don't parse.
template <class Details>
std::optional<Details> details_as(const RpcError& error) {
  if (error.details().empty()) return std::nullopt;
  auto parsed = parse<Details>(error.details());
  if (!parsed) return std::nullopt;
  return std::move(*parsed);
}

// ---- typed client streams ------------------------------------------------------------------------

template <class Response>
class TypedResponseStream {
 public:
  explicit TypedResponseStream(ResponseStream raw) : raw_(std::move(raw)) {}

  // The next response, nullopt when the server finished with OK.
  asio::awaitable<Result<std::optional<Response>>> next() {
    auto raw = co_await raw_.next();
    if (!raw) co_return std::move(raw).error();
    if (!*raw) co_return std::optional<Response>();
    auto parsed = parse<Response>(**raw);
    if (!parsed) {
      raw_.cancel();
      co_return std::move(parsed).error();
    }
    co_return std::optional<Response>(std::move(*parsed));
  }
  void cancel() { raw_.cancel(); }
  const Metadata& trailer_metadata() const { return raw_.trailer_metadata(); }

 private:
  ResponseStream raw_;
};

template <class Request, class Response>
class TypedClientCall {
 public:
  explicit TypedClientCall(ClientCall raw) : raw_(std::move(raw)) {}

  asio::awaitable<Result<void>> write(const Request& request) { return raw_.write(serialize(request)); }
  asio::awaitable<Result<void>> finish() { return raw_.finish(); }
  asio::awaitable<Result<std::optional<Response>>> read() {
    auto raw = co_await raw_.read();
    if (!raw) co_return std::move(raw).error();
    if (!*raw) co_return std::optional<Response>();
    auto parsed = parse<Response>(**raw);
    if (!parsed) {
      raw_.cancel();
      co_return std::move(parsed).error();
    }
    co_return std::optional<Response>(std::move(*parsed));
  }
  void cancel() { raw_.cancel(); }
  const Metadata& trailer_metadata() const { return raw_.trailer_metadata(); }

 private:
  ClientCall raw_;
};

// Produces typed requests for a client-streaming call; nullopt ends them.
template <class Request>
using TypedRequestSource = std::function<asio::awaitable<std::optional<Request>>()>;

// ---- typed server streams ----------------------------------------------------------------------

// The typed views borrow the handler's ServerStream (see the WARNING in server_stream.h): they
// are made by the generated glue for one handler call and die with it, so they cannot be copied.
template <class Request>
class TypedServerReader {
 public:
  explicit TypedServerReader(ServerStream& raw) noexcept : raw_(&raw) {}
  TypedServerReader(const TypedServerReader&) = delete;
  TypedServerReader& operator=(const TypedServerReader&) = delete;

  // The next request, or nullopt once the client finished sending. A request that does not
  // parse is an INVALID_ARGUMENT status: return it and the caller receives it.
  asio::awaitable<Result<std::optional<Request>>> read() {
    auto raw = co_await raw_->read();
    if (!raw) co_return std::move(raw).error();
    if (!*raw) co_return std::optional<Request>();
    auto parsed = parse<Request>(**raw);
    if (!parsed) co_return RpcError::status(StatusCode::kInvalidArgument, parsed.error().message());
    co_return std::optional<Request>(std::move(*parsed));
  }
  CallContext& context() noexcept { return raw_->context(); }

 private:
  ServerStream* raw_;  // the handler's, outlives this view
};

template <class Response>
class TypedServerWriter {
 public:
  explicit TypedServerWriter(ServerStream& raw) noexcept : raw_(&raw) {}
  TypedServerWriter(const TypedServerWriter&) = delete;
  TypedServerWriter& operator=(const TypedServerWriter&) = delete;

  asio::awaitable<Result<void>> write(const Response& response) {
    return raw_->write(serialize(response));
  }
  CallContext& context() noexcept { return raw_->context(); }

 private:
  ServerStream* raw_;  // the handler's, outlives this view
};

// Both directions of a bidirectional call.
template <class Request, class Response>
class TypedServerStream : public TypedServerReader<Request> {
 public:
  explicit TypedServerStream(ServerStream& raw) noexcept : TypedServerReader<Request>(raw), writer_(raw) {}

  asio::awaitable<Result<void>> write(const Response& response) { return writer_.write(response); }

 private:
  TypedServerWriter<Response> writer_;
};

// ---- what generated code calls -------------------------------------------------------------

namespace generated {

// Client side. Requests are serialized by the (non-coroutine) generated method before these run,
// so the caller's message need not outlive the call.

template <class Response>
asio::awaitable<Result<Response>> unary(RpcClient client, std::string_view method, Bytes request,
                                        CallOptions options) {
  auto reply = co_await client.call(method, std::move(request), std::move(options));
  if (!reply) co_return std::move(reply).error();
  co_return parse<Response>(*reply);
}

template <class Response>
asio::awaitable<Result<TypedResponseStream<Response>>> server_streaming(RpcClient client,
                                                                        std::string_view method,
                                                                        Bytes request,
                                                                        CallOptions options) {
  auto stream = co_await client.call_server_streaming(method, std::move(request), std::move(options));
  if (!stream) co_return std::move(stream).error();
  co_return TypedResponseStream<Response>(std::move(*stream));
}

template <class Request>
RequestSource erase_source(TypedRequestSource<Request> source) {
  return [source = std::move(source)]() -> asio::awaitable<std::optional<Bytes>> {
    auto next = co_await source();
    if (!next) co_return std::nullopt;
    co_return std::optional<Bytes>(serialize(*next));
  };
}

template <class Request>
std::vector<Bytes> serialize_all(const std::vector<Request>& requests) {
  std::vector<Bytes> out;
  out.reserve(requests.size());
  for (const auto& request : requests) out.push_back(serialize(request));
  return out;
}

template <class Response>
asio::awaitable<Result<Response>> client_streaming(RpcClient client, std::string_view method,
                                                   std::vector<Bytes> requests, CallOptions options) {
  auto reply = co_await client.call_client_streaming(method, std::move(requests), std::move(options));
  if (!reply) co_return std::move(reply).error();
  co_return parse<Response>(*reply);
}

template <class Response>
asio::awaitable<Result<Response>> client_streaming(RpcClient client, std::string_view method,
                                                   RequestSource requests, CallOptions options) {
  auto reply = co_await client.call_client_streaming(method, std::move(requests), std::move(options));
  if (!reply) co_return std::move(reply).error();
  co_return parse<Response>(*reply);
}

template <class Request, class Response>
asio::awaitable<Result<TypedClientCall<Request, Response>>> bidi(RpcClient client,
                                                                 std::string_view method,
                                                                 CallOptions options) {
  auto call = co_await client.open_call(method, std::move(options));
  if (!call) co_return std::move(call).error();
  co_return TypedClientCall<Request, Response>(std::move(*call));
}

// Server side: adapters from a handler's typed method to the byte-level handler types.

inline RpcError invalid_request(const RpcError& parse_error) {
  return RpcError::status(StatusCode::kInvalidArgument, parse_error.message());
}

// `method(handler, request, context)` -> awaitable<Result<Response>>
template <class Handler, class Request, class Response>
UnaryHandler unary_handler(
    std::shared_ptr<Handler> handler,
    asio::awaitable<Result<Response>> (Handler::*method)(const Request&, CallContext&)) {
  return [handler = std::move(handler), method](Bytes bytes,
                                                CallContext& context) -> asio::awaitable<Result<Bytes>> {
    auto request = parse<Request>(bytes);
    if (!request) co_return invalid_request(request.error());
    auto response = co_await ((*handler).*method)(*request, context);
    if (!response) co_return std::move(response).error();
    co_return serialize(*response);
  };
}

// `method(handler, request, writer, context)` -> awaitable<Result<void>>
template <class Handler, class Request, class Response>
StreamingHandler server_streaming_handler(
    std::shared_ptr<Handler> handler,
    asio::awaitable<Result<void>> (Handler::*method)(const Request&, TypedServerWriter<Response>&,
                                                     CallContext&)) {
  return [handler = std::move(handler), method](ServerStream stream) -> asio::awaitable<Result<void>> {
    auto first = co_await stream.read();
    if (!first) co_return std::move(first).error();
    if (!*first) co_return RpcError::status(StatusCode::kInvalidArgument, "missing request");
    auto request = parse<Request>(**first);
    if (!request) co_return invalid_request(request.error());
    TypedServerWriter<Response> writer(stream);
    co_return co_await ((*handler).*method)(*request, writer, stream.context());
  };
}

// `method(handler, reader, context)` -> awaitable<Result<Response>>
template <class Handler, class Request, class Response>
StreamingHandler client_streaming_handler(
    std::shared_ptr<Handler> handler,
    asio::awaitable<Result<Response>> (Handler::*method)(TypedServerReader<Request>&, CallContext&)) {
  return [handler = std::move(handler), method](ServerStream stream) -> asio::awaitable<Result<void>> {
    TypedServerReader<Request> reader(stream);
    auto response = co_await ((*handler).*method)(reader, stream.context());
    if (!response) co_return std::move(response).error();
    co_return co_await stream.write(serialize(*response));
  };
}

// `method(handler, stream, context)` -> awaitable<Result<void>>
template <class Handler, class Request, class Response>
StreamingHandler bidi_handler(
    std::shared_ptr<Handler> handler,
    asio::awaitable<Result<void>> (Handler::*method)(TypedServerStream<Request, Response>&,
                                                     CallContext&)) {
  return [handler = std::move(handler), method](ServerStream stream) -> asio::awaitable<Result<void>> {
    TypedServerStream<Request, Response> typed(stream);
    co_return co_await ((*handler).*method)(typed, stream.context());
  };
}

}  // namespace generated
}  // namespace rpcnet
