// The gRPC C++ side of the suite. Default settings everywhere except TLS, which uses the same
// development certificates as rpcnet (ECDSA P-256, server name "localhost"):
//   server: async completion-queue API (gRPC's fastest server API, the one its own QPS
//           benchmarks use), one completion queue + polling thread per core, request contexts
//           posted ahead for every method;
//   client: async completion-queue API, one channel, one completion queue driven by the
//           client's single thread (as rpcnet's client runs on one event loop).
#include <unistd.h>

#include <grpc/grpc_security.h>
#include <grpc/grpc_security_constants.h>
#include <grpcpp/grpcpp.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <functional>
#include <memory>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "echo.grpc.pb.h"
#include "sides.h"

namespace bench {

namespace {

using rpcnetbench::EchoService;
using rpcnetbench::Payload;
using rpcnetbench::StreamRequest;

// Same work: the TLS 1.3 cipher suite rpcnet's client negotiates with its own server (GnuTLS
// under rpcnet's fixed priority, AES-128-GCM first; the suite's tls_info probe reads it on every
// run). gRPC links the system OpenSSL, whose default would pick TLS_AES_256_GCM_SHA384: more
// work per byte. The key exchange group is aligned on rpcnet's side: gRPC itself allows only
// P-256 on both ends (SSL_CTX_set_tmp_ecdh in its ssl_transport_security.cc overrides any
// configured Groups; `openssl s_client` sees "Server Temp Key: ECDH, prime256v1"), so the
// rpcnet side sets RpcConfig::with_key_exchange({kP256}).
constexpr char kTls13Suite[] = "TLS_AES_128_GCM_SHA256";
constexpr char kTlsGroup[] = "P-256";

// Makes OpenSSL (and so gRPC) in this process allow only kTls13Suite, through an OpenSSL
// configuration file beside `near_path` (the certificates' directory, which the orchestrator
// deletes) named by OPENSSL_CONF. Call before the first gRPC object: OpenSSL reads its
// configuration once, when gRPC initialises it.
void restrict_tls_to_rpcnets_suite(const std::string& near_path) {
  const auto slash = near_path.rfind('/');
  const std::string path = (slash == std::string::npos ? std::string(".") : near_path.substr(0, slash)) +
                           "/openssl-bench-" + std::to_string(::getpid()) + ".cnf";
  {
    std::ofstream conf(path);
    conf << "openssl_conf = bench_init\n[bench_init]\nssl_conf = bench_ssl\n[bench_ssl]\n"
            "system_default = bench_tls\n[bench_tls]\nMinProtocol = TLSv1.3\nCiphersuites = "
         << kTls13Suite << "\n";
  }
  ::setenv("OPENSSL_CONF", path.c_str(), 1);
}

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

// A completion-queue tag.
class Tag {
 public:
  virtual ~Tag() = default;
  virtual void proceed(bool ok) = 0;
};

class FnTag final : public Tag {
 public:
  std::function<void(bool)> fn;
  void proceed(bool ok) override { fn(ok); }
};

// ---- server ---------------------------------------------------------------------------------

class EchoCall final : public Tag {
 public:
  EchoCall(EchoService::AsyncService* service, grpc::ServerCompletionQueue* cq)
      : service_(service), cq_(cq) {
    request();
  }
  void proceed(bool ok) override {
    if (!requested_) {
      request();
      return;
    }
    requested_ = false;
    if (!ok) return;  // shutting down
    responder_->Finish(request_, grpc::Status::OK, this);
  }

 private:
  void request() {
    responder_.reset();
    context_ = std::make_unique<grpc::ServerContext>();
    responder_ = std::make_unique<grpc::ServerAsyncResponseWriter<Payload>>(context_.get());
    request_.Clear();
    requested_ = true;
    service_->RequestEcho(context_.get(), &request_, responder_.get(), cq_, cq_, this);
  }

  EchoService::AsyncService* service_;
  grpc::ServerCompletionQueue* cq_;
  std::unique_ptr<grpc::ServerContext> context_;
  std::unique_ptr<grpc::ServerAsyncResponseWriter<Payload>> responder_;
  Payload request_;
  bool requested_ = false;
};

class StreamCall final : public Tag {
 public:
  StreamCall(EchoService::AsyncService* service, grpc::ServerCompletionQueue* cq)
      : service_(service), cq_(cq) {
    request();
  }
  void proceed(bool ok) override {
    switch (state_) {
      case State::kRequested:
        if (!ok) return;
        sent_ = 0;
        if (message_.data().size() != request_.size()) message_.set_data(std::string(request_.size(), 'Z'));
        write_next();
        return;
      case State::kWriting:
        if (!ok) {  // the client went away
          state_ = State::kFinishing;
          writer_->Finish(grpc::Status::CANCELLED, this);
          return;
        }
        ++sent_;
        write_next();
        return;
      case State::kFinishing:
        request();
        return;
    }
  }

