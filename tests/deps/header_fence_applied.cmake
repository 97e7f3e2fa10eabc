# Checks the state tests/deps/CMakeLists.txt recorded: the targets outside src/quic have the
# header fence on their include path, and src/cluster leaves out exactly its GnuTLS files.
include(${STATE})
foreach(target rpcnet_base rpcnet_runtime rpcnet_rpc rpcnet_testing rpcnet_checkheaders)
  if(NOT "${FENCE}" IN_LIST ${target})
    message(FATAL_ERROR "${target} is not fenced from GnuTLS/ngtcp2 headers: ${${target}}")
  endif()
endforeach()
set(expected key_ring.cc membership.cc packet_seal.cc)
list(SORT cluster_unfenced)
if(NOT cluster_unfenced STREQUAL expected)
  message(FATAL_ERROR "src/cluster files outside the fence: '${cluster_unfenced}', expected '${expected}'")
endif()
message(STATUS "header fence applied")
