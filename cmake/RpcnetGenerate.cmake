# rpcnet_generate(TARGET <target> PROTOS <file.proto>... [OUTPUT_DIR <dir>]
#                 [PROTO_PATHS <dir>...] [SERVER_ONLY | CLIENT_ONLY | TYPES_ONLY])
#
# Runs rpcnet-gen on PROTOS at build time (again whenever one of them changes), compiles the
# generated message code into <target>, and gives <target> (PUBLIC) the include directory and
# the libraries the generated headers need. Include the generated code as
#   #include "greeting/greeting.hpp"      // service Greeting: messages, client and server
#
# OUTPUT_DIR defaults to ${CMAKE_CURRENT_BINARY_DIR}/rpcnet_generated/<target>. PROTO_PATHS
# (import roots) default to the directory of each proto; a proto under none of the PROTO_PATHS
# given adds its own directory. protobuf's well-known types (google/protobuf/*.proto) always
# resolve, and their code comes from libprotobuf. Files the PROTOS import but that are not PROTOS
# themselves get their message code generated and compiled too (each once), and editing them
# regenerates.
#
# Example:
#   add_executable(greeter main.cc)
#   rpcnet_generate(TARGET greeter PROTOS ${CMAKE_CURRENT_SOURCE_DIR}/greeting.proto)
function(rpcnet_generate)
  cmake_parse_arguments(ARG "SERVER_ONLY;CLIENT_ONLY;TYPES_ONLY" "TARGET;OUTPUT_DIR"
                        "PROTOS;PROTO_PATHS" ${ARGN})
  if(NOT ARG_TARGET OR NOT ARG_PROTOS)
    message(FATAL_ERROR "rpcnet_generate: TARGET and PROTOS are required")
  endif()
  if(NOT ARG_OUTPUT_DIR)
    set(ARG_OUTPUT_DIR ${CMAKE_CURRENT_BINARY_DIR}/rpcnet_generated/${ARG_TARGET})
  endif()
  if(TARGET rpcnet-gen)
    set(generator $<TARGET_FILE:rpcnet-gen>)
    set(generator_dependency rpcnet-gen)
  elseif(TARGET rpcnet::rpcnet-gen)
    set(generator $<TARGET_FILE:rpcnet::rpcnet-gen>)
    set(generator_dependency rpcnet::rpcnet-gen)
  else()
    message(FATAL_ERROR "rpcnet_generate: no rpcnet-gen target (find_package(rpcnet) first)")
  endif()

  set(arguments)
  set(protos)
  foreach(proto ${ARG_PROTOS})
    get_filename_component(proto ${proto} ABSOLUTE)
    list(APPEND protos ${proto})
    list(APPEND arguments --input ${proto})
    if(NOT ARG_PROTO_PATHS)
      get_filename_component(proto_dir ${proto} DIRECTORY)
      list(APPEND arguments -I ${proto_dir})
    endif()
  endforeach()
  list(REMOVE_DUPLICATES protos)  # rpcnet-gen compiles each file once
  foreach(path ${ARG_PROTO_PATHS})
    get_filename_component(path ${path} ABSOLUTE)
    list(APPEND arguments -I ${path})
  endforeach()
  if(ARG_SERVER_ONLY)
    list(APPEND arguments --server-only)
  elseif(ARG_CLIENT_ONLY)
    list(APPEND arguments --client-only)
  elseif(ARG_TYPES_ONLY)
    list(APPEND arguments --types-only)
  endif()

  # One wrapper source per .proto (rpcnet-gen --build-sources), so the outputs are known here.
  set(build_dir ${ARG_OUTPUT_DIR}/.rpcnet-build)
  set(sources)
  list(LENGTH protos count)
  math(EXPR last "${count} - 1")
  foreach(k RANGE ${last})
    list(APPEND sources ${build_dir}/build_${k}.cc)
  endforeach()
  # The depfile lists the imported .proto files too, so that editing one regenerates.
  add_custom_command(
    OUTPUT ${sources}
    COMMAND ${generator} ${arguments} --output ${ARG_OUTPUT_DIR} --build-sources ${build_dir}
            --depfile ${build_dir}/generate.d
    DEPENDS ${protos} ${generator_dependency}
    DEPFILE ${build_dir}/generate.d
    COMMENT "rpcnet-gen: generating code for ${ARG_TARGET}"
    VERBATIM)
  target_sources(${ARG_TARGET} PRIVATE ${sources})
  # protobuf's generated message code is not written for the target's warning flags.
  set_source_files_properties(${sources} PROPERTIES COMPILE_OPTIONS "-w")
  target_include_directories(${ARG_TARGET} PUBLIC ${ARG_OUTPUT_DIR})
  target_link_libraries(${ARG_TARGET} PUBLIC rpcnet::generated)
endfunction()
