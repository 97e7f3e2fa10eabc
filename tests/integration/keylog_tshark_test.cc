// SSLKEYLOGFILE checked with the tool operators use: one unary call captured on loopback with
// tshark, then decoded by tshark with and without the key log. With it, tshark shows the
// call's QUIC STREAM frames and the method name inside them; without it, it shows none.
// Needs root (capturing) and tshark; skipped otherwise. scripts/install-deps.sh installs tshark.
#include <gtest/gtest.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "harness.h"
#include "runtime/child_process.h"
#include "support/log_capture.h"

namespace rpcnet::testing {
namespace {

namespace fs = std::filesystem;

constexpr char kMethod[] = "keylog_marker_method";
// The commands doc/operations.md gives operators, verbatim (the last test checks the doc still
// says so); $PORT, $CAPTURE and $KEYLOG are filled in here as the reader fills them in there.
constexpr char kCaptureCommand[] = R"(tshark -i lo -f "udp port $PORT" -w $CAPTURE)";
// Here it also prints a line per packet as it is written (-P -l): the test starts the call once
// a probe datagram shows up, and stops the capture once a marker sent after the call does.
constexpr char kCaptureProgress[] = " -P -l";
constexpr char kDecryptCommand[] =
    "tshark -n -r $CAPTURE -d udp.port==$PORT,quic -o tls.keylog_file:$KEYLOG "
    "-Y quic.stream_data -T fields -e quic.stream.stream_id -e quic.stream_data";
constexpr char kKeyLogOption[] = "-o tls.keylog_file:$KEYLOG ";
constexpr auto kToolBound = std::chrono::seconds(60);

bool on_path(const std::string& tool) {
  const char* path = std::getenv("PATH");
  std::stringstream dirs(path ? path : "/usr/bin:/usr/sbin");
  for (std::string dir; std::getline(dirs, dir, ':');) {
    if (!dir.empty() && ::access((fs::path(dir) / tool).c_str(), X_OK) == 0) return true;
  }
  return false;
}

std::string hex_of(std::string_view text) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string out;
  for (const char c : text) {
    out += kDigits[static_cast<unsigned char>(c) >> 4];
    out += kDigits[static_cast<unsigned char>(c) & 0xf];
  }
  return out;
}

// A temp directory removed with everything in it when the test ends.
struct TempDir {
  TempDir() {
    std::string pattern = (fs::temp_directory_path() / "rpcnet-keylog-XXXXXX").string();
    if (::mkdtemp(pattern.data()) != nullptr) path = pattern;
  }
  ~TempDir() {
    std::error_code ignored;
    if (!path.empty()) fs::remove_all(path, ignored);
  }
  fs::path path;
};

// Runs `command` through sh to completion within kToolBound: its stdout as lines, its stderr
// (warnings such as "Running as user root") kept apart in `errors` for failure messages.
struct ToolRun {
  std::optional<int> exit_code;
  std::vector<std::string> lines;
  std::string errors;
};
ToolRun run_tool(const std::string& command, const fs::path& stderr_file) {
  runtime::Process tool({"sh", "-c", command + " 2>" + stderr_file.string()});
  ToolRun run;
  run.exit_code = tool.wait_exit(kToolBound);
  // The reader thread may still be draining the last lines: wait for EOF (bounded).
  tool.wait_line([](const std::string&) { return false; }, std::chrono::seconds(5));
  run.lines = tool.lines();
  std::ifstream errors(stderr_file);
  run.errors.assign(std::istreambuf_iterator<char>(errors), {});
  return run;
}

std::string filled(std::string command, std::uint16_t port, const fs::path& capture,
                   const fs::path& keylog) {
  const std::pair<std::string_view, std::string> values[] = {
      {"$PORT", std::to_string(port)}, {"$CAPTURE", capture.string()}, {"$KEYLOG", keylog.string()}};
  for (const auto& [name, value] : values) {
    for (auto at = command.find(name); at != std::string::npos; at = command.find(name, at)) {
      command.replace(at, name.size(), value);
      at += value.size();
    }
  }
  return command;
}

// The STREAM frames tshark decodes from `capture`: one "stream-ids<TAB>data-hex" line per packet.
ToolRun stream_frames(const fs::path& capture, std::uint16_t port, const fs::path& keylog,
                      bool with_key_log) {
  std::string command = kDecryptCommand;
  if (!with_key_log) command.erase(command.find(kKeyLogOption), std::string_view(kKeyLogOption).size());
  return run_tool(filled(command, port, capture, keylog), capture.parent_path() / "tshark.err");
}

// Sends one datagram from a fresh loopback socket to `port` (the server drops it: not QUIC);
// returns the socket's port, 0 on failure.
std::uint16_t send_marker(std::uint16_t port) {
  const int fd = ::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return 0;
  sockaddr_in local{};
  local.sin_family = AF_INET;
  local.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof local;
  sockaddr_in to = local;
  to.sin_port = htons(port);
  constexpr char kMarker[] = "capture-ended";
  std::uint16_t from_port = 0;
  if (::bind(fd, reinterpret_cast<sockaddr*>(&local), sizeof local) == 0 &&
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&local), &len) == 0 &&
      ::sendto(fd, kMarker, sizeof kMarker - 1, 0, reinterpret_cast<sockaddr*>(&to), sizeof to) > 0) {
    from_port = ntohs(local.sin_port);
  }
  ::close(fd);
  return from_port;
}

