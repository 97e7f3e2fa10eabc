// SSLKEYLOGFILE checked with the tool operators use: one unary call captured on loopback with
// dumpcap, then decoded by tshark with and without the key log. With it, tshark shows the
// call's QUIC STREAM frames and the method name inside them; without it, it shows none.
// Needs root (capturing) and tshark; skipped otherwise. scripts/install-deps.sh installs tshark.
#include <gtest/gtest.h>
#include <stdlib.h>
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
constexpr char kCaptureCommand[] = R"(dumpcap -q -i lo -f "udp port $PORT" -w $CAPTURE)";
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

// Runs `command` (through sh, stderr merged into stdout) to completion within kToolBound.
struct ToolRun {
  std::optional<int> exit_code;
  std::vector<std::string> lines;
};
ToolRun run_tool(const std::string& command) {
  runtime::Process tool({"sh", "-c", command + " 2>&1"});
  ToolRun run;
  run.exit_code = tool.wait_exit(kToolBound);
  // The reader thread may still be draining the last lines: wait for EOF (bounded).
  tool.wait_line([](const std::string&) { return false; }, std::chrono::seconds(5));
  run.lines = tool.lines();
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
  return run_tool(filled(command, port, capture, keylog));
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

  // dumpcap says "Capturing on ..." once its capture is open: the call starts after that.
  runtime::Process dumpcap(
      {"sh", "-c", "exec " + filled(kCaptureCommand, port, capture, keylog) + " 2>&1"});
  ASSERT_TRUE(dumpcap.started());
  const auto capturing = dumpcap.wait_line(
      [](const std::string& line) { return line.find("Capturing on") != std::string::npos; },
      std::chrono::seconds(30));
  ASSERT_TRUE(capturing.has_value()) << "dumpcap did not start: " << joined(dumpcap.lines());

  const auto reply = run_bounded(server.runtime(), [&]() -> asio::awaitable<Result<Bytes>> {
    auto client = co_await server.connect();
    co_return co_await client.call(kMethod, to_bytes("decrypt me"));
  }());
  ASSERT_TRUE(reply.ok()) << reply.error();
  server.stop();
  ASSERT_TRUE(dumpcap.terminate(SIGINT, std::chrono::seconds(30))) << joined(dumpcap.lines());
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
  ASSERT_EQ(decrypted.exit_code, 0) << joined(decrypted.lines);
  ASSERT_FALSE(decrypted.lines.empty()) << "no STREAM frame decoded";
  // Stream 0 only (several frames of one packet are comma-separated): the call's bidirectional
  // stream, whose header carries the method name.
  bool method_seen = false;
  for (const auto& line : decrypted.lines) {
    const auto tab = line.find('\t');
    ASSERT_NE(tab, std::string::npos) << line;
    EXPECT_EQ(line.substr(0, tab).find_first_not_of("0,"), std::string::npos) << line;
    std::string data = line.substr(tab + 1);
    std::erase(data, ':');
    if (data.find(hex_of(kMethod)) != std::string::npos) method_seen = true;
  }
  EXPECT_TRUE(method_seen) << joined(decrypted.lines);

  const ToolRun opaque = stream_frames(capture, port, keylog, false);
  ASSERT_EQ(opaque.exit_code, 0) << joined(opaque.lines);
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
