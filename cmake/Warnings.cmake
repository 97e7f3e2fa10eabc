# rpcnet_set_warnings(<target>): the warning set every first-party target compiles with.
function(rpcnet_set_warnings target)
  target_compile_options(${target} PRIVATE
    -Wall -Wextra -Wpedantic -Wshadow -Wnon-virtual-dtor -Wold-style-cast -Wcast-align
    -Woverloaded-virtual -Wimplicit-fallthrough -Wformat=2
    -Werror=unused-result -Werror=return-type
    # GCC 12 false positive on Asio's coroutine frames (custom operator new/delete pairs).
    $<$<CXX_COMPILER_ID:GNU>:-Wno-mismatched-new-delete>
    # In a unity batch GCC takes every source after the first for a header, and then reports
    # each type with internal linkage (anonymous namespaces, coroutine frames) that a class of
    # the file uses; builds one source at a time (release, debug, bench) keep the warning for real
    # headers.
    $<$<AND:$<CXX_COMPILER_ID:GNU>,$<BOOL:$<TARGET_PROPERTY:UNITY_BUILD>>>:-Wno-subobject-linkage>
    # Checks the RPCNET_GUARDED_BY/RPCNET_REQUIRES annotations (rpcnet/thread_annotations.h); GCC
    # has no such analysis, so the clang build (the fuzz preset) is where they are enforced.
    $<$<CXX_COMPILER_ID:Clang>:-Wthread-safety>)
  if(RPCNET_WERROR)
    target_compile_options(${target} PRIVATE -Werror)
  endif()
endfunction()
