// Bad input on the gRPC-compatible TCP port (RpcConfig::with_grpc_over_tcp): whatever one client
// sends — bytes that are not TLS, plaintext HTTP/1.1, TLS offering another protocol, an oversized
// header list, a header value HPACK cannot hold, more streams than SETTINGS allow, a rapid-reset
// flood, nothing at all, one connection too many — the server ends that stream or that
// connection with the specific answer TLS and HTTP/2 prescribe (the alert, the RST_STREAM or
// GOAWAY code), keeps serving, and a stock gRPC C++ client on a connection of its own still gets
// its call answered.
//
// The misbehaving clients are driven by hand over a non-blocking socket whose every wait is a
// bounded poll() (no sleeps): TLS is rpcnet's own quic::TlsStreamSession (client side), HTTP/2
// either h2::Session (client side) or frames written byte by byte where the point is to break
// rules h2::Session keeps. Where only the bad input may end a connection, the header timeout is
// set far beyond every wait.
#include <fcntl.h>
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdint>
#include <fstream>
#include <map>
#include <memory>
#include <optional>
#include <sstream>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "echo.grpc.pb.h"
#include "echo_service.h"
#include "h2/session.h"
#include "integration/harness.h"
#include "quic/tls.h"
#include "quic/tls_stream.h"
#include "rpc/grpc/grpc_wire.h"
#include "rpc/wire/frame.h"
#include "support/h2_frames.h"

namespace rpcnet::testing {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

// Every wait for the server is bounded by this (a hang fails the test instead of blocking it).
constexpr auto kPatience = 10s;

Clock::time_point deadline_in(Clock::duration timeout = kPatience) { return Clock::now() + timeout; }

int poll_timeout_ms(Clock::time_point deadline) {
  const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count();
  return static_cast<int>(std::clamp<std::int64_t>(left + 1, 0, 60'000));
}

std::string read_file(const std::string& path) {
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

// ---- a TCP connection to the listener: non-blocking, every wait a bounded poll() ---------------

class TcpConnection {
 public:
  // How the connection ended, as far as this side has seen.
  enum class End { kOpen, kClosed, kReset, kOtherError };

  explicit TcpConnection(std::uint16_t port) {
    fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd_ < 0) return;
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_port = htons(port);
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    // Loopback: the kernel completes the connection (into the listen backlog) at once.
    if (::connect(fd_, reinterpret_cast<const sockaddr*>(&address), sizeof address) != 0) {
      ::close(fd_);
      fd_ = -1;
      return;
    }
    ::fcntl(fd_, F_SETFL, ::fcntl(fd_, F_GETFL) | O_NONBLOCK);
  }
  ~TcpConnection() { close(); }
  TcpConnection(const TcpConnection&) = delete;
  TcpConnection& operator=(const TcpConnection&) = delete;

  bool connected() const { return fd_ >= 0; }
  End end() const { return end_; }

  // Writes all of `bytes`, reading what arrives meanwhile (a peer that answers while we write
  // must not deadlock us). False if the peer closed or reset, or the deadline passed. A failed
  // write does not end reading: what the peer sent before it closed is still read.
  bool write_all(ByteView bytes, Clock::time_point deadline) {
    std::size_t sent = 0;
    while (sent < bytes.size()) {
      if (end_ != End::kOpen || write_failed_ || fd_ < 0 || Clock::now() > deadline) return false;
      pollfd ready{fd_, POLLIN | POLLOUT, 0};
      if (::poll(&ready, 1, poll_timeout_ms(deadline)) <= 0) return false;
      if ((ready.revents & (POLLIN | POLLHUP | POLLERR)) != 0) read_available();
      if ((ready.revents & POLLOUT) == 0) continue;
      const ssize_t n = ::send(fd_, bytes.data() + sent, bytes.size() - sent, MSG_NOSIGNAL);
      if (n > 0) {
        sent += static_cast<std::size_t>(n);
      } else if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) {
        write_failed_ = true;
        return false;
      }
    }
    return true;
  }

  // Waits until bytes are waiting in the inbox or the connection ended; false when neither
  // happened by the deadline.
  bool wait(Clock::time_point deadline) {
    while (inbox_.empty() && end_ == End::kOpen && fd_ >= 0) {
      if (Clock::now() > deadline) return false;
      pollfd ready{fd_, POLLIN, 0};
      if (::poll(&ready, 1, poll_timeout_ms(deadline)) <= 0) return false;
      read_available();
    }
    return true;
  }

  // Reads (and keeps) everything until the peer closes or resets; kOpen if it had not by the
  // deadline.
  End wait_for_end(Clock::time_point deadline) {
    while (end_ == End::kOpen && fd_ >= 0 && Clock::now() <= deadline) {
      pollfd ready{fd_, POLLIN, 0};
      if (::poll(&ready, 1, poll_timeout_ms(deadline)) <= 0) break;
      read_available();
    }
    return end_;
  }

  Bytes take_inbox() { return std::exchange(inbox_, {}); }
  const Bytes& inbox() const { return inbox_; }

  void shutdown_write() {
    if (fd_ >= 0) ::shutdown(fd_, SHUT_WR);
  }
  void close() {
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
  }

 private:
  void read_available() {
    std::uint8_t buffer[16384];
    for (;;) {
      const ssize_t n = ::recv(fd_, buffer, sizeof buffer, 0);
      if (n > 0) {
        inbox_.insert(inbox_.end(), buffer, buffer + n);
        continue;
      }
      if (n == 0) {
        end_ = End::kClosed;
      } else if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) {
        end_ = errno == ECONNRESET ? End::kReset : End::kOtherError;
      }
      return;
    }
  }

  int fd_ = -1;
  Bytes inbox_;
  End end_ = End::kOpen;  // as reading found it
  bool write_failed_ = false;
};

const char* to_string(TcpConnection::End end) {
  switch (end) {
    case TcpConnection::End::kOpen: return "still open";
    case TcpConnection::End::kClosed: return "closed (read returned 0)";
    case TcpConnection::End::kReset: return "reset (ECONNRESET)";
    case TcpConnection::End::kOtherError: return "failed";
  }
  return "?";
}

// A connection the server ended: an orderly close, or a reset when our bytes were still unread
// in its socket as it closed (RFC 1122 4.2.2.13).
::testing::AssertionResult ended_by_server(TcpConnection::End end) {
  if (end == TcpConnection::End::kClosed || end == TcpConnection::End::kReset) {
    return ::testing::AssertionSuccess();
  }
  return ::testing::AssertionFailure() << "the connection is " << to_string(end);
}

// ---- TLS over that connection (rpcnet's client TlsStreamSession) --------------------------------

std::shared_ptr<const quic::TlsCredentials> client_tls() {
  quic::ClientTlsOptions options;
  options.trust_path = certificates().main.ca_cert;
  options.server_name = "localhost";
  auto credentials = quic::TlsCredentials::for_client(options);
  if (!credentials) throw std::runtime_error(credentials.error().to_string());
  return *credentials;
}

class TlsClient {
 public:
  explicit TlsClient(std::uint16_t port, std::string alpn = "h2") : tcp_(port) {
    auto session = quic::TlsStreamSession::client(client_tls(), quic::StreamTlsOptions{std::move(alpn)});
    if (!session) throw std::runtime_error(session.error().to_string());
    tls_ = std::move(*session);
  }

