// Found first on the include path of a target fenced by rpcnet_fence_transport_headers()
// (cmake/HeaderFence.cmake): every GnuTLS header includes this one, so reaching it means a GnuTLS
// header leaked out of src/quic. Keep GnuTLS types behind opaque struct tags (see quic/tls.h).
#error "a GnuTLS header reached a target outside src/quic (see cmake/HeaderFence.cmake)"