 private:
  enum class State { kRequested, kWriting, kFinishing };
  void write_next() {
    if (sent_ < request_.count()) {
      state_ = State::kWriting;
      writer_->Write(message_, this);
    } else {
      state_ = State::kFinishing;
      writer_->Finish(grpc::Status::OK, this);
    }
  }
  void request() {
    writer_.reset();
    context_ = std::make_unique<grpc::ServerContext>();
    writer_ = std::make_unique<grpc::ServerAsyncWriter<Payload>>(context_.get());
    request_.Clear();
    state_ = State::kRequested;
    service_->RequestStream(context_.get(), &request_, writer_.get(), cq_, cq_, this);
  }

  EchoService::AsyncService* service_;
  grpc::ServerCompletionQueue* cq_;
  std::unique_ptr<grpc::ServerContext> context_;
  std::unique_ptr<grpc::ServerAsyncWriter<Payload>> writer_;
  StreamRequest request_;
  Payload message_;
  std::uint64_t sent_ = 0;
  State state_ = State::kRequested;
};

class BidiCall final : public Tag {
 public:
  BidiCall(EchoService::AsyncService* service, grpc::ServerCompletionQueue* cq)
      : service_(service), cq_(cq) {
    request();
  }
  void proceed(bool ok) override {
    switch (state_) {
      case State::kRequested:
        if (!ok) return;
        state_ = State::kReading;
        stream_->Read(&message_, this);
        return;
      case State::kReading:
        if (!ok) {  // the client finished (or went away)
          state_ = State::kFinishing;
          stream_->Finish(grpc::Status::OK, this);
          return;
        }
        state_ = State::kWriting;
        stream_->Write(message_, this);
        return;
      case State::kWriting:
        if (!ok) {
          state_ = State::kFinishing;
          stream_->Finish(grpc::Status::CANCELLED, this);
          return;
        }
        state_ = State::kReading;
        stream_->Read(&message_, this);
        return;
      case State::kFinishing:
        request();
        return;
    }
  }

 private:
  enum class State { kRequested, kReading, kWriting, kFinishing };
  void request() {
    stream_.reset();
    context_ = std::make_unique<grpc::ServerContext>();
    stream_ = std::make_unique<grpc::ServerAsyncReaderWriter<Payload, Payload>>(context_.get());
    state_ = State::kRequested;
    service_->RequestEchoStream(context_.get(), stream_.get(), cq_, cq_, this);
  }

  EchoService::AsyncService* service_;
  grpc::ServerCompletionQueue* cq_;
  std::unique_ptr<grpc::ServerContext> context_;
  std::unique_ptr<grpc::ServerAsyncReaderWriter<Payload, Payload>> stream_;
  Payload message_;
  State state_ = State::kRequested;
};

// Client streaming: reads and drops every message, then answers with an empty Payload.
class UploadCall final : public Tag {
 public:
  UploadCall(EchoService::AsyncService* service, grpc::ServerCompletionQueue* cq)
      : service_(service), cq_(cq) {
    request();
  }
  void proceed(bool ok) override {
    switch (state_) {
      case State::kRequested:
        if (!ok) return;
        state_ = State::kReading;
        reader_->Read(&message_, this);
        return;
      case State::kReading:
        if (ok) {
          reader_->Read(&message_, this);
          return;
        }
        state_ = State::kFinishing;  // the client finished (or went away)
        reader_->Finish(Payload(), grpc::Status::OK, this);
        return;
      case State::kFinishing:
        request();
        return;
    }
  }

 private:
  enum class State { kRequested, kReading, kFinishing };
  void request() {
    reader_.reset();
    context_ = std::make_unique<grpc::ServerContext>();
    reader_ = std::make_unique<grpc::ServerAsyncReader<Payload, Payload>>(context_.get());
    state_ = State::kRequested;
    service_->RequestUpload(context_.get(), reader_.get(), cq_, cq_, this);
  }