  TcpConnection& tcp() { return tcp_; }
  quic::TlsStreamSession& tls() { return *tls_; }

  // ClientHello to Finished. Errors: the TLS session's (kTls, naming an alert), or kConnection
  // when the server closed or went quiet first.
  Result<void> handshake(Clock::time_point deadline = deadline_in()) {
    if (!tcp_.connected()) return RpcError::connection("cannot connect");
    RPCNET_TRY(tls_->start());
    while (!tls_->handshake_complete()) {
      if (Clock::now() > deadline) return RpcError::connection("no handshake in time");
      if (!flush(deadline)) return RpcError::connection("the server closed during the handshake");
      if (!tcp_.wait(deadline)) return RpcError::connection("no answer to the handshake in time");
      const Bytes ciphertext = tcp_.take_inbox();
      if (ciphertext.empty()) return RpcError::connection(std::string("handshake: the connection ") + to_string(tcp_.end()));
      if (auto received = tls_->receive_ciphertext(ciphertext); !received) {
        (void)flush(deadline);  // our alert
        return received;
      }
    }
    if (!flush(deadline)) return RpcError::connection("the server closed after the handshake");
    return ok();
  }

  bool send(ByteView plaintext, Clock::time_point deadline = deadline_in()) {
    if (!tls_->send_plaintext(plaintext)) return false;
    return flush(deadline);
  }

  // Waits for the next bytes from the server and appends their plaintext to `out`. False once
  // nothing more will come (the connection ended, or TLS failed) or nothing came by the deadline.
  bool receive(Bytes& out, Clock::time_point deadline = deadline_in()) {
    if (failure_) return false;
    if (!tcp_.wait(deadline)) return false;
    const Bytes ciphertext = tcp_.take_inbox();
    if (ciphertext.empty()) return false;  // ended
    if (auto received = tls_->receive_ciphertext(ciphertext); !received) {
      failure_ = received.error();
      return false;
    }
    Bytes plaintext = tls_->take_plaintext();
    out.insert(out.end(), plaintext.begin(), plaintext.end());
    (void)flush(deadline);  // a KeyUpdate's answer, if any
    return true;
  }

  const std::optional<RpcError>& failure() const { return failure_; }

 private:
  bool flush(Clock::time_point deadline) {
    Bytes ciphertext;
    tls_->take_ciphertext(ciphertext);
    return ciphertext.empty() || tcp_.write_all(ciphertext, deadline);
  }

