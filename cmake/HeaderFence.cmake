# rpcnet_fence_transport_headers(<target>): fails the build of
# <target> if any of its files includes a GnuTLS or ngtcp2 header, directly or through a header of
# another layer. Both libraries install into the default include path, so no missing -I could
# catch a leak; instead cmake/header_fence, searched before the system directories, holds
# <gnutls/gnutls.h> and <ngtcp2/ngtcp2.h> stand-ins that #error (every other header of the two
# libraries includes one of them). src/quic alone drives ngtcp2 and TLS; files elsewhere that
# legitimately use GnuTLS themselves (gossip sealing in src/cluster) are a target of their own that
# is not fenced and links GnuTLS PRIVATE.
set(RPCNET_HEADER_FENCE_DIR ${CMAKE_CURRENT_LIST_DIR}/header_fence)

function(rpcnet_fence_transport_headers target)
  target_include_directories(${target} BEFORE PRIVATE ${RPCNET_HEADER_FENCE_DIR})
endfunction()