  EchoService::AsyncService* service_;
  grpc::ServerCompletionQueue* cq_;
  std::unique_ptr<grpc::ServerContext> context_;
  std::unique_ptr<grpc::ServerAsyncReader<Payload, Payload>> reader_;
  Payload message_;
  State state_ = State::kRequested;
};

// ---- client ---------------------------------------------------------------------------------

// Drives `cq` until `finished()`.
void pump(grpc::CompletionQueue& cq, const std::function<bool()>& finished) {
  while (!finished()) {
    void* tag = nullptr;
    bool ok = false;
    const auto status = cq.AsyncNext(&tag, &ok, std::chrono::system_clock::now() + std::chrono::milliseconds(200));
    if (status == grpc::CompletionQueue::GOT_EVENT) {
      static_cast<Tag*>(tag)->proceed(ok);
    } else if (status == grpc::CompletionQueue::SHUTDOWN) {
      return;
    }
  }
}

void drain(grpc::CompletionQueue& cq) {
  cq.Shutdown();
  void* tag = nullptr;
  bool ok = false;
  while (cq.Next(&tag, &ok)) {
  }
}

// One unary call at a time through this slot; `on_done` runs when it completes.
class UnaryCall final : public Tag {
 public:
  std::function<void(UnaryCall&, bool)> on_done;
  Clock::time_point start;
  Payload reply;
  grpc::Status status;

  void begin(EchoService::Stub& stub, const Payload& request, grpc::CompletionQueue& cq) {
    reader_.reset();
    context_ = std::make_unique<grpc::ClientContext>();
    reply.Clear();
    start = Clock::now();
    reader_ = stub.AsyncEcho(context_.get(), request, &cq);
    reader_->Finish(&reply, &status, this);
  }
  void proceed(bool ok) override { on_done(*this, ok); }
  grpc::ClientContext& context() { return *context_; }

 private:
  std::unique_ptr<grpc::ClientContext> context_;  // declared first: the reader lives in its call
  std::unique_ptr<grpc::ClientAsyncResponseReader<Payload>> reader_;
};

class GrpcClient {
 public:
  explicit GrpcClient(const ClientArgs& args)
      : args_(args), target_("ipv4:" + args.host + ":" + std::to_string(args.port)) {
    grpc::SslCredentialsOptions options;
    options.pem_root_certs = read_file(args.ca_path);
    credentials_ = grpc::SslCredentials(options);
    request_.set_data(std::string(args.payload, 'Z'));
  }

  Sample run() {
    const auto& s = args_.scenario;
    if (s == "tls_info") return tls_info();
    if (s == "unary_seq") return unary(1);
    if (s == "unary_conc") return unary(args_.concurrency);
    if (s == "unary_conns") return unary(args_.concurrency, args_.conns);
    if (s == "stream") return server_stream();
    if (s == "bidi") return bidi();
    if (s == "client_stream") return client_stream();
    if (s == "connect") return connect_first_call();
    if (s == "mixed") return mixed();
    if (s == "idle") return idle();
    std::fprintf(stderr, "grpc client: unknown scenario %s\n", s.c_str());
    return Sample{};
  }

 private:
  // gRPC exposes no negotiated cipher suite or group (its AuthContext has neither), so these are
  // the only ones allowed on both ends (kTls13Suite, kTlsGroup), which one completed call proves.
  Sample tls_info() {
    Sample sample;
    auto channel = default_channel();
    auto stub = EchoService::NewStub(channel);
    grpc::ClientContext context;
    Payload reply;
    const grpc::Status status = stub->Echo(&context, request_, &reply);
    if (!status.ok()) {
      std::fprintf(stderr, "grpc client: %s\n", status.error_message().c_str());
      ++sample.errors;
      return sample;
    }
    sample.texts["tls_cipher_suite"] = kTls13Suite;
    sample.texts["tls_group"] = kTlsGroup;
    sample.texts["tls_source"] = "the only ones allowed on both ends: the suite by OPENSSL_CONF, P-256 by gRPC itself";
    for (const auto& value : context.auth_context()->FindPropertyValues("transport_security_type")) {
      sample.texts["tls_transport"] = std::string(value.data(), value.size());
    }
    sample.set("tls_handshakes", 1);
    return sample;
  }

  // The default channel: what a user gets from grpc::CreateChannel, except that the target is
  // an address (`ipv4:ADDR:PORT`, no name lookup, as rpcnet's client gets) and the certificate
  // is checked against "localhost", the name rpcnet's client checks too.
  std::shared_ptr<grpc::Channel> default_channel() {
    grpc::ChannelArguments channel_args;
    channel_args.SetSslTargetNameOverride("localhost");
    return grpc::CreateCustomChannel(target_, credentials_, channel_args);
  }