  TcpConnection tcp_;
  std::unique_ptr<quic::TlsStreamSession> tls_;
  std::optional<RpcError> failure_;
};

// ---- HTTP/2 frames, written and read by hand ----------------------------------------------------

constexpr std::string_view kClientPreface = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
// HPACK (RFC 7541): an integer with an N-bit prefix, and a "literal header field without
// indexing, new name" with plain (not Huffman) strings: no dynamic table state on either side.
void append_hpack_integer(Bytes& out, std::uint8_t first_byte_bits, int prefix_bits, std::size_t value) {
  const std::size_t max_prefix = (std::size_t{1} << prefix_bits) - 1;
  if (value < max_prefix) {
    out.push_back(static_cast<std::uint8_t>(first_byte_bits | value));
    return;
  }
  out.push_back(static_cast<std::uint8_t>(first_byte_bits | max_prefix));
  value -= max_prefix;
  while (value >= 128) {
    out.push_back(static_cast<std::uint8_t>((value % 128) + 128));
    value /= 128;
  }
  out.push_back(static_cast<std::uint8_t>(value));
}

Bytes hpack_literals(const std::vector<std::pair<std::string, std::string>>& fields) {
  Bytes block;
  for (const auto& [name, value] : fields) {
    block.push_back(0x00);
    append_hpack_integer(block, 0x00, 7, name.size());
    block.insert(block.end(), name.begin(), name.end());
    append_hpack_integer(block, 0x00, 7, value.size());
    block.insert(block.end(), value.begin(), value.end());
  }
  return block;
}

const Bytes& say_request_block() {
  static const Bytes block = hpack_literals({{":method", "POST"},
                                             {":scheme", "https"},
                                             {":path", "/interop.Echo/Say"},
                                             {":authority", "localhost"},
                                             {"content-type", "application/grpc"},
                                             {"te", "trailers"}});
  return block;
}

// A header block as HEADERS and as many CONTINUATION frames as the server's
// SETTINGS_MAX_FRAME_SIZE (16384, nghttp2's default) needs.
void append_header_block(Bytes& out, std::uint32_t stream, ByteView block, bool end_stream) {
  constexpr std::size_t kMaxFrame = 16384;
  std::size_t at = 0;
  bool first = true;
  do {
    const std::size_t n = std::min(kMaxFrame, block.size() - at);
    std::uint8_t flags = at + n == block.size() ? kFlagEndHeaders : 0;
    if (first && end_stream) flags |= kFlagEndStream;
    append_frame(out, first ? kFrameHeaders : kFrameContinuation, flags, stream, block.subspan(at, n));
    at += n;
    first = false;
  } while (at < block.size());
}

Bytes rst_stream_payload(std::uint32_t code) {
  Bytes payload;
  for (int shift = 24; shift >= 0; shift -= 8) payload.push_back(static_cast<std::uint8_t>(code >> shift));
  return payload;
}

// What a hand-driven HTTP/2 connection saw from the server.
struct ServerFrames {
  struct Stream {
    std::vector<Bytes> header_blocks;  // HPACK-encoded, CONTINUATIONs appended
    Bytes data;
    bool ended = false;  // END_STREAM
  };
  std::map<std::uint32_t, std::uint32_t> resets;  // stream -> RST_STREAM error code
  std::map<std::uint32_t, Stream> streams;        // streams the server sent HEADERS or DATA on
  bool settings = false;                          // the server's SETTINGS (not an ACK)
  std::optional<std::uint32_t> goaway_code;
  std::optional<std::uint32_t> goaway_last_stream;
  std::uint64_t ping_acks = 0;

  void note(const Frame& frame) {
    switch (frame.type) {
      case kFramePing:
        if ((frame.flags & kFlagAck) != 0) ++ping_acks;
        break;
      case kFrameRstStream:
        if (frame.payload.size() == 4) resets[frame.stream] = read_u32(frame.payload, 0);
        break;
      case kFrameHeaders:
        // No padding or priority: nghttp2 sends neither.
        streams[frame.stream].header_blocks.push_back(frame.payload);
        streams[frame.stream].ended = streams[frame.stream].ended || (frame.flags & kFlagEndStream) != 0;
        break;
      case kFrameContinuation:
        if (auto& blocks = streams[frame.stream].header_blocks; !blocks.empty()) {
          blocks.back().insert(blocks.back().end(), frame.payload.begin(), frame.payload.end());
        }
        break;
      case kFrameData: {
        auto& stream = streams[frame.stream];
        stream.data.insert(stream.data.end(), frame.payload.begin(), frame.payload.end());
        stream.ended = stream.ended || (frame.flags & kFlagEndStream) != 0;
        break;
      }
      case kFrameSettings:
        if ((frame.flags & kFlagAck) == 0) settings = true;
        break;
      case kFrameGoaway:
        if (frame.payload.size() >= 8 && !goaway_code) {
          goaway_last_stream = read_u32(frame.payload, 0) & 0x7fffffffu;
          goaway_code = read_u32(frame.payload, 4);
        }
        break;
      default: break;
    }
  }
};

// HTTP/2 over TLS with frames written by hand (to break the rules h2::Session keeps).
class RawHttp2 {
 public:
  explicit RawHttp2(std::uint16_t port) : tls_(port) {}

  Result<void> handshake() { return tls_.handshake(); }
  TlsClient& tls() { return tls_; }
  const ServerFrames& seen() const { return seen_; }

  bool send(ByteView bytes) { return tls_.send(bytes); }

  // Reads frames until `done()` holds; false if the connection ended or the deadline passed
  // first.
  template <class Done>
  bool read_until(Done&& done, Clock::time_point deadline = deadline_in()) {
    while (!done()) {
      Bytes plaintext;
      if (Clock::now() > deadline || !tls_.receive(plaintext, deadline)) return done();
      frames_.feed(plaintext);
      while (auto frame = frames_.next()) seen_.note(*frame);
    }
    return true;
  }

  // Reads until the server closes the connection; how it ended.
  TcpConnection::End read_to_end(Clock::time_point deadline = deadline_in()) {
    (void)read_until([] { return false; }, deadline);
    return tls_.tcp().end();
  }

 private:
  TlsClient tls_;
  FrameReader frames_;
  ServerFrames seen_;
};

Bytes client_preface_and_settings() {
  Bytes bytes(kClientPreface.begin(), kClientPreface.end());
  append_frame(bytes, kFrameSettings, 0, 0, {});
  return bytes;
}

// ---- HTTP/2 over TLS with rpcnet's own client h2::Session ---------------------------------------

class Http2Client final : public h2::SessionEvents {
 public:
  explicit Http2Client(std::uint16_t port) : tls_(port) {
    auto session = h2::Session::client(*this);
    if (!session) throw std::runtime_error(session.error().to_string());
    session_ = std::move(*session);
  }

  Result<void> handshake() { return tls_.handshake(); }
  h2::Session& session() { return *session_; }

  // Moves bytes both ways until `done()` holds; false if the connection ended, the session
  // failed or the deadline passed first.
  template <class Done>
  bool pump_until(Done&& done, Clock::time_point deadline = deadline_in()) {
    for (;;) {
      Bytes out;
      session_->take_output(out);
      if (!out.empty() && !tls_.send(out, deadline)) return done();
      if (done()) return true;
      Bytes plaintext;
      if (Clock::now() > deadline || !tls_.receive(plaintext, deadline)) return done();
      if (auto received = session_->receive(plaintext); !received) {
        failure = received.error();
        return done();
      }
    }
  }

