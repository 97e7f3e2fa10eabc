# rpcnet_fence_transport_headers(<target> [EXCEPT_SOURCES <source>...]): fails the build of
# <target> if any of its files includes a GnuTLS or ngtcp2 header, directly or through a header of
# another layer. Both libraries install into the default include path, so no missing -I could
# catch a leak; instead cmake/header_fence, searched before the system directories, holds
# <gnutls/gnutls.h> and <ngtcp2/ngtcp2.h> stand-ins that #error (every other header of the two
# libraries includes one of them). src/quic alone drives ngtcp2 and TLS; a file elsewhere that
# legitimately uses GnuTLS itself (gossip sealing in src/cluster) is listed in EXCEPT_SOURCES and
# links GnuTLS PRIVATE.
set(RPCNET_HEADER_FENCE_DIR ${CMAKE_CURRENT_LIST_DIR}/header_fence)

function(rpcnet_fence_transport_headers target)
  cmake_parse_arguments(PARSE_ARGV 1 FENCE "" "" "EXCEPT_SOURCES")
  if(NOT FENCE_EXCEPT_SOURCES)
    target_include_directories(${target} BEFORE PRIVATE ${RPCNET_HEADER_FENCE_DIR})
    return()
  endif()
  get_target_property(sources ${target} SOURCES)
  get_target_property(source_dir ${target} SOURCE_DIR)
  foreach(source ${sources})
    get_filename_component(absolute ${source} ABSOLUTE BASE_DIR ${source_dir})
    set(excepted FALSE)
    foreach(except ${FENCE_EXCEPT_SOURCES})
      get_filename_component(except_absolute ${except} ABSOLUTE BASE_DIR ${source_dir})
      if(absolute STREQUAL except_absolute)
        set(excepted TRUE)
      endif()
    endforeach()
    if(NOT excepted)
      set_property(SOURCE ${absolute} TARGET_DIRECTORY ${target} APPEND
                   PROPERTY INCLUDE_DIRECTORIES ${RPCNET_HEADER_FENCE_DIR})
    endif()
  endforeach()
endfunction()