  // A channel with a connection of its own: channels with identical arguments share one
  // subchannel (connection) through gRPC's global subchannel pool, so each gets a distinct,
  // otherwise meaningless argument.
  std::shared_ptr<grpc::Channel> fresh_channel(grpc_ssl_session_cache* cache) {
    grpc::ChannelArguments channel_args;
    channel_args.SetSslTargetNameOverride("localhost");
    channel_args.SetInt("rpcnet.bench.connection", ++serial_);
    if (cache != nullptr) {
      grpc_arg arg = grpc_ssl_session_cache_create_channel_arg(cache);
      channel_args.SetPointerWithVtable(arg.key, arg.value.pointer.p, arg.value.pointer.vtable);
    }
    return grpc::CreateCustomChannel(target_, credentials_, channel_args);
  }

  // `concurrency` calls in flight on one channel, or on each of `connections` channels (each its
  // own connection), all driven by this thread's one completion queue.
  Sample unary(int concurrency, int connections = 1) {
    Sample sample;
    std::vector<std::shared_ptr<grpc::Channel>> channels;
    std::vector<std::unique_ptr<EchoService::Stub>> stubs;
    for (int i = 0; i < connections; ++i) {
      channels.push_back(connections == 1 ? default_channel() : fresh_channel(nullptr));
      stubs.push_back(EchoService::NewStub(channels.back()));
      // Many connections: all handshakes before the window opens, as rpcnet's side connects first.
      if (connections > 1 && !channels.back()->WaitForConnected(std::chrono::system_clock::now() + std::chrono::seconds(10))) {
        std::fprintf(stderr, "grpc client: channel %d did not connect\n", i);
        return sample;
      }
    }
    grpc::CompletionQueue cq;
    const Window window = Window::after(args_.warm, args_.measure);
    CpuWindow cpu(window, args_.server_pid);
    std::vector<double> latencies;
    latencies.reserve(1 << 20);
    int running = concurrency * connections;
    std::vector<std::unique_ptr<UnaryCall>> calls;
    for (int i = 0; i < concurrency * connections; ++i) {
      auto call = std::make_unique<UnaryCall>();
      EchoService::Stub* stub = stubs[static_cast<std::size_t>(i % connections)].get();
      call->on_done = [&, stub](UnaryCall& done, bool ok) {
        const auto now = Clock::now();
        const bool failed = !ok || !done.status.ok() || done.reply.data().size() != args_.payload;
        if (failed) {
          if (sample.errors++ == 0) std::fprintf(stderr, "grpc client: %s\n", done.status.error_message().c_str());
        }
        // Sequential calls are attributed to the window by their start, concurrent ones by
        // their completion (the rate is completions per second). Failed calls are counted, not
        // timed.
        if (!failed && window.contains(concurrency == 1 ? done.start : now)) {
          latencies.push_back(micros(now - done.start));
        }
        if (now < window.end) {
          done.begin(*stub, request_, cq);
        } else {
          --running;
        }
      };
      calls.push_back(std::move(call));
    }
    for (std::size_t i = 0; i < calls.size(); ++i) calls[i]->begin(*stubs[i % stubs.size()], request_, cq);
    pump(cq, [&] { return running == 0; });
    calls.clear();
    drain(cq);
    cpu.report(sample, static_cast<double>(latencies.size()));
    sample.set("calls_per_s", static_cast<double>(latencies.size()) / args_.measure);
    sample.set("mb_per_s", static_cast<double>(latencies.size()) * static_cast<double>(args_.payload) / 1e6 / args_.measure);
    sample.set("p50_us", percentile(latencies, 0.50));
    sample.set("p99_us", percentile(latencies, 0.99));
    return sample;
  }

  // An endless server stream read as fast as it comes, cancelled when the window ends.
  struct BulkReader {
    grpc::ClientContext context;
    StreamRequest request;
    Payload message;
    grpc::Status status;
    std::unique_ptr<grpc::ClientAsyncReader<Payload>> reader;
    FnTag started, read, finished;
    bool done = false;
    bool stop = false;
    std::function<void(const Payload&)> on_message;

    void begin(EchoService::Stub& stub, grpc::CompletionQueue& cq, std::size_t size, long& errors) {
      request.set_count(kEndlessCount);
      request.set_size(static_cast<std::uint32_t>(size));
      started.fn = [this, &errors](bool ok) {
        if (!ok) {
          ++errors;
          reader->Finish(&status, &finished);
          return;
        }
        reader->Read(&message, &read);
      };
      read.fn = [this, &errors](bool ok) {
        if (!ok) {
          if (!stop) ++errors;
          reader->Finish(&status, &finished);
          return;
        }
        on_message(message);
        if (stop) {
          context.TryCancel();
          reader->Finish(&status, &finished);
          return;
        }
        reader->Read(&message, &read);
      };
      finished.fn = [this](bool) { done = true; };
      reader = stub.PrepareAsyncStream(&context, request, &cq);
      reader->StartCall(&started);
    }
  };

