// libFuzzer target: rpc::ClientCallCore.
//
// Input: control byte, reset-code byte, 4 chunking bytes, then the server's stream bytes.
//   control & 3: how the stream ends — 0 FIN, 1 reset, 2 nothing, 3 reset then FIN.
//   (control >> 2) & 3: the call kind.
//   chunk i has size 1 + (b & 0x3f), b cycling over the chunking bytes.
// Events are drained after every input and checked: never a kHeader, at most one kEnd and
// nothing after it, single-response kinds deliver at most one message (exactly one on a clean
// end), messages respect the limit, remote errors carry kNone, and FIN or reset always ends the
// call — a FIN without a trailer never ends it cleanly.
#include <algorithm>
#include <cstddef>
#include <cstdint>

#include "rpc/core/call_core.h"

namespace {

using rpcnet::ByteView;
using rpcnet::rpc::ClientCallCore;
using rpcnet::rpc::InboundEvent;
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
  CallKind kind;
  bool saw_end = false;
  bool clean_end = false;
  std::uint64_t messages = 0;

  void drain(ClientCallCore& core) {
    while (core.has_event()) {
      const InboundEvent event = core.pop_event();
      check(!saw_end);  // nothing after kEnd
      check(event.kind != Kind::kHeader);
      check(!event.header.has_value());
      if (event.kind == Kind::kMessage) {
        check(!event.error.has_value());
        check(event.message.size() <= kLimits.max_message_size);
        ++messages;
        if (rpcnet::wire::single_response(kind)) check(messages <= 1);
        continue;
      }
      saw_end = true;
      if (event.error) {
        check(event.error->code() != rpcnet::StatusCode::kOk);
        check(event.action != StreamAction::kRespondStatus);  // a server-only action
        if (event.error->is_remote()) check(event.action == StreamAction::kNone);
        check(event.trailer_metadata.empty());
      } else {
        clean_end = true;
        check(event.action == StreamAction::kNone);
        if (rpcnet::wire::single_response(kind)) check(messages == 1);
      }
    }
    check(core.ended() == saw_end);
  }
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < kPrefix) return 0;
  const std::uint8_t control = data[0];
  const auto kind = static_cast<CallKind>((control >> 2) & 3);
  const std::uint64_t reset_code = data[1];
  const ByteView chunking(data + 2, 4);
  const ByteView stream(data + kPrefix, size - kPrefix);

  ClientCallCore core(kind, kLimits);
  Observer observer{kind};
  std::size_t at = 0;
  for (std::size_t i = 0; at < stream.size(); ++i) {
    const std::size_t n =
        std::min<std::size_t>(1 + (chunking[i % chunking.size()] & 0x3f), stream.size() - at);
    core.on_data(stream.subspan(at, n));
    at += n;
    observer.drain(core);
  }
  const bool ended_by_data = observer.saw_end;
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
  // Only a trailer in the data can end the call cleanly; FIN or reset never does.
  if (observer.clean_end) check(ended_by_data);
  // Later input is ignored.
  core.on_data(stream);
  core.on_fin();
  core.on_reset(reset_code);
  if (observer.saw_end) check(!core.has_event());
  observer.drain(core);
  return 0;
}
