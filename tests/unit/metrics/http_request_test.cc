#include "metrics/http_request.h"

#include <gtest/gtest.h>

namespace rpcnet::metrics {
namespace {

using Outcome = HttpRequestHead::Outcome;

HttpRequestHead parse(std::string_view text, std::size_t limit = 8192) {
  return parse_http_request_head(text, limit);
}

TEST(HttpRequestHead, PrometheusScrapeIsComplete) {
  const auto head = parse(
      "GET /metrics?x=1 HTTP/1.1\r\nHost: 127.0.0.1:9\r\nUser-Agent: Prometheus/2.42.0\r\n"
      "Accept-Encoding: gzip\r\nX-Prometheus-Scrape-Timeout-Seconds: 10\r\n\r\n");
  EXPECT_EQ(head.outcome, Outcome::kComplete);
  EXPECT_EQ(head.method, "GET");
  EXPECT_EQ(head.path, "/metrics");
}

TEST(HttpRequestHead, EveryPrefixOfAValidRequestIsIncomplete) {
  const std::string request = "GET /metrics HTTP/1.0\r\nHost: a\r\n\r\n";
  for (std::size_t n = 0; n < request.size(); ++n) {
    EXPECT_EQ(parse(request.substr(0, n)).outcome, Outcome::kIncomplete) << n;
  }
}

TEST(HttpRequestHead, MalformedRequestsAreRejectedWithTheirStatus) {
  EXPECT_EQ(parse("GET  /metrics HTTP/1.1\r\n\r\n").status, 400);
  EXPECT_EQ(parse("GET metrics HTTP/1.1\r\n\r\n").status, 400);
  EXPECT_EQ(parse("G(T /metrics HTTP/1.1\r\n\r\n").status, 400);
  EXPECT_EQ(parse("GET /metrics HTTP/2.0\r\n\r\n").status, 505);
  EXPECT_EQ(parse("GET /metrics FTP/1.1x\r\n\r\n").status, 400);
  EXPECT_EQ(parse("GET /metrics HTTP/1.1\r\nno colon\r\n\r\n").status, 400);
  EXPECT_EQ(parse("GET /metrics HTTP/1.1\r\n: empty name\r\n\r\n").status, 400);
  // A broken request line is rejected before the head is complete.
  EXPECT_EQ(parse("GET /metrics HTTP/9\r\n").status, 400);
  EXPECT_EQ(parse(std::string_view("GE\0T", 4)).status, 400);
}

TEST(HttpRequestHead, AHeadOverTheLimitIs431EvenWhileIncomplete) {
  EXPECT_EQ(parse("GET /metrics HTTP/1.1\r\nX: " + std::string(100, 'a'), 64).status, 431);
  EXPECT_EQ(parse("GET /metrics HTTP/1.1\r\nX: " + std::string(100, 'a') + "\r\n\r\n", 64).status, 431);
  EXPECT_EQ(parse("GET /metrics HTTP/1.1\r\n\r\n", 25).outcome, Outcome::kComplete);  // exactly the limit
  EXPECT_EQ(parse("GET /metrics HTTP/1.1\r\n\r\n", 24).status, 431);
}

TEST(HttpResponse, HasLengthAndCloses) {
  EXPECT_EQ(http_response(405, "text/plain", "no\n", "Allow: GET\r\n"),
            "HTTP/1.1 405 Method Not Allowed\r\nContent-Type: text/plain\r\nContent-Length: 3\r\n"
            "Allow: GET\r\nConnection: close\r\n\r\nno\n");
}

}  // namespace
}  // namespace rpcnet::metrics
