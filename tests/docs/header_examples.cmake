# Header examples are tested: every public header (include/rpcnet/**/*.h) opens with its contract
# and an example, marked by a comment line starting `// Example` and ending in `:`, e.g.
#   // Example:                         compiled here
#   // Example (fragment):              an excerpt (statements, pseudo-code): not compiled
# The example is the comment lines after the marker indented by at least three spaces ("//   ")
# and the empty comment lines ("//") between them. It is written as whole C++ at namespace scope
# (includes, functions, main) and compiled as a translation unit that includes the header, then
# rpcnet/rpcnet.h, with the project's warnings (-Werror=unused-result among them): an example
# that stops compiling breaks the build. A header without an example is a configure error.
# Whether each header compiles on its own is rpcnet_checkheaders' check (CMakeLists.txt), so
# the examples share a precompiled rpcnet/rpcnet.h: parsing it was most of each one's time.
set(header_example_dir ${CMAKE_CURRENT_BINARY_DIR}/header_examples)
file(MAKE_DIRECTORY ${header_example_dir})
file(GLOB_RECURSE public_headers CONFIGURE_DEPENDS RELATIVE ${PROJECT_SOURCE_DIR}/include
     ${PROJECT_SOURCE_DIR}/include/rpcnet/*.h)

set(example_sources)
foreach(header ${public_headers})
  set(path ${PROJECT_SOURCE_DIR}/include/${header})
  file(READ ${path} text)
  string(FIND "${text}" "\n// Example" at)
  if(at EQUAL -1)
    message(FATAL_ERROR "include/${header} has no `// Example:` (or `// Example (fragment):`) "
                        "comment: public headers open with their contract and a short example")
  endif()
  math(EXPR at "${at} + 1")
  string(SUBSTRING "${text}" ${at} -1 text)
  string(FIND "${text}" "\n" eol)
  string(SUBSTRING "${text}" 0 ${eol} marker)
  if(marker MATCHES "^// Example \\(fragment[^)]*\\):$")
    continue()
  elseif(NOT marker MATCHES "^// Example( \\([^)]*\\))?:$")
    message(FATAL_ERROR "include/${header}: \"${marker}\" is neither `// Example:`, "
                        "`// Example (<what it shows>):` nor `// Example (fragment):`")
  endif()
  set(body "")
  # Line by line with string() operations only: C++ is full of semicolons, which CMake lists
  # would split on.
  while(TRUE)
    math(EXPR next "${eol} + 1")
    string(SUBSTRING "${text}" ${next} -1 text)
    string(FIND "${text}" "\n" eol)
    if(eol EQUAL -1)
      break()
    endif()
    string(SUBSTRING "${text}" 0 ${eol} line)
    if(line MATCHES "^//   ")
      string(SUBSTRING "${line}" 5 -1 code)
      string(APPEND body "${code}\n")
    elseif(line MATCHES "^// *$")
      string(APPEND body "\n")
    else()
      break()
    endif()
  endwhile()
  string(STRIP "${body}" body)
  if(body STREQUAL "")
    message(FATAL_ERROR "include/${header}: the example after \"${marker}\" is empty")
  endif()
  string(MAKE_C_IDENTIFIER "${header}" id)
  set(source ${header_example_dir}/${id}.cc)
  # Written through configure_file so that an unchanged example is not recompiled.
  file(WRITE ${source}.in "// The example in include/${header}, compiled by tests/docs.\n"
                          "#include \"${header}\"\n#include \"rpcnet/rpcnet.h\"\n\n${body}\n")
  configure_file(${source}.in ${source} COPYONLY)
  set_property(DIRECTORY APPEND PROPERTY CMAKE_CONFIGURE_DEPENDS ${path})
  list(APPEND example_sources ${source})
endforeach()

add_library(rpcnet_header_examples OBJECT ${example_sources})
set_target_properties(rpcnet_header_examples PROPERTIES UNITY_BUILD OFF)  # each example alone
target_link_libraries(rpcnet_header_examples PRIVATE rpcnet::generated rpcnet::cluster rpcnet::testing)
rpcnet_set_warnings(rpcnet_header_examples)
target_precompile_headers(rpcnet_header_examples PRIVATE <rpcnet/rpcnet.h> <rpcnet/cluster/membership.h> <iostream>)
rpcnet_quiet_pch_false_positives(rpcnet_header_examples)