  struct StreamLog {
    std::vector<h2::HeaderList> header_blocks;
    Bytes data;
    std::optional<std::uint32_t> closed_with;
  };
  std::map<std::int32_t, StreamLog> streams;
  std::optional<RpcError> failure;

 private:
  void on_headers(std::int32_t stream, h2::HeaderList headers, bool) override {
    streams[stream].header_blocks.push_back(std::move(headers));
  }
  void on_data(std::int32_t stream, ByteView data) override {
    auto& log = streams[stream].data;
    log.insert(log.end(), data.begin(), data.end());
    session_->consume(stream, data.size());
  }
  void on_end_of_stream(std::int32_t) override {}
  void on_stream_closed(std::int32_t stream, std::uint32_t error_code) override {
    streams[stream].closed_with = error_code;
  }

  TlsClient tls_;
  std::unique_ptr<h2::Session> session_;
};

std::optional<std::string> find_header(const h2::HeaderList& headers, std::string_view name) {
  for (const auto& header : headers) {
    if (header.name == name) return header.value;
  }
  return std::nullopt;
}

h2::HeaderList say_request() {
  return {{":method", "POST"},          {":scheme", "https"},
          {":path", "/interop.Echo/Say"}, {":authority", "localhost"},
          {"content-type", "application/grpc"}, {"te", "trailers"}};
}

// A gRPC-framed empty interop.Payload: not compressed, length 0.
Bytes empty_grpc_message() { return Bytes{0, 0, 0, 0, 0}; }

// ---- the suite ----------------------------------------------------------------------------------

class GrpcBadInputTest : public ::testing::Test {
 protected:
  void start(RpcConfig config) {
    server_ = std::make_unique<LoopbackServer>(std::move(config));
    interop::register_echo_service(server_->server(), observed_);
    server_->start();
    const auto address = server_->server().grpc_address();
    ASSERT_TRUE(address);
    port_ = address->port();
  }
  void start() { start(server_config().with_grpc_over_tcp()); }

  ServerStats stats() { return server_->server().stats(); }

  // Waits (bounded) until the server counts `open` gRPC connections. A connection the server
  // closed is counted out right after its socket closes, on the server's thread: between the
  // two this side may already have seen the close.
  ::testing::AssertionResult open_connections_reach(std::uint64_t open) {
    const auto deadline = deadline_in();
    while (stats().grpc_connections_open != open) {
      if (Clock::now() > deadline) {
        return ::testing::AssertionFailure() << "grpc_connections_open stayed at " << stats().grpc_connections_open
                                             << ", not " << open;
      }
      std::this_thread::yield();
    }
    return ::testing::AssertionSuccess();
  }

  // A stock gRPC C++ client, on a channel (and so a TCP connection) of its own, calls
  // interop.Echo/Say and gets its request back.
  ::testing::AssertionResult grpc_cpp_call_succeeds() {
    grpc::SslCredentialsOptions tls;
    tls.pem_root_certs = read_file(certificates().main.ca_cert);
    grpc::ChannelArguments arguments;
    arguments.SetSslTargetNameOverride("localhost");
    arguments.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);  // never another channel's connection
    const auto channel = grpc::CreateCustomChannel("ipv4:127.0.0.1:" + std::to_string(port_),
                                                   grpc::SslCredentials(tls), arguments);
    const auto stub = ::interop::Echo::NewStub(channel);
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() + 20s);
    ::interop::Payload request;
    request.set_data("still serving");
    ::interop::Payload response;
    const grpc::Status status = stub->Say(&context, request, &response);
    if (!status.ok()) {
      return ::testing::AssertionFailure() << "gRPC C++ call failed: " << status.error_code() << " "
                                           << status.error_message();
    }
    if (response.data() != "still serving") {
      return ::testing::AssertionFailure() << "gRPC C++ call answered \"" << response.data() << "\"";
    }
    return ::testing::AssertionSuccess();
  }

  interop::Observed observed_;
  std::unique_ptr<LoopbackServer> server_;
  std::uint16_t port_ = 0;
};

// -- not TLS at all --

// GnuTLS's fatal unexpected_message alert, as a TLS 1.2-versioned record (what a server sends
// before it knows the peer's version).
const Bytes kUnexpectedMessageAlert = {0x15, 0x03, 0x03, 0x00, 0x02, 0x02, 0x0a};

TEST_F(GrpcBadInputTest, GarbageInsteadOfAClientHelloGetsAnUnexpectedMessageAlertAndTheConnectionCloses) {
  // The header timeout is far off: only the garbage can end the connection in time.
  start(server_config().with_grpc_over_tcp().with_header_timeout(60s));
  TcpConnection garbage(port_);
  ASSERT_TRUE(garbage.connected());
  // 16 KiB: more than the 11,181 bytes GnuTLS waits for when it takes 0xab 0xab for the header
  // of an SSLv2-style record (see the next test).
  ASSERT_TRUE(garbage.write_all(Bytes(16u << 10, 0xab), deadline_in()));

  EXPECT_EQ(garbage.wait_for_end(deadline_in()), TcpConnection::End::kClosed);
  EXPECT_EQ(garbage.inbox(), kUnexpectedMessageAlert);
  EXPECT_TRUE(open_connections_reach(0));
  EXPECT_TRUE(grpc_cpp_call_succeeds());
  EXPECT_EQ(stats().grpc_connections_accepted, 2u);
}