  Sample server_stream() {
    Sample sample;
    auto channel = default_channel();
    auto stub = EchoService::NewStub(channel);
    grpc::CompletionQueue cq;
    const Window window = Window::after(args_.warm, args_.measure);
    long messages = 0;
    double bytes = 0;
    auto bulk = std::make_unique<BulkReader>();
    bulk->on_message = [&](const Payload& message) {
      const auto now = Clock::now();
      if (window.contains(now)) {
        ++messages;
        bytes += static_cast<double>(message.data().size());
      }
      if (now >= window.end) bulk->stop = true;
    };
    bulk->begin(*stub, cq, args_.size, sample.errors);
    pump(cq, [&] { return bulk->done; });
    bulk.reset();
    drain(cq);
    sample.set("msgs_per_s", static_cast<double>(messages) / args_.measure);
    sample.set("mb_per_s", bytes / 1e6 / args_.measure);
    return sample;
  }

  // One client stream of `size`-byte messages, each written when the previous write completed
  // (gRPC allows one outstanding write per stream), cancelled when the window ends.
  Sample client_stream() {
    Sample sample;
    auto channel = default_channel();
    auto stub = EchoService::NewStub(channel);
    grpc::CompletionQueue cq;
    grpc::ClientContext context;
    Payload reply;
    grpc::Status status;
    Payload message;
    message.set_data(std::string(args_.size, 'Z'));
    FnTag started, written, finished;
    bool done = false;
    long messages = 0;
    std::unique_ptr<grpc::ClientAsyncWriter<Payload>> writer;
    const Window window = Window::after(args_.warm, args_.measure);
    auto stop = [&] {
      context.TryCancel();
      writer->Finish(&status, &finished);
    };
    started.fn = [&](bool ok) {
      if (!ok) {
        ++sample.errors;
        stop();
        return;
      }
      writer->Write(message, &written);
    };
    written.fn = [&](bool ok) {
      const auto now = Clock::now();
      if (!ok) {
        ++sample.errors;
        stop();
        return;
      }
      if (now >= window.end) {
        stop();
        return;
      }
      if (window.contains(now)) ++messages;
      writer->Write(message, &written);
    };
    finished.fn = [&](bool) { done = true; };
    writer = stub->PrepareAsyncUpload(&context, &reply, &cq);
    writer->StartCall(&started);
    pump(cq, [&] { return done; });
    writer.reset();
    drain(cq);
    sample.set("msgs_per_s", static_cast<double>(messages) / args_.measure);
    sample.set("mb_per_s", static_cast<double>(messages) * static_cast<double>(args_.size) / 1e6 / args_.measure);
    return sample;
  }

  Sample bidi() {
    Sample sample;
    auto channel = default_channel();
    auto stub = EchoService::NewStub(channel);
    grpc::CompletionQueue cq;
    const Window window = Window::after(args_.warm, args_.measure);
    grpc::ClientContext context;
    Payload in;
    grpc::Status status;
    FnTag started, read, written, finished;
    long sent = 0;
    long received = 0;
    long messages = 0;
    bool reading = false;
    bool writing = false;
    bool stopping = false;
    bool finishing = false;
    bool done = false;
    std::unique_ptr<grpc::ClientAsyncReaderWriter<Payload, Payload>> stream;
    auto maybe_finish = [&] {
      if (stopping && !reading && !writing && !finishing) {
        finishing = true;
        stream->Finish(&status, &finished);
      }
    };
    auto stop = [&] {
      if (stopping) return;
      stopping = true;
      context.TryCancel();
    };
    auto try_write = [&] {
      if (!writing && !stopping && sent - received < args_.window) {
        writing = true;
        ++sent;
        stream->Write(request_, &written);
      }
    };
    started.fn = [&](bool ok) {
      if (!ok) {
        ++sample.errors;
        stop();
        maybe_finish();
        return;
      }
      reading = true;
      stream->Read(&in, &read);
      try_write();
    };
    read.fn = [&](bool ok) {
      reading = false;
      const auto now = Clock::now();
      if (!ok) {
        if (!stopping) ++sample.errors;
        stop();
      } else {
        ++received;
        if (window.contains(now)) ++messages;
        if (now >= window.end) {
          stop();
        } else {
          reading = true;
          stream->Read(&in, &read);
          try_write();
        }
      }
      maybe_finish();
    };
    written.fn = [&](bool ok) {
      writing = false;
      if (!ok) {
        if (!stopping) ++sample.errors;
        stop();
      }
      try_write();
      maybe_finish();
    };
    finished.fn = [&](bool) { done = true; };
    stream = stub->PrepareAsyncEchoStream(&context, &cq);
    stream->StartCall(&started);
    pump(cq, [&] { return done; });
    stream.reset();
    drain(cq);
    sample.set("msgs_per_s", static_cast<double>(messages) / args_.measure);
    return sample;
  }

