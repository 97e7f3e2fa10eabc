#include "describe.h"

namespace rpcnet::tool {

namespace pb = google::protobuf;

namespace {

// "pkg.Service/Method" and "pkg.Service.Method" both name a method; the slash is what calls use.
std::string dotted(std::string_view name) {
  std::string out(name);
  if (const auto slash = out.find('/'); slash != std::string::npos) out[slash] = '.';
  return out;
}

}  // namespace

Result<const pb::MethodDescriptor*> find_method(const pb::DescriptorPool& pool, std::string_view name) {
  const std::string full = dotted(name);
  const auto dot = full.rfind('.');
  if (dot == std::string::npos || dot == 0 || dot + 1 == full.size()) {
    return RpcError::config("\"" + std::string(name) + "\" is not a method name such as package.Service/Method");
  }
  const std::string service_name = full.substr(0, dot);
  const auto* service = pool.FindServiceByName(service_name);
  if (service == nullptr) return RpcError::config("unknown service \"" + service_name + "\"");
  if (const auto* method = service->FindMethodByName(full.substr(dot + 1))) return method;
  std::string known;
  for (int i = 0; i < service->method_count(); ++i) known += (i == 0 ? "" : ", ") + service->method(i)->name();
  return RpcError::config("unknown method \"" + std::string(name) + "\": " + service_name + " has " +
                          (known.empty() ? "no methods" : known));
}

Result<std::string> list_methods(const pb::DescriptorPool& pool, std::string_view service_name) {
  const auto* service = pool.FindServiceByName(std::string(service_name));
  if (service == nullptr) return RpcError::config("unknown service \"" + std::string(service_name) + "\"");
  std::string out;
  for (int i = 0; i < service->method_count(); ++i) out += service->full_name() + "/" + service->method(i)->name() + "\n";
  return out;
}

Result<std::string> describe_symbol(const pb::DescriptorPool& pool, std::string_view symbol) {
  const std::string name = dotted(symbol);
  if (const auto* service = pool.FindServiceByName(name)) {
    return name + " is a service:\n" + service->DebugString();
  }
  if (const auto* method = pool.FindMethodByName(name)) {
    return name + " is a method:\n" + method->DebugString();
  }
  if (const auto* message = pool.FindMessageTypeByName(name)) {
    return name + " is a message:\n" + message->DebugString();
  }
  if (const auto* enumeration = pool.FindEnumTypeByName(name)) {
    return name + " is an enum:\n" + enumeration->DebugString();
  }
  return RpcError::config("unknown symbol \"" + std::string(symbol) + "\"");
}

}  // namespace rpcnet::tool
