// rpcnet_micro — Google Benchmark microbenchmarks of rpcnet's sans-I/O core, so regressions in
// the per-call CPU cost show without the network: stream framing (encode / incremental decode),
// call header and trailer codecs, and a whole unary exchange through the call state machines.
//
// `make bench` runs it with a short --benchmark_min_time and puts the results in
// bench/results/latest.md (and latest.json under "micro"). Extra flag: --tsv=PATH writes one
// line per benchmark (name, real ns, CPU ns, items/s, bytes/s, iterations) for the suite.
#include <CLI/CLI.hpp>
#include <benchmark/benchmark.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <string>
#include <vector>

#include "rpc/core/call_core.h"
#include "rpc/wire/call_header.h"
#include "rpc/wire/frame.h"
#include "rpcnet/bytes.h"

namespace {

using rpcnet::Bytes;
using rpcnet::rpc::ClientCallCore;
using rpcnet::rpc::InboundEvent;
using rpcnet::rpc::ServerCallCore;
using rpcnet::wire::CallHeader;
using rpcnet::wire::CallKind;
using rpcnet::wire::Frame;
using rpcnet::wire::FrameDecoder;
using rpcnet::wire::FrameType;
using rpcnet::wire::Trailer;

// Message payload sizes: a small RPC, 1 KiB, 64 KiB, 1 MiB.
void payload_sizes(benchmark::internal::Benchmark* b) {
  for (long size : {64L, 1024L, 64L * 1024, 1024L * 1024}) b->Arg(size);
}

std::int64_t processed(const benchmark::State& state, std::size_t per_iteration) {
  return static_cast<std::int64_t>(state.iterations()) * static_cast<std::int64_t>(per_iteration);
}

// ---- framing ----------------------------------------------------------------------------------

void BM_FrameEncode(benchmark::State& state) {
  const Bytes payload(static_cast<std::size_t>(state.range(0)), 0x5a);
  Bytes out;
  out.reserve(payload.size() + 16);
  for (auto _ : state) {
    out.clear();
    rpcnet::wire::append_frame(out, FrameType::kMessage, payload);
    benchmark::DoNotOptimize(out.data());
    benchmark::ClobberMemory();
  }
  state.SetBytesProcessed(processed(state, payload.size()));
  state.SetItemsProcessed(processed(state, 1));
}
BENCHMARK(BM_FrameEncode)->Apply(payload_sizes);

// One whole frame per feed().
void BM_FrameDecode(benchmark::State& state) {
  const Bytes payload(static_cast<std::size_t>(state.range(0)), 0x5a);
  Bytes encoded;
  rpcnet::wire::append_frame(encoded, FrameType::kMessage, payload);
  FrameDecoder decoder;
  std::vector<Frame> frames;
  for (auto _ : state) {
    frames.clear();
    if (decoder.feed(encoded, frames) != rpcnet::wire::FrameError::kNone || frames.size() != 1) {
      state.SkipWithError("decode failed");
      break;
    }
    benchmark::DoNotOptimize(frames.data());
  }
  state.SetBytesProcessed(processed(state, payload.size()));
  state.SetItemsProcessed(processed(state, 1));
}
BENCHMARK(BM_FrameDecode)->Apply(payload_sizes);

// The same frame fed in pieces: 1200 bytes (QUIC STREAM frames in minimum-size packets) or
// 64 KiB (large loopback datagrams).
void BM_FrameDecodeChunked(benchmark::State& state) {
  const Bytes payload(static_cast<std::size_t>(state.range(0)), 0x5a);
  Bytes encoded;
  rpcnet::wire::append_frame(encoded, FrameType::kMessage, payload);
  const std::size_t kChunk = static_cast<std::size_t>(state.range(1));
  FrameDecoder decoder;
  std::vector<Frame> frames;
  for (auto _ : state) {
    frames.clear();
    for (std::size_t offset = 0; offset < encoded.size(); offset += kChunk) {
      const std::size_t n = std::min(kChunk, encoded.size() - offset);
      (void)decoder.feed(rpcnet::ByteView(encoded.data() + offset, n), frames);
    }
    if (frames.size() != 1) {
      state.SkipWithError("decode failed");
      break;
    }
    benchmark::DoNotOptimize(frames.data());
  }
  state.SetBytesProcessed(processed(state, payload.size()));
  state.SetItemsProcessed(processed(state, 1));
}
BENCHMARK(BM_FrameDecodeChunked)
    ->ArgNames({"size", "chunk"})
    ->Args({64, 1200})
    ->Args({1024, 1200})
    ->Args({64 * 1024, 1200})
    ->Args({1024 * 1024, 1200})
    ->Args({1024 * 1024, 64 * 1024});

// ---- call header / trailer --------------------------------------------------------------------

CallHeader typical_header(bool with_metadata) {
  CallHeader header;
  header.method = "bench.EchoService/Echo";
  header.kind = CallKind::kUnary;
  header.timeout = std::chrono::microseconds(30'000'000);
  header.request_id = 123456;
  if (with_metadata) {
    header.metadata.emplace_back("trace-id", "4bf92f3577b34da6a3ce929d0e0e4736");
    header.metadata.emplace_back("tenant", "bench");
  }
  return header;
}

void BM_CallHeaderEncode(benchmark::State& state) {
  const CallHeader header = typical_header(state.range(0) != 0);
  for (auto _ : state) {
    Bytes encoded = rpcnet::wire::encode_call_header(header);
    benchmark::DoNotOptimize(encoded.data());
  }
  state.SetItemsProcessed(processed(state, 1));
}
BENCHMARK(BM_CallHeaderEncode)->ArgName("metadata")->Arg(0)->Arg(1);

void BM_CallHeaderDecode(benchmark::State& state) {
  const Bytes encoded = rpcnet::wire::encode_call_header(typical_header(state.range(0) != 0));
  for (auto _ : state) {
    auto decoded = rpcnet::wire::decode_call_header(encoded);
    if (!decoded) {
      state.SkipWithError("decode failed");
      break;
    }
    benchmark::DoNotOptimize(decoded->method.data());
  }
  state.SetItemsProcessed(processed(state, 1));
}
BENCHMARK(BM_CallHeaderDecode)->ArgName("metadata")->Arg(0)->Arg(1);

void BM_TrailerEncodeDecode(benchmark::State& state) {
  const Trailer trailer{};  // OK, the common case
  for (auto _ : state) {
    Bytes encoded = rpcnet::wire::encode_trailer(trailer);
    auto decoded = rpcnet::wire::decode_trailer(encoded);
    benchmark::DoNotOptimize(decoded);
  }
  state.SetItemsProcessed(processed(state, 1));
}
BENCHMARK(BM_TrailerEncodeDecode);

// ---- call state machines ----------------------------------------------------------------------

struct UnaryWire {
  CallHeader header = typical_header(false);
  Bytes request;
  Bytes response;
  Bytes client_bytes;  // header frame + request message, as the client sends them
  Bytes server_bytes;  // response message + OK trailer, as the server sends them
  explicit UnaryWire(std::size_t size) : request(size, 0x5a), response(size, 0xa5) {
    client_bytes = rpcnet::rpc::encode_call_start(header, &request);
    server_bytes = rpcnet::rpc::encode_call_end(&response, Trailer{});
  }
};

// Drains `core`'s events; returns the number of messages (and checks the call ended cleanly).
int drain(rpcnet::rpc::CallCoreBase& core, Bytes* message) {
  int messages = 0;
  bool clean_end = false;
  while (core.has_event()) {
    InboundEvent event = core.pop_event();
    if (event.kind == InboundEvent::Kind::kMessage) {
      ++messages;
      if (message != nullptr) *message = std::move(event.message);
    } else if (event.kind == InboundEvent::Kind::kEnd) {
      clean_end = !event.error.has_value();
    }
  }
  return clean_end ? messages : -1;
}

// Client side of one unary call: encode the call start, decode the response and trailer.
void BM_ClientCallCoreUnary(benchmark::State& state) {
  const UnaryWire wire(static_cast<std::size_t>(state.range(0)));
  const rpcnet::wire::FrameLimits limits;
  for (auto _ : state) {
    Bytes out = rpcnet::rpc::encode_call_start(wire.header, &wire.request);
    benchmark::DoNotOptimize(out.data());
    ClientCallCore core(CallKind::kUnary, limits);
    core.on_data(wire.server_bytes);
    core.on_fin();
    Bytes response;
    if (drain(core, &response) != 1) {
      state.SkipWithError("unexpected events");
      break;
    }
    benchmark::DoNotOptimize(response.data());
  }
  state.SetItemsProcessed(processed(state, 1));
}
BENCHMARK(BM_ClientCallCoreUnary)->Apply(payload_sizes);

// Server side of one unary call: decode header + request, encode response + trailer.
void BM_ServerCallCoreUnary(benchmark::State& state) {
  const UnaryWire wire(static_cast<std::size_t>(state.range(0)));
  const rpcnet::wire::FrameLimits limits;
  for (auto _ : state) {
    ServerCallCore core(limits);
    core.on_data(wire.client_bytes);
    core.on_fin();
    Bytes request;
    if (drain(core, &request) != 1) {
      state.SkipWithError("unexpected events");
      break;
    }
    Bytes out = rpcnet::rpc::encode_call_end(&request, Trailer{});
    benchmark::DoNotOptimize(out.data());
  }
  state.SetItemsProcessed(processed(state, 1));
}
BENCHMARK(BM_ServerCallCoreUnary)->Apply(payload_sizes);

// A whole echo exchange through both state machines, bytes passed straight across.
void BM_UnaryExchange(benchmark::State& state) {
  const UnaryWire wire(static_cast<std::size_t>(state.range(0)));
  const rpcnet::wire::FrameLimits limits;
  for (auto _ : state) {
    Bytes to_server = rpcnet::rpc::encode_call_start(wire.header, &wire.request);
    ServerCallCore server(limits);
    server.on_data(to_server);
    server.on_fin();
    Bytes request;
    if (drain(server, &request) != 1) {
      state.SkipWithError("server: unexpected events");
      break;
    }
    Bytes to_client = rpcnet::rpc::encode_call_end(&request, Trailer{});
    ClientCallCore client(CallKind::kUnary, limits);
    client.on_data(to_client);
    client.on_fin();
    Bytes response;
    if (drain(client, &response) != 1) {
      state.SkipWithError("client: unexpected events");
      break;
    }
    benchmark::DoNotOptimize(response.data());
  }
  state.SetItemsProcessed(processed(state, 1));
  state.SetBytesProcessed(processed(state, 2 * wire.request.size()));
}
BENCHMARK(BM_UnaryExchange)->Apply(payload_sizes);

// Console output as usual, plus the TSV file the suite reads.
class TsvReporter : public benchmark::ConsoleReporter {
 public:
  explicit TsvReporter(std::string path) : path_(std::move(path)) {}
  void ReportRuns(const std::vector<Run>& runs) override {
    ConsoleReporter::ReportRuns(runs);
    if (path_.empty()) return;
    std::ofstream out(path_, std::ios::app);
    for (const auto& run : runs) {
      if (run.error_occurred || run.run_type != Run::RT_Iteration) continue;
      const double to_ns = 1e9 / benchmark::GetTimeUnitMultiplier(run.time_unit);
      const auto counter = [&](const char* name) {
        auto it = run.counters.find(name);
        return it == run.counters.end() ? 0.0 : static_cast<double>(it->second);
      };
      out << run.benchmark_name() << '\t' << run.GetAdjustedRealTime() * to_ns << '\t'
          << run.GetAdjustedCPUTime() * to_ns << '\t' << counter("items_per_second") << '\t'
          << counter("bytes_per_second") << '\t' << run.iterations << '\n';
    }
  }

 private:
  std::string path_;
};

}  // namespace

int main(int argc, char** argv) {
  // --tsv is ours; every other argument is Google Benchmark's (--benchmark_filter=..., ...).
  std::string tsv;
  CLI::App app{"rpcnet_micro: Google Benchmark microbenchmarks of the sans-I/O core"};
  app.add_option("--tsv", tsv, "Also write name, ns/iteration and iterations here, tab-separated");
  app.allow_extras();
  app.set_help_flag();  // --help goes to Google Benchmark
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& error) {
    return app.exit(error);
  }
  std::vector<std::string> rest = app.remaining();
  std::vector<char*> args{argv[0]};
  for (auto& arg : rest) args.push_back(arg.data());
  int count = static_cast<int>(args.size());
  benchmark::Initialize(&count, args.data());
  if (benchmark::ReportUnrecognizedArguments(count, args.data())) return 1;
  if (!tsv.empty()) std::ofstream(tsv, std::ios::trunc);
  TsvReporter reporter(tsv);
  benchmark::RunSpecifiedBenchmarks(&reporter);
  benchmark::Shutdown();
  return 0;
}