// 4 KiB of 0xab: a first byte with its top bit set is, to GnuTLS, the 2-byte header of an
// SSLv2-compatible ClientHello, here announcing 0x2bab = 11,179 bytes; it waits for them. The
// connection is held (with at most that record buffered) until the header timeout ends it.
TEST_F(GrpcBadInputTest, GarbageShorterThanTheRecordItAnnouncesIsClosedAtTheHeaderTimeoutWithoutAnAlert) {
  start(server_config().with_grpc_over_tcp().with_header_timeout(300ms));
  TcpConnection garbage(port_);
  ASSERT_TRUE(garbage.connected());
  ASSERT_TRUE(garbage.write_all(Bytes(4096, 0xab), deadline_in()));

  EXPECT_TRUE(ended_by_server(garbage.wait_for_end(deadline_in())));
  EXPECT_TRUE(garbage.inbox().empty()) << to_hex(garbage.inbox());
  EXPECT_TRUE(open_connections_reach(0));
  EXPECT_TRUE(grpc_cpp_call_succeeds());
  EXPECT_EQ(stats().grpc_connections_accepted, 2u);
}

TEST_F(GrpcBadInputTest, PlaintextHttp1RequestGetsAnUnexpectedMessageAlertAndTheConnectionCloses) {
  start(server_config().with_grpc_over_tcp().with_header_timeout(60s));
  TcpConnection http1(port_);
  ASSERT_TRUE(http1.connected());
  ASSERT_TRUE(http1.write_all(to_bytes("GET / HTTP/1.1\r\nHost: x\r\n\r\n"), deadline_in()));

  EXPECT_EQ(http1.wait_for_end(deadline_in()), TcpConnection::End::kClosed);
  EXPECT_EQ(http1.inbox(), kUnexpectedMessageAlert);
  EXPECT_TRUE(open_connections_reach(0));
  EXPECT_TRUE(grpc_cpp_call_succeeds());
  EXPECT_EQ(stats().grpc_connections_accepted, 2u);
}

// -- TLS, but not for HTTP/2 --

TEST_F(GrpcBadInputTest, TlsOfferingOnlyHttp11FailsWithNoApplicationProtocolAndTheServerCloses) {
  start(server_config().with_grpc_over_tcp().with_header_timeout(60s));
  TlsClient client(port_, "http/1.1");
  const auto handshake = client.handshake();
  ASSERT_FALSE(handshake);
  EXPECT_EQ(handshake.error().kind(), ErrorKind::kTls) << handshake.error();
  EXPECT_NE(handshake.error().message().find("GNUTLS_A_NO_APPLICATION_PROTOCOL"), std::string::npos)
      << handshake.error();
  EXPECT_FALSE(client.tls().handshake_complete());
  EXPECT_EQ(client.tls().alpn(), "");

  EXPECT_TRUE(ended_by_server(client.tcp().wait_for_end(deadline_in())));
  EXPECT_TRUE(open_connections_reach(0));
  EXPECT_TRUE(grpc_cpp_call_succeeds());
}

// -- HTTP/2 that breaks the server's limits --

TEST_F(GrpcBadInputTest, OversizedHeaderListResetsThatStreamWithEnhanceYourCalmAndTheConnectionServesTheNextCall) {
  start();
  Http2Client client(port_);
  ASSERT_TRUE(client.handshake());

  // One metadata value of 32 KiB: far past SETTINGS_MAX_HEADER_LIST_SIZE (max_header_size
  // 16 KiB plus 32 bytes per field for 80 fields, 18,944 bytes), yet within the 64 KiB header
  // block nghttp2's client sends (its max_send_header_block_length).
  h2::HeaderList oversized = say_request();
  oversized.push_back({"x-big", std::string(32u << 10, 'a')});
  const auto big = client.session().submit_request(oversized, false);
  ASSERT_TRUE(big.ok()) << big.error();
  ASSERT_TRUE(client.session().submit_data(*big, empty_grpc_message(), true));
  ASSERT_TRUE(client.pump_until([&] { return client.streams[*big].closed_with.has_value(); }))
      << (client.failure ? client.failure->to_string() : "no reset");
  EXPECT_EQ(*client.streams[*big].closed_with, h2::kEnhanceYourCalm);
  EXPECT_TRUE(client.streams[*big].header_blocks.empty()) << "no response to a request never read";

  // The same connection, a normal call.
  const auto normal = client.session().submit_request(say_request(), false);
  ASSERT_TRUE(normal.ok()) << normal.error();
  ASSERT_TRUE(client.session().submit_data(*normal, empty_grpc_message(), true));
  ASSERT_TRUE(client.pump_until([&] { return client.streams[*normal].closed_with.has_value(); }))
      << (client.failure ? client.failure->to_string() : "no answer");
  const auto& answer = client.streams[*normal];
  EXPECT_EQ(*answer.closed_with, h2::kNoError);
  ASSERT_EQ(answer.header_blocks.size(), 2u);
  EXPECT_EQ(find_header(answer.header_blocks[0], ":status"), "200");
  EXPECT_EQ(find_header(answer.header_blocks[0], "content-type"), "application/grpc");
  EXPECT_EQ(answer.data, empty_grpc_message()) << "the echo of an empty Payload";
  EXPECT_EQ(find_header(answer.header_blocks[1], "grpc-status"), "0");
  EXPECT_EQ(find_header(answer.header_blocks[1], "handled-by"), "rpcnet");
  EXPECT_FALSE(client.failure);

  EXPECT_TRUE(grpc_cpp_call_succeeds());
  EXPECT_EQ(stats().calls_started, 2u) << "the oversized request never became a call";
}

