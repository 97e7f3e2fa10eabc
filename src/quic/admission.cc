#include "rpcnet/thread_annotations.h"
#include "quic/admission.h"

#include <netinet/in.h>

#include <algorithm>
#include <cstring>

namespace rpcnet::quic {

namespace {
// A full table is swept for idle sources at most this often, so a table full of active sources
// cannot make every Initial pay for a scan.
constexpr std::uint64_t kSweepIntervalNs = 100'000'000;
}  // namespace

Admission::Admission(AdmissionLimits limits, const runtime::SipKey& key)
    : limits_(limits), sources_(16, SourceHash{key}) {}

std::size_t Admission::SourceHash::operator()(const SourceKey& source) const noexcept {
  return static_cast<std::size_t>(runtime::siphash13(key, source.bytes.data(), source.bytes.size()));
}

Admission::SourceKey Admission::source_key(const sockaddr* source) {
  SourceKey out;
  if (source->sa_family == AF_INET) {
    out.bytes[0] = 4;
    const auto* in = reinterpret_cast<const sockaddr_in*>(source);
    std::memcpy(out.bytes.data() + 1, &in->sin_addr, 4);
  } else if (source->sa_family == AF_INET6) {
    // One IPv6 host usually owns a whole /64: count the prefix, not the address.
    out.bytes[0] = 6;
    const auto* in6 = reinterpret_cast<const sockaddr_in6*>(source);
    std::memcpy(out.bytes.data() + 1, &in6->sin6_addr, 8);
  }
  return out;
}

double Admission::refilled(const Bucket& bucket, std::uint64_t now_ns) const {
  const double elapsed_s =
      now_ns > bucket.updated_ns ? static_cast<double>(now_ns - bucket.updated_ns) * 1e-9 : 0.0;
  return std::min(limits_.handshake_burst_per_source,
                  bucket.tokens + elapsed_s * limits_.handshakes_per_source_per_second);
}

bool Admission::take_source_token(const sockaddr* source, std::uint64_t now_ns) {
  const SourceKey key = source_key(source);
  auto it = sources_.find(key);
  if (it == sources_.end()) {
    if (sources_.size() >= limits_.tracked_sources &&
        (last_sweep_ns_ == 0 || now_ns - last_sweep_ns_ >= kSweepIntervalNs)) {
      last_sweep_ns_ = now_ns;
      std::erase_if(sources_, [&](const auto& entry) {
        return refilled(entry.second, now_ns) >= limits_.handshake_burst_per_source;
      });
    }
    if (sources_.size() >= limits_.tracked_sources) return true;  // fail open, untracked
    it = sources_.emplace(key, Bucket{limits_.handshake_burst_per_source, now_ns}).first;
  }
  Bucket& bucket = it->second;
  bucket.tokens = refilled(bucket, now_ns);
  bucket.updated_ns = now_ns;
  if (bucket.tokens < 1.0) return false;
  bucket.tokens -= 1.0;
  return true;
}

Admission::Decision Admission::decide(const sockaddr* source, bool address_validated,
                                      std::uint64_t now_ns) {
  MutexLock lock(mutex_);
  if (connections_ >= limits_.max_connections) return Decision::kRefuseConnections;
  if (!address_validated && handshakes_ >= limits_.retry_threshold) return Decision::kRetry;
  if (handshakes_ >= limits_.max_handshakes) return Decision::kRefuseHandshakes;
  // Under handshake pressure (at or past the Retry threshold) no single source may take more
  // than its rate of the handshakes the server can do; without pressure nobody is throttled.
  if (handshakes_ >= limits_.retry_threshold && !take_source_token(source, now_ns)) {
    return Decision::kRefuseSourceRate;
  }
  ++connections_;
  ++handshakes_;
  return Decision::kAccept;
}

void Admission::on_handshake_ended() {
  MutexLock lock(mutex_);
  if (handshakes_ > 0) --handshakes_;
}

void Admission::on_connection_finished() {
  MutexLock lock(mutex_);
  if (connections_ > 0) --connections_;
}

std::size_t Admission::connections() const {
  MutexLock lock(mutex_);
  return connections_;
}

std::size_t Admission::handshakes() const {
  MutexLock lock(mutex_);
  return handshakes_;
}

std::size_t Admission::tracked_sources() const {
  MutexLock lock(mutex_);
  return sources_.size();
}

}  // namespace rpcnet::quic