  Sample connect_first_call() {
    Sample sample;
    grpc_ssl_session_cache* cache = args_.resumed ? grpc_ssl_session_cache_create_lru(16) : nullptr;
    std::vector<double> latencies;
    long reused = 0;
    const auto give_up = Clock::now() + seconds(args_.warm + args_.measure + 10.0);
    // One connection first (not counted): primes the session cache, and lazy initialisation.
    for (int i = -1; i < args_.count && Clock::now() < give_up; ++i) {
      const auto start = Clock::now();
      auto channel = fresh_channel(cache);
      auto stub = EchoService::NewStub(channel);
      grpc::ClientContext context;
      Payload reply;
      const grpc::Status status = stub->Echo(&context, request_, &reply);
      const auto stop = Clock::now();
      if (!status.ok()) {
        if (sample.errors++ == 0) std::fprintf(stderr, "grpc client: %s\n", status.error_message().c_str());
        continue;
      }
      if (i < 0) continue;
      latencies.push_back(micros(stop - start));
      const auto auth = context.auth_context();
      if (auth) {
        for (const auto& value : auth->FindPropertyValues(GRPC_SSL_SESSION_REUSED_PROPERTY)) {
          if (std::string(value.data(), value.size()) == "true") ++reused;
        }
      }
    }
    if (cache != nullptr) grpc_ssl_session_cache_destroy(cache);
    if (!latencies.empty()) {
      sample.set("p50_us", percentile(latencies, 0.50));
      sample.set("p99_us", percentile(latencies, 0.99));
      sample.set("connections", static_cast<double>(latencies.size()));
      sample.set("resumed", static_cast<double>(reused));
    }
    const long expected = args_.resumed ? static_cast<long>(latencies.size()) : 0;
    if (reused != expected) {
      std::fprintf(stderr, "grpc client: %ld of %zu connections resumed their TLS session (expected %ld)\n",
                   reused, latencies.size(), expected);
    }
    return sample;
  }

  // Small calls under a bulk stream of `size`-byte messages, open loop (as on rpcnet's side: a
  // small call every 1/`rate` s at its intended time, timed from it). gRPC is run both ways a
  // gRPC user could: the small calls on the bulk's channel (one HTTP/2 connection) and on a
  // channel of their own (a second connection, what a gRPC expert would do against
  // head-of-line blocking); the row takes the better of the two, both are in the sample.
  struct MixedRun {
    std::vector<double> latencies;
    std::vector<double> send_lag;  // how late each small call went out after its intended time
    double bulk_mb_per_s = 0;
    long errors = 0;
  };

