// What a Connection tells the log (rpcnet/log.h): how it ended, and ngtcp2's own debug log
// routed through the sink when quic=trace.
#pragma once

namespace rpcnet::quic {

// ngtcp2_settings::log_printf: `user_data` is the Connection. Installed only when quic=trace is
// on as the connection is created: ngtcp2 formats a line per frame.
[[gnu::format(printf, 2, 3)]] void log_ngtcp2_line(void* user_data, const char* format, ...);

}  // namespace rpcnet::quic
