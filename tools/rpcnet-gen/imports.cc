#include "imports.h"

#include <google/protobuf/compiler/importer.h>
#include <google/protobuf/descriptor.h>

#include <algorithm>
#include <fstream>
#include <set>

namespace rpcnet::gen {

namespace fs = std::filesystem;
namespace pb = google::protobuf;

namespace {

bool is_under(const fs::path& path, const fs::path& root) {
  const fs::path relative = path.lexically_relative(root);
  return !relative.empty() && *relative.begin() != "..";
}

}  // namespace

fs::path well_known_types_root() {
  for (const char* candidate : {RPCNET_PROTOBUF_INCLUDE_DIR, "/usr/include"}) {
    std::error_code error;
    if (fs::is_regular_file(fs::path(candidate) / "google/protobuf/timestamp.proto", error)) {
      return fs::path(candidate).lexically_normal();
    }
  }
  return {};
}

std::vector<fs::path> import_roots(const std::vector<std::string>& proto_paths,
                                   const std::vector<std::string>& inputs) {
  std::vector<fs::path> given;
  for (const std::string& path : proto_paths) given.push_back(fs::absolute(path).lexically_normal());
  std::vector<fs::path> roots = given;
  for (const std::string& input : inputs) {
    const fs::path path = fs::absolute(input).lexically_normal();
    if (std::any_of(given.begin(), given.end(), [&](const fs::path& root) { return is_under(path, root); })) {
      continue;
    }
    const fs::path root = fs::is_directory(path) ? path : path.parent_path();
    if (std::find(roots.begin(), roots.end(), root) == roots.end()) roots.push_back(root);
  }
  const fs::path well_known = well_known_types_root();
  if (!well_known.empty() && std::find(roots.begin(), roots.end(), well_known) == roots.end()) {
    roots.push_back(well_known);
  }
  return roots;
}

bool provided_by_libprotobuf(const pb::FileDescriptor& file) {
  const std::string& name = file.name();
  return name.rfind("google/protobuf/", 0) == 0 && name.rfind("google/protobuf/compiler/", 0) != 0 &&
         pb::DescriptorPool::generated_pool()->FindFileByName(name) != nullptr;
}

std::vector<std::pair<const pb::FileDescriptor*, std::size_t>> dependencies_to_generate(
    const std::vector<const pb::FileDescriptor*>& inputs) {
  std::set<const pb::FileDescriptor*> seen(inputs.begin(), inputs.end());
  std::vector<std::pair<const pb::FileDescriptor*, std::size_t>> out;
  for (std::size_t k = 0; k < inputs.size(); ++k) {
    std::vector<const pb::FileDescriptor*> pending{inputs[k]};
    while (!pending.empty()) {
      const pb::FileDescriptor* file = pending.back();
      pending.pop_back();
      for (int i = file->dependency_count() - 1; i >= 0; --i) {
        const pb::FileDescriptor* dependency = file->dependency(i);
        if (provided_by_libprotobuf(*dependency) || !seen.insert(dependency).second) continue;
        out.emplace_back(dependency, k);
        pending.push_back(dependency);
      }
    }
  }
  return out;
}

bool write_depfile(const fs::path& depfile, const fs::path& target,
                   pb::compiler::DiskSourceTree& source_tree,
                   const std::vector<const pb::FileDescriptor*>& inputs) {
  std::set<std::string> read;
  std::vector<const pb::FileDescriptor*> pending(inputs.begin(), inputs.end());
  std::set<const pb::FileDescriptor*> seen(inputs.begin(), inputs.end());
  while (!pending.empty()) {
    const pb::FileDescriptor* file = pending.back();
    pending.pop_back();
    std::string disk;
    if (source_tree.VirtualFileToDiskFile(file->name(), &disk)) {
      read.insert(fs::absolute(disk).lexically_normal().string());
    }
    for (int i = 0; i < file->dependency_count(); ++i) {
      if (seen.insert(file->dependency(i)).second) pending.push_back(file->dependency(i));
    }
  }
  const auto escaped = [](const std::string& path) {
    std::string out;
    for (char c : path) {
      if (c == ' ' || c == '#' || c == '\\') out += '\\';
      if (c == '$') out += '$';
      out += c;
    }
    return out;
  };
  std::ofstream out(depfile, std::ios::trunc);
  out << escaped(target.lexically_normal().string()) << ":";
  for (const std::string& path : read) out << " \\\n  " << escaped(path);
  out << "\n";
  out.close();
  return static_cast<bool>(out);
}

}  // namespace rpcnet::gen
