// How rpcnet-gen resolves imports, like protoc: the import roots it searches, which imported
// files it generates message code for, and the depfile naming every file it read.
//
//   auto roots = rpcnet::gen::import_roots({"protos"}, {"protos/shop.proto"});
//   // -> protos, then /usr/include (where google/protobuf/*.proto live)
//   for (auto [file, first_importer] : rpcnet::gen::dependencies_to_generate(inputs)) ...
#pragma once

#include <cstddef>
#include <filesystem>
#include <string>
#include <utility>
#include <vector>

namespace google::protobuf {
class FileDescriptor;
namespace compiler {
class DiskSourceTree;
}
}  // namespace google::protobuf

namespace rpcnet::gen {

// Import roots, searched in order: `proto_paths`; for each input under none of them (every
// input when there are none), the input's directory (a file) or the input itself (a
// directory); last, as protoc does, the installed protobuf's include directory, so that the
// well-known types resolve with no flag. Absolute, normalized, without repeats.
std::vector<std::filesystem::path> import_roots(const std::vector<std::string>& proto_paths,
                                                const std::vector<std::string>& inputs);

// Where the installed protobuf keeps google/protobuf/*.proto: the directory found when
// rpcnet-gen was built, else /usr/include; empty if neither holds them.
std::filesystem::path well_known_types_root();

// A file whose message code libprotobuf itself carries (a well-known type): generated code
// includes protobuf's header for it and links libprotobuf, and never gets a second copy.
bool provided_by_libprotobuf(const google::protobuf::FileDescriptor& file);

// The files `inputs` import, directly or not, that are neither inputs nor provided by
// libprotobuf: their message code is generated too. Deterministic (inputs in the given order,
// imports depth first), each file once, paired with the index of the first input importing it.
std::vector<std::pair<const google::protobuf::FileDescriptor*, std::size_t>>
dependencies_to_generate(const std::vector<const google::protobuf::FileDescriptor*>& inputs);

// Writes a Makefile-style depfile: `target` depends on every file `inputs` read (themselves and
// everything they import), by absolute path, so that editing an imported file regenerates.
bool write_depfile(const std::filesystem::path& depfile, const std::filesystem::path& target,
                   google::protobuf::compiler::DiskSourceTree& source_tree,
                   const std::vector<const google::protobuf::FileDescriptor*>& inputs);

}  // namespace rpcnet::gen
