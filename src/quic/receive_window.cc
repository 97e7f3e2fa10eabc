#include "quic/receive_window.h"

#include <algorithm>
#include <limits>

namespace rpcnet::quic {

std::uint64_t StreamReceiveWindow::on_consumed(std::uint64_t len, std::uint64_t now_ns,
                                               std::uint64_t min_rtt_ns) noexcept {
  if (len == 0) return 0;
  if (!in_epoch_) {
    in_epoch_ = true;
    epoch_start_ns_ = now_ns;
    epoch_consumed_ = 0;
  }
  epoch_consumed_ += len;
  if (epoch_consumed_ < window_) return len;
  // A whole window consumed: judge how fast, then start the next measurement.
  const std::uint64_t elapsed = now_ns >= epoch_start_ns_ ? now_ns - epoch_start_ns_ : 0;
  in_epoch_ = false;
  const bool rtt_known = min_rtt_ns != 0 && min_rtt_ns != std::numeric_limits<std::uint64_t>::max();
  if (!rtt_known || window_ >= ceiling_) return len;
  const std::uint64_t limit = min_rtt_ns > std::numeric_limits<std::uint64_t>::max() / kGrowthRoundTrips
                                  ? std::numeric_limits<std::uint64_t>::max()
                                  : kGrowthRoundTrips * min_rtt_ns;
  if (elapsed >= limit) return len;
  const std::uint64_t growth = std::min(window_, ceiling_ - window_);
  window_ += growth;
  return len + growth;
}

}  // namespace rpcnet::quic