// The same by hand, with a value as large as nghttp2's HPACK decoder takes (65536 bytes, its
// NGHTTP2_HD_MAX_NV), which nghttp2's own client refuses to send (its header blocks stop at
// 64 KiB): stream 1 is reset, stream 3 right behind it on the same connection is answered.
// Returns what the server sent; `oversized_value` bytes of 'a' in a plain HPACK literal.
ServerFrames oversized_request_then_normal_one(std::uint16_t port, std::size_t oversized_value) {
  RawHttp2 client(port);
  if (auto handshake = client.handshake(); !handshake) {
    ADD_FAILURE() << handshake.error();
    return {};
  }
  Bytes bytes = client_preface_and_settings();
  auto fields = std::vector<std::pair<std::string, std::string>>{{":method", "POST"},
                                                                  {":scheme", "https"},
                                                                  {":path", "/interop.Echo/Say"},
                                                                  {":authority", "localhost"},
                                                                  {"content-type", "application/grpc"},
                                                                  {"te", "trailers"},
                                                                  {"x-big", std::string(oversized_value, 'a')}};
  append_header_block(bytes, 1, hpack_literals(fields), true);
  append_header_block(bytes, 3, say_request_block(), false);
  append_frame(bytes, kFrameData, kFlagEndStream, 3, empty_grpc_message());
  (void)client.send(bytes);
  (void)client.read_until([&] {
    const auto it = client.seen().streams.find(3);
    return (it != client.seen().streams.end() && it->second.ended) || client.seen().resets.count(3) != 0;
  });
  return client.seen();
}

TEST_F(GrpcBadInputTest, HandWrittenHeaderBlockWithA64KibValueResetsThatStreamAndTheNextStreamIsAnswered) {
  start();
  const ServerFrames seen = oversized_request_then_normal_one(port_, 65536);
  EXPECT_EQ(seen.resets, (std::map<std::uint32_t, std::uint32_t>{{1, h2::kEnhanceYourCalm}}));
  EXPECT_FALSE(seen.goaway_code);
  EXPECT_EQ(seen.streams.count(1), 0u);
  ASSERT_EQ(seen.streams.count(3), 1u);
  const auto& answer = seen.streams.at(3);
  EXPECT_TRUE(answer.ended);
  ASSERT_EQ(answer.header_blocks.size(), 2u) << "response headers, then trailers";
  ASSERT_FALSE(answer.header_blocks[0].empty());
  EXPECT_EQ(answer.header_blocks[0][0], 0x88) << "\":status: 200\", HPACK static table entry 8";
  EXPECT_EQ(answer.data, empty_grpc_message());
  EXPECT_TRUE(grpc_cpp_call_succeeds());
  EXPECT_EQ(stats().calls_started, 2u);
}

// A value past nghttp2's HPACK string limit cannot be skipped: the decoder stops in the middle
// of the block and its table state is lost, a decoding error that RFC 7541 4.2 / RFC 9113 4.3
// make a connection error. The connection ends with GOAWAY COMPRESSION_ERROR; other clients
// are unaffected.
TEST_F(GrpcBadInputTest, HeaderValueBeyondHpacksStringLimitEndsThatConnectionWithGoawayCompressionError) {
  start(server_config().with_grpc_over_tcp().with_header_timeout(60s));
  const ServerFrames seen = oversized_request_then_normal_one(port_, 65537);
  ASSERT_TRUE(seen.goaway_code);
  EXPECT_EQ(*seen.goaway_code, 0x9u) << "COMPRESSION_ERROR";
  EXPECT_TRUE(seen.streams.empty());
  EXPECT_TRUE(open_connections_reach(0));
  EXPECT_TRUE(grpc_cpp_call_succeeds());
  EXPECT_EQ(stats().calls_started, 1u);
}

// Streams past SETTINGS_MAX_CONCURRENT_STREAMS, sent before the client acknowledged the
// server's SETTINGS: the limit is not in force yet, so nghttp2 refuses each extra stream alone.
TEST_F(GrpcBadInputTest, StreamsBeyondMaxConcurrentStreamsAreRefusedWithRefusedStreamAndOthersAreServed) {
  start(server_config().with_grpc_over_tcp().with_max_concurrent_streams(8));
  RawHttp2 client(port_);
  ASSERT_TRUE(client.handshake());
  constexpr std::uint32_t kStreams = 50;
  Bytes flood = client_preface_and_settings();
  for (std::uint32_t i = 0; i < kStreams; ++i) {
    append_frame(flood, kFrameHeaders, kFlagEndHeaders, 2 * i + 1, say_request_block());  // no END_STREAM
  }
  ASSERT_TRUE(client.send(flood));
  ASSERT_TRUE(client.read_until([&] { return client.seen().resets.size() >= kStreams - 8; }))
      << client.seen().resets.size() << " streams reset";

  std::map<std::uint32_t, std::uint32_t> expected;
  for (std::uint32_t i = 8; i < kStreams; ++i) expected[2 * i + 1] = h2::kRefusedStream;
  EXPECT_EQ(client.seen().resets, expected);
  EXPECT_FALSE(client.seen().goaway_code);
  EXPECT_TRUE(client.seen().streams.empty()) << "the 8 admitted calls wait for their request";

  // The flooding connection stays open with its 8 calls; another client is served meanwhile.
  EXPECT_EQ(stats().grpc_connections_open, 1u);
  EXPECT_TRUE(grpc_cpp_call_succeeds());
  EXPECT_EQ(stats().grpc_connections_accepted, 2u);
}