  MixedRun mixed_run(bool own_channel) {
    MixedRun run;
    auto channel = default_channel();
    auto stub = EchoService::NewStub(channel);
    auto small_channel = own_channel ? fresh_channel(nullptr) : channel;
    auto small_stub = EchoService::NewStub(small_channel);
    grpc::CompletionQueue cq;
    double bulk_bytes = 0;
    Clock::time_point bulk_begin{};
    Clock::time_point bulk_end{};
    auto bulk = std::make_unique<BulkReader>();
    bulk->on_message = [&](const Payload& message) {
      if (bulk_begin != Clock::time_point{} && bulk_end == Clock::time_point{}) {
        bulk_bytes += static_cast<double>(message.data().size());
      }
    };
    bulk->begin(*stub, cq, args_.size, run.errors);

    const auto small_begin = Clock::now() + seconds(args_.warm);
    const auto small_end = small_begin + seconds(args_.measure);
    const auto interval = seconds(1.0 / args_.rate);
    auto intended = small_begin;
    bool sending = true;
    int outstanding = 0;
    std::vector<std::unique_ptr<UnaryCall>> calls;  // one per small call, kept to the end
    while (sending || outstanding > 0 || !bulk->done) {
      for (auto now = Clock::now(); sending && now >= intended; intended += interval) {
        if (intended >= small_end) {
          sending = false;
          bulk_end = now;
          bulk->stop = true;
          break;
        }
        if (bulk_begin == Clock::time_point{}) bulk_begin = intended;
        auto call = std::make_unique<UnaryCall>();
        call->on_done = [&, sent_at = intended](UnaryCall& done, bool ok) {
          --outstanding;
          const auto at = Clock::now();
          if (!ok || !done.status.ok() || done.reply.data().size() != args_.payload) {
            ++run.errors;  // counted, not timed
          } else {
            run.latencies.push_back(micros(at - sent_at));
          }
        };
        call->begin(*small_stub, request_, cq);
        run.send_lag.push_back(micros(Clock::now() - intended));
        calls.push_back(std::move(call));
        ++outstanding;
      }
      // Wake at the next intended send time (not a fixed tick, which would add its lateness).
      const auto wake = sending ? intended : Clock::now() + std::chrono::milliseconds(200);
      const auto deadline = std::chrono::system_clock::now() +
                            std::chrono::duration_cast<std::chrono::system_clock::duration>(wake - Clock::now());
      void* tag = nullptr;
      bool ok = false;
      const auto status = cq.AsyncNext(&tag, &ok, deadline);
      if (status == grpc::CompletionQueue::GOT_EVENT) {
        static_cast<Tag*>(tag)->proceed(ok);
      } else if (status == grpc::CompletionQueue::SHUTDOWN) {
        break;
      }
    }
    bulk.reset();
    calls.clear();
    drain(cq);
    if (bulk_end > bulk_begin) run.bulk_mb_per_s = bulk_bytes / 1e6 / secs(bulk_end - bulk_begin);
    return run;
  }

  Sample mixed() {
    Sample sample;
    const MixedRun shared = mixed_run(false);
    const MixedRun own = mixed_run(true);
    sample.errors = shared.errors + own.errors;
    const double shared_p99 = percentile(shared.latencies, 0.99);
    const double own_p99 = percentile(own.latencies, 0.99);
    sample.set("one_channel_p50_us", percentile(shared.latencies, 0.50));
    sample.set("one_channel_p99_us", shared_p99);
    sample.set("two_channels_p50_us", percentile(own.latencies, 0.50));
    sample.set("two_channels_p99_us", own_p99);
    const bool own_better = !own.latencies.empty() && (shared.latencies.empty() || own_p99 < shared_p99);
    const MixedRun& best = own_better ? own : shared;
    sample.set("best_two_channels", own_better ? 1 : 0);
    sample.set("p50_us", percentile(best.latencies, 0.50));
    sample.set("p99_us", percentile(best.latencies, 0.99));
    sample.set("small_calls", static_cast<double>(best.latencies.size()));
    sample.set("send_lag_p50_us", percentile(best.send_lag, 0.50));
    sample.set("send_lag_p99_us", percentile(best.send_lag, 0.99));
    sample.set("bulk_mb_per_s", best.bulk_mb_per_s);
    return sample;
  }

