# Checks the state tests/deps/CMakeLists.txt recorded: the targets outside src/quic have the
# header fence on their include path, and src/cluster leaves out exactly its GnuTLS files
# (rpcnet_cluster_sealing).
cmake_minimum_required(VERSION 3.25)
include(${STATE})
foreach(target ${fenced_targets})
  if(NOT "${FENCE}" IN_LIST ${target})
    message(FATAL_ERROR "${target} is not fenced from GnuTLS/ngtcp2 headers: ${${target}}")
  endif()
endforeach()
if("${FENCE}" IN_LIST sealing_target)
  message(FATAL_ERROR "rpcnet_cluster_sealing, which calls GnuTLS, is behind the fence: ${sealing_target}")
endif()
set(expected key_ring.cc membership.cc packet_seal.cc)
list(SORT cluster_unfenced)
if(NOT cluster_unfenced STREQUAL expected)
  message(FATAL_ERROR "src/cluster files outside the fence: '${cluster_unfenced}', expected '${expected}'")
endif()
message(STATUS "header fence applied")
