// The demo's server side: the methods `rpcnet demo` calls, and what they let the client observe.
#pragma once

#include <atomic>
#include <chrono>
#include <memory>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "rpcnet/bytes.h"
#include "rpcnet/random.h"
#include "rpcnet/server.h"

namespace rpcnet::tool {

// What handlers report back to the demo's client side (written on server loops, read on the
// client loop, hence atomics).
struct DemoProbe {
  enum class Wake : int { kParked = 0, kCancelled = 1, kNotCancelled = 2 };
  std::atomic<bool> slow_parked{false};       // `slow` is waiting on its timer
  std::atomic<int> slow_wake{0};              // a Wake, once `slow` was woken
  std::atomic<std::int64_t> slow_parked_us{0};  // how long `slow` waited until woken
  std::atomic<bool> work_started{false};      // `work` (used during shutdown) is running
};

// How long `work` takes; the shutdown step keeps it in flight across server.shutdown().
inline constexpr auto kWorkDuration = std::chrono::milliseconds(200);

// The planets `list_items` streams back.
const std::vector<std::string>& demo_planets();

// Two int32, little-endian (the guide serializes (21, 21) with bincode: the same 8 bytes).
Bytes encode_pair(std::int32_t a, std::int32_t b);
std::optional<std::int32_t> decode_int(ByteView bytes);

// The `upload` summary, "<n> chunks, <bytes> bytes, fnv1a64 <hex>", built chunk by chunk so
// the server and the client can each compute it.
class UploadDigest {
 public:
  void add(ByteView chunk);
  std::string summary() const;

 private:
  std::uint64_t chunks_ = 0;
  std::uint64_t bytes_ = 0;
  std::uint64_t hash_ = kFnv1aOffset;  // FNV-1a 64 (rpcnet/random.h)
};

// Registers add, divide, echo, list_items, upload, chat, slow and work.
void register_demo_methods(RpcServer& server, std::shared_ptr<DemoProbe> probe);

}  // namespace rpcnet::tool
