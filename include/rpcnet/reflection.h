// rpcnet/reflection.h — server reflection: gRPC's grpc.reflection.v1.ServerReflection service,
// so tools can list a server's services and fetch their .proto descriptors at run time.
//
// Off by default. enable_reflection(server) registers the one method,
// "grpc.reflection.v1.ServerReflection/ServerReflectionInfo": a bidirectional stream carrying
// gRPC's own messages and field numbers (proto/grpc/reflection/v1/reflection.proto). Each request
// gets one response, in order; the next request is read only once the answer is written, so a
// peer can hold a stream but never queue work on it.
//
// What it answers from:
//   - list_services: the services behind the server's registered method names
//     ("package.Service/Method" -> "package.Service"), sorted, reflection itself included, read
//     afresh for every request (services registered later appear). Methods registered without a
//     '/' in their name (raw byte methods such as "echo") belong to no service and are not listed.
//   - file_by_filename, file_containing_symbol (service, method, message, enum, enum value,
//     field, nested type), file_containing_extension, all_extension_numbers_of_type: protobuf's
//     generated descriptor pool, which holds every .proto whose generated code (rpcnet-gen's
//     *.pb.cc) is linked into the program. So typed services need no registration step: their
//     descriptors are there already. A service registered by hand with byte handlers is listed,
//     but asking for its file is NOT_FOUND unless a .proto for it is linked in.
//   - Files come back as serialized FileDescriptorProtos: the file asked for, then the files it
//     imports (transitively) that this stream has not sent yet.
//
// Errors answer the request, not the call: an error_response with a gRPC status code — NOT_FOUND
// (5) for an unknown file, symbol, type or extension, UNIMPLEMENTED (12) for a request naming no
// question, RESOURCE_EXHAUSTED (8) when the requested file alone exceeds the server's
// max_message_size. A dependency that does not fit next to the file is left out, and the client
// asks for it by name. Only a request that does not parse fails the call: INVALID_ARGUMENT.
//
// Link rpcnet::reflection. It also carries the generated reflection messages and client
// (#include "server_reflection/server_reflection.hpp"), for programs that ask the questions.
//
// Example:
//   rpcnet::RpcServer server(rpcnet::RpcConfig("certs/server.pem", "0.0.0.0:4433")
//                                .with_key_path("certs/server-key.pem"));
//   GreeterServer::register_with(server, std::make_shared<MyGreeter>());
//   rpcnet::enable_reflection(server);  // grpcurl-style tools can now discover Greeter
//   auto served = server.run();
#pragma once

#include "rpcnet/server.h"

namespace rpcnet {

// Registers the reflection method on `server` (before or while it serves). Calling it again
// replaces the registration and changes nothing else.
void enable_reflection(RpcServer& server);

}  // namespace rpcnet