// The same flood once the client has acknowledged the server's SETTINGS: the limit is in force
// and a stream past it is a connection error (RFC 9113 5.1.2): GOAWAY PROTOCOL_ERROR naming the
// last stream processed, then the close.
TEST_F(GrpcBadInputTest, StreamsBeyondAcknowledgedMaxConcurrentStreamsEndTheConnectionWithGoawayProtocolError) {
  start(server_config().with_grpc_over_tcp().with_max_concurrent_streams(8).with_header_timeout(60s));
  RawHttp2 client(port_);
  ASSERT_TRUE(client.handshake());
  ASSERT_TRUE(client.send(client_preface_and_settings()));
  ASSERT_TRUE(client.read_until([&] { return client.seen().settings; }));
  Bytes flood;
  append_frame(flood, kFrameSettings, kFlagAck, 0, {});
  for (std::uint32_t i = 0; i < 50; ++i) append_frame(flood, kFrameHeaders, kFlagEndHeaders, 2 * i + 1, say_request_block());
  (void)client.send(flood);  // the server may close before taking it all

  EXPECT_TRUE(ended_by_server(client.read_to_end()));
  ASSERT_TRUE(client.seen().goaway_code);
  EXPECT_EQ(*client.seen().goaway_code, h2::kProtocolError);
  EXPECT_EQ(client.seen().goaway_last_stream, 15u) << "streams 1..15 were processed";
  EXPECT_TRUE(open_connections_reach(0));
  EXPECT_TRUE(grpc_cpp_call_succeeds());
}

// CVE-2023-44487: streams opened and reset at once, faster than any server can run calls.
// nghttp2's reset budget (a burst of 1000, then 33 a second) runs out and the connection ends
// with GOAWAY INTERNAL_ERROR.
TEST_F(GrpcBadInputTest, RapidResetFloodEndsThatConnectionWithGoawayInternalErrorAndOtherClientsAreServed) {
  start(server_config().with_grpc_over_tcp().with_header_timeout(60s));
  RawHttp2 client(port_);
  ASSERT_TRUE(client.handshake());
  ASSERT_TRUE(client.send(client_preface_and_settings()));
  constexpr std::uint32_t kStreams = 2000;
  constexpr std::uint32_t kBatch = 100;
  const Bytes cancel = rst_stream_payload(h2::kCancel);
  bool all_sent = true;
  for (std::uint32_t first = 0; first < kStreams && all_sent; first += kBatch) {
    Bytes batch;
    for (std::uint32_t i = first; i < first + kBatch; ++i) {
      append_frame(batch, kFrameHeaders, kFlagEndHeaders, 2 * i + 1, say_request_block());
      append_frame(batch, kFrameRstStream, 0, 2 * i + 1, cancel);
    }
    all_sent = client.send(batch);
  }

  EXPECT_TRUE(ended_by_server(client.read_to_end()));
  ASSERT_TRUE(client.seen().goaway_code) << "sent all: " << all_sent;
  EXPECT_EQ(*client.seen().goaway_code, h2::kInternalError);
  // The 1001st reset (stream 2001) exhausts the burst; a few tokens refill while it runs.
  EXPECT_GE(*client.seen().goaway_last_stream, 2001u);
  EXPECT_LT(*client.seen().goaway_last_stream, 2 * kStreams - 1);
  EXPECT_TRUE(open_connections_reach(0));
  EXPECT_TRUE(grpc_cpp_call_succeeds());
}

// PINGs in batches of 200: a client that reads each batch's ACKs never has more than 200 owed;
// one that never reads fills the socket buffers, then the 256 KiB the server encrypts ahead, then
// nghttp2's queue of owed ACKs, whose limit (1,000) ends that connection as a flood.
Bytes ping_batch() {
  Bytes batch;
  for (int i = 0; i < 200; ++i) append_frame(batch, kFramePing, 0, 0, Bytes(8, static_cast<std::uint8_t>(i)));
  return batch;
}

TEST_F(GrpcBadInputTest, PingsFromAClientThatNeverReadsEndThatConnectionWhileAReadingClientIsServed) {
  start(server_config().with_grpc_over_tcp().with_header_timeout(60s));
  const Bytes batch = ping_batch();
  RawHttp2 silent(port_);
  ASSERT_TRUE(silent.handshake());
  ASSERT_TRUE(silent.send(client_preface_and_settings()));
  constexpr int kMaxBatches = 20000;  // 68 MB: far past any socket buffer
  int sent = 0;
  while (sent < kMaxBatches && silent.send(batch)) ++sent;
  EXPECT_LT(sent, kMaxBatches) << "the server answered every PING of a client that never reads";
  EXPECT_TRUE(ended_by_server(silent.read_to_end()));
  if (silent.seen().goaway_code) {
    EXPECT_EQ(*silent.seen().goaway_code, h2::kEnhanceYourCalm);
  }

  // As many PINGs from a client that reads the answers: served to the end.
  RawHttp2 reading(port_);
  ASSERT_TRUE(reading.handshake());
  ASSERT_TRUE(reading.send(client_preface_and_settings()));
  bool answered = true;
  for (int i = 0; i < sent && answered; ++i) {
    const std::uint64_t expected = 200ull * static_cast<std::uint64_t>(i + 1);
    answered = reading.send(batch) && reading.read_until([&] { return reading.seen().ping_acks >= expected; });
  }
  EXPECT_TRUE(answered) << "after " << reading.seen().ping_acks << " ACKs";
  EXPECT_FALSE(reading.seen().goaway_code.has_value());
  EXPECT_TRUE(grpc_cpp_call_succeeds());
}

// -- clients that hold a connection --

TEST_F(GrpcBadInputTest, SilentTcpClientIsClosedAfterTheHeaderTimeout) {
  start(server_config().with_grpc_over_tcp().with_header_timeout(300ms));
  TcpConnection silent(port_);
  ASSERT_TRUE(silent.connected());
  EXPECT_EQ(silent.wait_for_end(deadline_in(5s)), TcpConnection::End::kClosed);
  EXPECT_TRUE(silent.inbox().empty()) << "no TLS alert without a ClientHello";
  EXPECT_TRUE(open_connections_reach(0));
  EXPECT_TRUE(grpc_cpp_call_succeeds());
}