  Sample idle() {
    Sample sample;
    grpc::CompletionQueue cq;
    std::vector<std::shared_ptr<grpc::Channel>> channels;
    channels.reserve(static_cast<std::size_t>(args_.conns) + 1);
    // One connection first, so lazily allocated server state is in the baseline.
    {
      auto channel = fresh_channel(nullptr);
      auto stub = EchoService::NewStub(channel);
      grpc::ClientContext context;
      Payload reply;
      if (!stub->Echo(&context, request_, &reply).ok()) {
        std::fprintf(stderr, "grpc client: first call failed\n");
        return sample;
      }
      channels.push_back(channel);
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
    const long before = vm_rss_kb(args_.server_pid);
  const long client_before = vm_rss_kb(::getpid());

    const auto start = Clock::now();
    constexpr int kParallel = 16;
    int next = 0;
    int opened = 0;
    int running = 0;
    struct Slot {
      UnaryCall call;
      std::shared_ptr<grpc::Channel> channel;
      std::unique_ptr<EchoService::Stub> stub;
    };
    std::vector<std::unique_ptr<Slot>> slots;
    std::function<void(Slot&)> open_next = [&](Slot& slot) {
      if (next >= args_.conns || sample.errors >= 50) return;
      ++next;
      ++running;
      slot.channel = fresh_channel(nullptr);
      slot.stub = EchoService::NewStub(slot.channel);
      slot.call.begin(*slot.stub, request_, cq);
    };
    for (int i = 0; i < kParallel; ++i) {
      auto slot = std::make_unique<Slot>();
      Slot* raw = slot.get();
      slot->call.on_done = [&, raw](UnaryCall& done, bool ok) {
        --running;
        if (!ok || !done.status.ok()) {
          if (sample.errors++ == 0) std::fprintf(stderr, "grpc client: %s\n", done.status.error_message().c_str());
        } else {
          channels.push_back(raw->channel);
          if (++opened % 1000 == 0) {
            std::fprintf(stderr, "grpc client: %d connections after %.1f s\n", opened, secs(Clock::now() - start));
          }
        }
        raw->stub.reset();
        raw->channel.reset();
        open_next(*raw);
      };
      slots.push_back(std::move(slot));
    }
    for (auto& slot : slots) open_next(*slot);
    pump(cq, [&] { return running == 0; });
    const double open_s = secs(Clock::now() - start);
    std::this_thread::sleep_for(std::chrono::milliseconds(500));
    const long after = vm_rss_kb(args_.server_pid);
  const long client_after = vm_rss_kb(::getpid());
    std::fprintf(stderr, "grpc client: %d idle connections in %.1f s; server RSS %ld -> %ld kB\n",
                 opened, open_s, before, after);
    if (opened > 0 && before > 0 && after > 0) {
      sample.set("rss_kb_per_conn", static_cast<double>(after - before) / opened);
      sample.set("connections", opened);
      sample.set("rss_before_kb", static_cast<double>(before));
      sample.set("rss_after_kb", static_cast<double>(after));
      sample.set("connects_per_s", opened / open_s);
    sample.set("client_rss_kb_per_conn", static_cast<double>(client_after - client_before) / opened);
    }
    slots.clear();
    drain(cq);
    channels.clear();
    return sample;
  }

  ClientArgs args_;
  std::string target_;
  std::shared_ptr<grpc::ChannelCredentials> credentials_;
  Payload request_;
  int serial_ = 0;
};

}  // namespace

bool grpc_available() { return true; }
std::string grpc_version() { return grpc::Version(); }

int grpc_server_main(const std::string& cert_path, const std::string& key_path, const std::string& bind_host,
                     int loops) {
  raise_nofile_limit();
  restrict_tls_to_rpcnets_suite(cert_path);
  grpc::SslServerCredentialsOptions options;
  options.pem_key_cert_pairs.push_back({read_file(key_path), read_file(cert_path)});
  EchoService::AsyncService service;
  grpc::ServerBuilder builder;
  int port = 0;
  builder.AddListeningPort(bind_host + ":0", grpc::SslServerCredentials(options), &port);
  builder.RegisterService(&service);
  const unsigned threads = loops > 0 ? static_cast<unsigned>(loops) : std::max(1u, std::thread::hardware_concurrency());
  std::vector<std::unique_ptr<grpc::ServerCompletionQueue>> queues;
  for (unsigned i = 0; i < threads; ++i) queues.push_back(builder.AddCompletionQueue());
  auto server = builder.BuildAndStart();
  if (!server || port == 0) {
    std::fprintf(stderr, "grpc server: cannot listen\n");
    return 1;
  }
  // Request contexts posted ahead (they recycle themselves), as gRPC's own async QPS server does.
  for (auto& cq : queues) {
    for (int i = 0; i < 256; ++i) new EchoCall(&service, cq.get());
    for (int i = 0; i < 8; ++i) new StreamCall(&service, cq.get());
    for (int i = 0; i < 8; ++i) new BidiCall(&service, cq.get());
    for (int i = 0; i < 8; ++i) new UploadCall(&service, cq.get());
  }
  std::printf("PORT %d\n", port);
  std::fflush(stdout);
  std::vector<std::thread> pollers;
  for (auto& cq : queues) {
    grpc::ServerCompletionQueue* queue = cq.get();
    pollers.emplace_back([queue] {
      void* tag = nullptr;
      bool ok = false;
      while (queue->Next(&tag, &ok)) static_cast<Tag*>(tag)->proceed(ok);
    });
  }
  for (auto& poller : pollers) poller.join();  // until the orchestrator kills the process
  return 0;
}

int grpc_client_main(const ClientArgs& args) {
  raise_nofile_limit();
  restrict_tls_to_rpcnets_suite(args.ca_path);
  Sample sample;
  {
    GrpcClient client(args);
    sample = client.run();
  }
  sample.print();
  return sample.values.empty() ? 1 : 0;
}

}  // namespace bench
