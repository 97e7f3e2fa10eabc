// libFuzzer target: wire::decode_trailer.
//
// Input: a TRAILER frame payload. Oracle: whatever decodes re-encodes to bytes that decode to the
// same trailer; codes stay within the defined range (unknown wire values become UNKNOWN).
#include <cstddef>
#include <cstdint>

#include "rpc/wire/call_header.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace rpcnet::wire;
  const auto decoded = decode_trailer(rpcnet::ByteView(data, size));
  if (!decoded) {
    if (decoded.error().kind() != rpcnet::ErrorKind::kStream) __builtin_trap();
    return 0;
  }
  if (static_cast<std::uint32_t>(decoded->code) > rpcnet::kMaxStatusCode) __builtin_trap();

  const rpcnet::Bytes encoded = encode_trailer(*decoded);
  const auto again = decode_trailer(encoded);
  if (!again) __builtin_trap();
  if (!(*again == *decoded)) __builtin_trap();
  if (encode_trailer(*again) != encoded) __builtin_trap();
  return 0;
}