TEST_F(GrpcBadInputTest, ClientSendingNoRequestAfterTheHandshakeGetsGoawayNoErrorAfterTheHeaderTimeout) {
  start(server_config().with_grpc_over_tcp().with_header_timeout(300ms));
  RawHttp2 client(port_);
  ASSERT_TRUE(client.handshake());
  ASSERT_TRUE(client.send(client_preface_and_settings()));
  EXPECT_EQ(client.read_to_end(deadline_in(5s)), TcpConnection::End::kClosed);
  EXPECT_TRUE(client.seen().settings);
  ASSERT_TRUE(client.seen().goaway_code);
  EXPECT_EQ(*client.seen().goaway_code, h2::kNoError);
  EXPECT_EQ(client.seen().goaway_last_stream, 0u);
  EXPECT_TRUE(open_connections_reach(0));
  EXPECT_TRUE(grpc_cpp_call_succeeds());
}

TEST_F(GrpcBadInputTest, ConnectionBeyondMaxConnectionsIsClosedAtOnceAndAFreedSlotIsUsable) {
  start(server_config().with_grpc_over_tcp().with_max_connections(2));
  TlsClient first(port_);
  TlsClient second(port_);
  ASSERT_TRUE(first.handshake());
  ASSERT_TRUE(second.handshake());

  TcpConnection third(port_);
  ASSERT_TRUE(third.connected());
  EXPECT_EQ(third.wait_for_end(deadline_in()), TcpConnection::End::kClosed);
  EXPECT_TRUE(third.inbox().empty());
  auto now = stats();
  EXPECT_EQ(now.grpc_refused_connection_limit, 1u);
  EXPECT_EQ(now.grpc_connections_accepted, 2u);
  EXPECT_EQ(now.grpc_connections_open, 2u);

  // The first one leaves: its slot is free again once the server has closed its side.
  first.tcp().shutdown_write();
  EXPECT_TRUE(ended_by_server(first.tcp().wait_for_end(deadline_in())));
  ASSERT_TRUE(open_connections_reach(1));
  EXPECT_TRUE(grpc_cpp_call_succeeds());
  now = stats();
  EXPECT_EQ(now.grpc_refused_connection_limit, 1u);
  EXPECT_EQ(now.grpc_connections_accepted, 3u);
}

// -- bugs fuzz/fuzz_grpc_adapter.cc found (fixed in src/rpc/grpc/grpc_wire.cc) --

asio::awaitable<Result<Bytes>> say_over_http2(LoopbackServer& server, Metadata metadata) {
  RpcClient client = co_await server.connect(client_config().with_transport(TransportChoice::kHttp2Only));
  CallOptions options;
  options.metadata = std::move(metadata);
  Bytes request;
  co_return co_await client.call("interop.Echo/Say", std::move(request), std::move(options));
}

// Metadata is any key and value to rpcnet, over QUIC; over HTTP/2, RequestEncoder sends a key
// that names one of the transport's own fields as that field, after the real one, and the
// server's parse_request_headers takes the last: "content-type: text/plain" makes the call a
// non-gRPC request (HTTP 415). Expected: such keys are left out, as other keys HTTP/2 cannot
// carry are, and the call succeeds as it does over QUIC.
TEST_F(GrpcBadInputTest, MetadataNamedContentTypeDoesNotTurnAnRpcnetCallOverHttp2IntoANonGrpcRequest) {
  start();
  Metadata metadata = {{"content-type", "text/plain"}};
  const auto answer = run_bounded(server_->runtime(), say_over_http2(*server_, std::move(metadata)));
  EXPECT_TRUE(answer) << answer.error();
}

// DATA that stops inside a gRPC message, then trailers: MessageDecoder has already passed on the
// MESSAGE frame's prefix with the announced length, so the TRAILER frame ResponseDecoder appends
// is read by the client's call as the rest of that message. Here the message announces 7 bytes,
// 2 arrive, and the 5-byte TRAILER frame (OK) completes it: a streaming call hands the
// application the message "hi" 03 03 01 01 00, then fails "stream ended without a status" (the
// server's status is lost). Expected: nothing is appended after a message cut short, and the
// call fails INTERNAL without that message.
TEST(GrpcWireBadInputTest, ResponseDecoderAppendsNoTrailerFrameAfterAMessageCutShort) {
  grpc_compat::ResponseDecoder decoder;
  Bytes out;
  decoder.on_headers({{":status", "200"}, {"content-type", "application/grpc"}}, false, out);
  const Bytes cut_short = {0, 0, 0, 0, 7, 'h', 'i'};
  decoder.on_data(cut_short, out);
  const std::size_t after_data = out.size();
  decoder.on_headers({{"grpc-status", "0"}}, true, out);
  decoder.on_end_of_stream(out);

  EXPECT_TRUE(decoder.finished());
  EXPECT_EQ(out.size(), after_data) << "appended after the partial message: "
                                    << to_hex(ByteView(out).subspan(std::min(after_data, out.size())));
  wire::FrameDecoder frames(wire::FrameLimits{UINT64_MAX, UINT64_MAX, UINT64_MAX, UINT64_MAX});
  std::vector<wire::Frame> decoded;
  ASSERT_EQ(frames.feed(out, decoded), wire::FrameError::kNone);
  EXPECT_TRUE(decoded.empty()) << "a complete message of " << decoded.front().payload.size() << " bytes: "
                               << to_hex(decoded.front().payload);
}

}  // namespace
}  // namespace rpcnet::testing
