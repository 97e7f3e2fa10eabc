// libFuzzer target: arbitrary datagrams into a server endpoint, in process (QuicPipe: no
// sockets), after a real handshake and a real call went through it — so the fuzzer reaches the
// endpoint's routing, admission, Retry-token and stateless-reset code, the connection's read
// path into ngtcp2, and the closing logic, not only our own decoders.
//
// Set up once: a server that echoes every stream, one client that completed its handshake and
// one echo call; every datagram that client sent is kept as a template.
// Each input is a list of records  op (1 byte) | source (1 byte) | length (1 byte) | bytes:
//   op % 4 == 0  the bytes as a datagram
//   op % 4 == 1  a recorded client datagram (chosen by the first byte), the other bytes XORed
//                into it from an offset, truncated to `length` when shorter
//   op % 4 == 2  a short-header packet to the live connection's ID, then the bytes
//   op % 4 == 3  a QUIC v1 long-header packet of the type in bits 4-5 of `op`, then the bytes
//   source picks the sender: the live client's address, or one of three strangers.
// After each input the pipe is pumped; the server's admission counts must stay within bounds.
#include <ngtcp2/ngtcp2.h>

#include <asio/co_spawn.hpp>
#include <asio/detached.hpp>
#include <cstdint>
#include <cstdlib>
#include <memory>

#include "support/quic_pipe.h"

namespace {

using rpcnet::Bytes;
using rpcnet::testing::PipeDatagram;
using rpcnet::testing::QuicPipe;

struct Fixture {
  std::unique_ptr<QuicPipe> pipe;
  QuicPipe::Client* client = nullptr;
  Bytes live_dcid;                       // the server's connection ID the client sends to
  std::vector<PipeDatagram> templates;  // what the client sent during handshake and call
};

Fixture& fixture() {
  static Fixture* f = [] {
    auto* out = new Fixture;
    rpcnet::quic::AdmissionLimits limits;
    limits.max_handshakes = 64;
    limits.max_connections = 128;
    out->pipe = std::make_unique<QuicPipe>(rpcnet::quic::TransportSettings{}, limits);
    out->pipe->echo_streams();
    out->client = &out->pipe->add_client();
    out->pipe->pump();
    auto connection = out->client->connection;
    asio::co_spawn(out->pipe->io, [connection]() -> asio::awaitable<void> {
      auto stream = co_await connection->open_stream();
      if (!stream) co_return;
      Bytes request(100, 0x61);
      (void)co_await (*stream)->write(std::move(request), {}, true);
      (void)co_await (*stream)->read();
    }, asio::detached);
    out->pipe->pump();
    if (!out->client->connection->is_open()) std::abort();  // the setup itself must work
    out->templates = out->client->sent_log;
    out->pipe->settle_window = {};  // per input: speed over waiting for pacing timers
    for (const auto& d : out->pipe->server_log) {
      ngtcp2_version_cid vc;
      if (ngtcp2_pkt_decode_version_cid(&vc, d.data.data(), d.data.size(), 16) == 0 &&
          vc.version != 0) {
        out->live_dcid.assign(vc.scid, vc.scid + vc.scidlen);
        break;
      }
    }
    return out;
  }();
  return *f;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  Fixture& f = fixture();
  QuicPipe& pipe = *f.pipe;
  static const char* const kStrangers[] = {"127.0.0.9", "10.1.2.3", "192.0.2.7"};
  std::size_t at = 0;
  for (int records = 0; records < 64 && at + 3 <= size; ++records) {
    const std::uint8_t op = data[at];
    const std::uint8_t source = data[at + 1];
    const std::size_t length = std::min<std::size_t>(data[at + 2], size - at - 3);
    const std::uint8_t* bytes = data + at + 3;
    at += 3 + length;

    PipeDatagram d;
    if (source % 4 == 0 && !f.templates.empty()) {
      d.from = f.templates.front().from;
      d.from_len = f.templates.front().from_len;
    } else {
      d.from = rpcnet::testing::make_sockaddr(kStrangers[source % 3], static_cast<std::uint16_t>(1000 + source),
                                              d.from_len);
    }
    switch (op % 4) {
      case 0:
        d.data.assign(bytes, bytes + length);
        break;
      case 1: {
        if (f.templates.empty() || length == 0) continue;
        d.data = f.templates[bytes[0] % f.templates.size()].data;
        const std::size_t offset = length > 1 ? bytes[1] % d.data.size() : 0;
        for (std::size_t i = 2; i < length && offset + i - 2 < d.data.size(); ++i) {
          d.data[offset + i - 2] ^= bytes[i];
        }
        if (length < d.data.size() && (op & 0x80) != 0) d.data.resize(length);
        break;
      }
      case 2:
        d.data.push_back(static_cast<std::uint8_t>(0x40 | (op & 0x3f)));
        d.data.insert(d.data.end(), f.live_dcid.begin(), f.live_dcid.end());
        d.data.insert(d.data.end(), bytes, bytes + length);
        break;
      default: {
        d.data.push_back(static_cast<std::uint8_t>(0xc0 | (op & 0x30)));
        d.data.insert(d.data.end(), {0x00, 0x00, 0x00, 0x01});  // QUIC v1
        d.data.insert(d.data.end(), bytes, bytes + length);
        // Pad some to Initial size, so admission and Retry are reached.
        if ((op & 0x40) != 0 && d.data.size() < 1200) d.data.resize(1200, 0);
        break;
      }
    }
    pipe.deliver_to_server(d);
  }
  pipe.pump(20);
  // Admission never counts past its limits, whatever arrived.
  if (pipe.shared().admission.handshakes() > 64 || pipe.shared().admission.connections() > 128) {
    std::abort();
  }
  // Keep the server's log from growing across inputs.
  pipe.server_log.clear();
  f.client->sent_log.clear();
  return 0;
}
