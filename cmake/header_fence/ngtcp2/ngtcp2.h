// Found first on the include path of a target fenced by rpcnet_fence_transport_headers()
// (cmake/HeaderFence.cmake): every ngtcp2 header includes this one, so reaching it means an
// ngtcp2 header leaked out of src/quic. Keep ngtcp2 types behind opaque struct tags (connection.h).
#error "an ngtcp2 header reached a target outside src/quic (see cmake/HeaderFence.cmake)"
