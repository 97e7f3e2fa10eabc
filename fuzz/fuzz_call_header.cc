// libFuzzer target: wire::decode_call_header.
//
// Input: a HEADER frame payload. Oracle: whatever decodes re-encodes to bytes that decode to the
// same header, and encoding is stable (encode(decode(encode(h))) == encode(h)).
#include <cstddef>
#include <cstdint>

#include "rpc/wire/call_header.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace rpcnet::wire;
  const auto decoded = decode_call_header(rpcnet::ByteView(data, size));
  if (!decoded) {
    if (decoded.error().kind() != rpcnet::ErrorKind::kStream) __builtin_trap();
    return 0;
  }
  if (decoded->method.empty()) __builtin_trap();
  if (static_cast<std::uint8_t>(decoded->kind) > kMaxCallKind) __builtin_trap();
  if (decoded->timeout && decoded->timeout->count() < 0) __builtin_trap();

  const rpcnet::Bytes encoded = encode_call_header(*decoded);
  if (encoded.size() > size) __builtin_trap();  // minimal re-encoding never grows
  const auto again = decode_call_header(encoded);
  if (!again) __builtin_trap();
  if (!(*again == *decoded)) __builtin_trap();
  if (encode_call_header(*again) != encoded) __builtin_trap();
  return 0;
}