// Datagrams from send_marker are identified in tshark's packet lines by their source port.
bool shows_datagram_from(runtime::Process& capturing, std::uint16_t from_port,
                         std::chrono::milliseconds bound) {
  const std::string token = " " + std::to_string(from_port) + " ";
  return capturing
      .wait_line([&](const std::string& line) { return line.find(token) != std::string::npos; },
                 bound)
      .has_value();
}

// tshark prints "Capturing on ..." a little before packets are really captured (measured: a
// datagram sent at once is missed), so probe: a datagram every half second until one shows up.
bool wait_until_capturing(runtime::Process& capturing, std::uint16_t port) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  std::vector<std::uint16_t> probes;
  while (std::chrono::steady_clock::now() < deadline) {
    probes.push_back(send_marker(port));
    if (shows_datagram_from(capturing, probes.back(), std::chrono::milliseconds(500))) return true;
    for (const auto probe : probes) {
      if (shows_datagram_from(capturing, probe, std::chrono::milliseconds(0))) return true;
    }
  }
  return false;
}

std::string joined(const std::vector<std::string>& lines) {
  std::string out;
  for (const auto& line : lines) out += line + "\n";
  return out;
}

TEST(KeyLogTsharkTest, TsharkDecryptsTheCallsStreamFramesWithTheKeyLogAndOnlyWithIt) {
  if (::geteuid() != 0) GTEST_SKIP() << "capturing on loopback needs root (CI runs as root)";
  if (!on_path("tshark") || !on_path("dumpcap")) {
    GTEST_SKIP() << "tshark / dumpcap not installed (scripts/install-deps.sh installs tshark)";
  }
  TempDir dir;
  ASSERT_FALSE(dir.path.empty());
  const fs::path keylog = dir.path / "keys.log";
  const fs::path capture = dir.path / "call.pcapng";
  // Read as credentials are made: set before the server and the client exist.
  ASSERT_EQ(::setenv("SSLKEYLOGFILE", keylog.c_str(), 1), 0);
  LogCapture log(LogLevel::kWarn);

  LoopbackServer server;
  server.server().register_method(kMethod, [](Bytes request) -> asio::awaitable<Result<Bytes>> {
    co_return request;
  });
  server.start();
  const std::uint16_t port = server.address().port();

  runtime::Process capturing({"sh", "-c",
                              "exec " + filled(kCaptureCommand, port, capture, keylog) +
                                  kCaptureProgress + " 2>&1"});
  ASSERT_TRUE(capturing.started());
  ASSERT_TRUE(wait_until_capturing(capturing, port))
      << "the capture did not start: " << joined(capturing.lines());

  // On loopback, packets ready together leave as one UDP GSO train, which a capture on lo sees
  // as one datagram and tshark cannot split (it decrypts the first packet's header only). The
  // handshake's last flights are such trains; a call on the settled connection is not.
  const auto reply = run_bounded(server.runtime(), [&]() -> asio::awaitable<Result<Bytes>> {
    auto client = co_await server.connect();
    auto settled = co_await client.call(kMethod, to_bytes("settle the connection"));
    if (!settled) co_return settled;
    co_return co_await client.call(kMethod, to_bytes("decrypt me"));
  }());
  ASSERT_TRUE(reply.ok()) << reply.error();
  // Every packet of the call was written once a datagram sent after it shows up.
  const std::uint16_t marker_port = send_marker(port);
  ASSERT_NE(marker_port, 0);
  ASSERT_TRUE(shows_datagram_from(capturing, marker_port, std::chrono::seconds(30)))
      << "the marker was not captured: " << joined(capturing.lines());
  ASSERT_TRUE(capturing.terminate(SIGINT, std::chrono::seconds(30))) << joined(capturing.lines());
  server.stop();
  ASSERT_EQ(::unsetenv("SSLKEYLOGFILE"), 0);

  // The key log holds the QUIC traffic secrets, and the library warned that it was on.
  std::ifstream keys(keylog);
  const std::string key_text((std::istreambuf_iterator<char>(keys)), {});
  EXPECT_NE(key_text.find("CLIENT_TRAFFIC_SECRET_0 "), std::string::npos) << key_text;
  EXPECT_NE(key_text.find("SERVER_HANDSHAKE_TRAFFIC_SECRET "), std::string::npos) << key_text;
  const auto warning = log.wait_for(LogCapture::message_with(
      "SSLKEYLOGFILE is set: TLS secrets are written to it, and whoever reads it can decrypt "
      "this process's traffic",
      "path", keylog.string()));
  ASSERT_TRUE(warning.has_value());
  EXPECT_EQ(warning->component, LogComponent::kTls);

  const ToolRun decrypted = stream_frames(capture, port, keylog, true);
  ASSERT_EQ(decrypted.exit_code, 0) << decrypted.errors;
  ASSERT_FALSE(decrypted.lines.empty()) << "no STREAM frame decoded; " << decrypted.errors;
  // The second call's stream (ID 4: the client's second bidirectional stream; the frames of one
  // packet are comma-separated) carries the call header with the method name, then the request.
  bool second_call_seen = false;
  for (const auto& line : decrypted.lines) {
    const auto tab = line.find('\t');
    ASSERT_NE(tab, std::string::npos) << line;
    EXPECT_EQ(line.substr(0, tab).find_first_not_of("04,"), std::string::npos) << line;
    std::string data = line.substr(tab + 1);
    std::erase(data, ':');
    if (line.rfind("4", 0) == 0 && data.find(hex_of(kMethod)) != std::string::npos &&
        data.find(hex_of("decrypt me")) != std::string::npos) {
      second_call_seen = true;
    }
  }
  EXPECT_TRUE(second_call_seen) << joined(decrypted.lines);

  const ToolRun opaque = stream_frames(capture, port, keylog, false);
  ASSERT_EQ(opaque.exit_code, 0) << opaque.errors;
  EXPECT_TRUE(opaque.lines.empty()) << joined(opaque.lines);
}

TEST(KeyLogTsharkTest, TheOperationsGuideGivesTheCommandsThisTestRuns) {
  std::ifstream guide(RPCNET_SOURCE_DIR "/doc/operations.md");
  ASSERT_TRUE(guide) << "doc/operations.md";
  const std::string text((std::istreambuf_iterator<char>(guide)), {});
  EXPECT_NE(text.find(kCaptureCommand), std::string::npos) << kCaptureCommand;
  EXPECT_NE(text.find(kDecryptCommand), std::string::npos) << kDecryptCommand;
}

}  // namespace
}  // namespace rpcnet::testing
