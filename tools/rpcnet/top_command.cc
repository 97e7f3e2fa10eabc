// `rpcnet top`: scrape, wait an interval, scrape again, print what changed; repeat.
// The numbers come from metrics::compute_top, the table from metrics::render_top_table.
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <iostream>
#include <thread>

#include "commands.h"
#include "metrics/exposition_parser.h"
#include "metrics/http_get.h"
#include "metrics/top_model.h"
#include "metrics/top_table.h"

namespace rpcnet::tool {
namespace {

using Clock = std::chrono::steady_clock;

// Home and clear: each refresh replaces the last one on a terminal.
constexpr std::string_view kClearScreen = "\x1b[H\x1b[2J";

Result<metrics::ParsedExposition> scrape(const SocketAddress& address, const TopOptions& options) {
  metrics::HttpGetOptions get;
  get.timeout = std::chrono::milliseconds(options.timeout_ms);
  auto response = metrics::http_get(address, "/metrics", get);
  if (!response) return response.error();
  if (response->status != 200) {
    return RpcError::io("answered " + std::to_string(response->status) +
                        (response->reason.empty() ? "" : " " + response->reason.substr(0, 64)) + " instead of 200");
  }
  return metrics::parse_exposition(response->body);
}

std::string frame(const std::string& url, const TopOptions& options, double elapsed_seconds,
                  const std::vector<metrics::MethodActivity>& rows, const metrics::ParsedExposition& scraped) {
  char elapsed[32];
  std::snprintf(elapsed, sizeof elapsed, "%.2f", elapsed_seconds);
  std::string out = "rpcnet top  " + url + "  " + options.side + " calls over the last " + elapsed + "s\n\n";
  out += metrics::render_top_table(rows);
  if (rows.empty()) {
    out += "(no " + std::string(metrics::top_metric_prefix(options.side == "client" ? metrics::TopSide::kClient
                                                                                      : metrics::TopSide::kServer)) +
           "* call metrics here yet";
    out += options.side == "server" ? "; for a client's metrics use --side client)\n" : ")\n";
  }
  if (scraped.skipped_lines > 0) {
    out += "note: skipped " + std::to_string(scraped.skipped_lines) + " malformed line(s); line " +
           std::to_string(scraped.issues.front().line) + ": " + scraped.issues.front().reason + "\n";
  }
  return out;
}

}  // namespace

int run_top(const TopOptions& options) {
  const auto address = parse_socket_address(options.metrics);
  if (!address) {
    std::cerr << "rpcnet top: --metrics: " << address.error().message() << "\n";
    return 2;
  }
  const std::string url = "http://" + to_string(*address) + "/metrics";
  const auto side = options.side == "client" ? metrics::TopSide::kClient : metrics::TopSide::kServer;
  const bool terminal = ::isatty(STDOUT_FILENO) == 1;
  const auto interval = std::chrono::milliseconds(options.interval_ms);

  auto previous = scrape(*address, options);
  if (!previous) {
    std::cerr << "rpcnet top: cannot scrape " << url << ": " << previous.error().message() << "\n";
    return 1;
  }
  auto previous_at = Clock::now();
  // Ticks on a fixed schedule, so slow scrapes do not make the refresh drift.
  auto next_tick = previous_at + interval;
  for (int shown = 0; options.iterations == 0 || shown < options.iterations; ++shown) {
    std::this_thread::sleep_until(next_tick);
    next_tick += interval;
    auto current = scrape(*address, options);
    if (!current) {
      std::cerr << "rpcnet top: cannot scrape " << url << ": " << current.error().message() << "\n";
      return 1;
    }
    const auto now = Clock::now();
    const double elapsed = std::chrono::duration<double>(now - previous_at).count();
    const auto rows = metrics::compute_top(*previous, *current, elapsed, side);
    if (terminal) {
      std::cout << kClearScreen;
    } else if (shown > 0) {
      std::cout << "\n";
    }
    std::cout << frame(url, options, elapsed, rows, *current) << std::flush;
    previous = std::move(current);
    previous_at = now;
    if (Clock::now() > next_tick) next_tick = Clock::now() + interval;  // fell behind: do not burst
  }
  return 0;
}

}  // namespace rpcnet::tool
