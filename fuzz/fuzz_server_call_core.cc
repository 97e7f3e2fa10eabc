// libFuzzer target: rpc::ServerCallCore.
//
// Input: control byte, reset-code byte, 4 chunking bytes, then the client's stream bytes.
//   control & 3: how the stream ends — 0 FIN, 1 reset, 2 nothing, 3 reset then FIN.
//   chunk i has size 1 + (b & 0x3f), b cycling over the chunking bytes.
// Events are drained after every input and checked: kHeader only first and at most once, at most
// one kEnd and nothing after it, single-request kinds deliver at most one message (exactly one on
// a clean end), messages respect the limit, errors name a stream action, and FIN or reset always
// ends the call.
#include <algorithm>
#include <cstddef>
#include <cstdint>

#include "rpc/core/call_core.h"

namespace {

using rpcnet::ByteView;
using rpcnet::rpc::InboundEvent;
using rpcnet::rpc::ServerCallCore;
using rpcnet::rpc::StreamAction;
using rpcnet::wire::CallKind;
using rpcnet::wire::FrameLimits;
using Kind = InboundEvent::Kind;

constexpr FrameLimits kLimits{.max_message_size = 4096, .max_header_size = 256};
constexpr std::size_t kPrefix = 6;

void check(bool ok) {
  if (!ok) __builtin_trap();
}

struct Observer {
  bool saw_header = false;
  bool saw_end = false;
  CallKind kind = CallKind::kUnary;
  std::uint64_t messages = 0;

  void drain(ServerCallCore& core) {
    while (core.has_event()) {
      const InboundEvent event = core.pop_event();
      check(!saw_end);  // nothing after kEnd
      switch (event.kind) {
        case Kind::kHeader:
          check(!saw_header);
          check(messages == 0);
          check(event.header.has_value());
          check(!event.header->method.empty());
          check(!event.error.has_value());
          saw_header = true;
          kind = event.header->kind;
          break;
        case Kind::kMessage:
          check(saw_header);
          check(!event.error.has_value());
          check(event.message.size() <= kLimits.max_message_size);
          ++messages;
          if (rpcnet::wire::single_request(kind)) check(messages <= 1);
          break;
        case Kind::kEnd:
          saw_end = true;
          if (event.error) {
            check(event.action != StreamAction::kNone);
          } else {
            check(event.action == StreamAction::kNone);
            check(saw_header);
            if (rpcnet::wire::single_request(kind)) check(messages == 1);
          }
          break;
      }
    }
    check(core.ended() == saw_end);
    check(core.header_received() == saw_header);
  }
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < kPrefix) return 0;
  const std::uint8_t control = data[0];
  const std::uint64_t reset_code = data[1];
  const ByteView chunking(data + 2, 4);
  const ByteView stream(data + kPrefix, size - kPrefix);

  ServerCallCore core(kLimits);
  Observer observer;
  std::size_t at = 0;
  for (std::size_t i = 0; at < stream.size(); ++i) {
    const std::size_t n =
        std::min<std::size_t>(1 + (chunking[i % chunking.size()] & 0x3f), stream.size() - at);
    core.on_data(stream.subspan(at, n));
    at += n;
    observer.drain(core);
  }
  switch (control & 3) {
    case 0: core.on_fin(); break;
    case 1: core.on_reset(reset_code); break;
    case 2: break;
    case 3:
      core.on_reset(reset_code);
      core.on_fin();
      break;
  }
  observer.drain(core);
  if ((control & 3) != 2) check(observer.saw_end);
  // Later input is ignored.
  core.on_data(stream);
  core.on_fin();
  core.on_reset(reset_code);
  if (observer.saw_end) check(!core.has_event());
  observer.drain(core);
  return 0;
}
