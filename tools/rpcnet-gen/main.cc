// rpcnet-gen: typed clients and servers from .proto service definitions.
//
//   rpcnet-gen --input greeting.proto --output src/generated
//   rpcnet-gen --input protos/ -I protos -I third_party --output gen --server-only
//
// It embeds libprotoc: the message code (protobuf's C++ generator) and the service code
// (service_generator.h) come out of one run, with no protoc needed. Invoked as
// `protoc-gen-rpcnet` (a symlink), it is a protoc plugin instead:
//   protoc --plugin=protoc-gen-rpcnet=$(which protoc-gen-rpcnet) --rpcnet_out=gen --cpp_out=gen x.proto
//
// Imports resolve like protoc's: from the -I directories, the directory of an input under none
// of them, and last the installed protobuf's include directory (the well-known types,
// google/protobuf/*.proto, whose message code libprotobuf carries, so none is generated for
// them). Imported files that are not inputs get their message code generated as well.
//
// Errors (a missing file, a syntax error, an unknown type, an output directory that cannot be
// written) print `file:line:column: error: reason` and exit 1; nothing is written unless every
// input compiled. Output is deterministic, and files whose content did not change keep their
// timestamps, so builds depending on them do not redo work.
#include <google/protobuf/compiler/cpp/generator.h>
#include <google/protobuf/compiler/importer.h>
#include <google/protobuf/compiler/plugin.h>
#include <google/protobuf/descriptor.h>
#include <google/protobuf/io/zero_copy_stream_impl_lite.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "imports.h"
#include "service_generator.h"

namespace fs = std::filesystem;
namespace pb = google::protobuf;

namespace {

struct Options {
  std::vector<std::string> inputs;
  std::vector<std::string> proto_paths;
  std::string output = "src/generated";
  bool server_only = false;
  bool client_only = false;
  bool types_only = false;
  // Build integration: a directory that receives build_<k>.cc for each input file k (in sorted
  // order), each compiling that file's generated .pb.cc. A build system knows these names from
  // the number of inputs alone, before any generation has run.
  std::string build_sources;
  // Build integration: a Makefile-style depfile naming every .proto file this run read (inputs
  // and everything they import), so that editing an imported file regenerates too.
  std::string depfile;
};

int fail(const std::string& message) {
  std::cerr << "rpcnet-gen: error: " << message << "\n";
  return 1;
}

class ErrorPrinter : public pb::compiler::MultiFileErrorCollector {
 public:
  void AddError(const std::string& file, int line, int column, const std::string& message) override {
    // libprotoc reports a missing import twice: the file alone, then the import line naming it.
    print(file, line, column, "error",
          line < 0 && message == "File not found."
              ? "not found under any import root; pass the directory that holds \"" + file +
                    "\" with -I (PROTO_PATHS in rpcnet_generate)"
              : message);
    ++errors_;
  }
  void AddWarning(const std::string& file, int line, int column,
                  const std::string& message) override {
    print(file, line, column, "warning", message);
  }
  int errors() const { return errors_; }

 private:
  static void print(const std::string& file, int line, int column, const char* what,
                    const std::string& message) {
    std::cerr << file;
    if (line >= 0) std::cerr << ":" << line + 1 << ":" << column + 1;
    std::cerr << ": " << what << ": " << message << "\n";
  }
  int errors_ = 0;
};

// Collects generated files in memory (so nothing is written before everything succeeded),
// under `prefix`.
class MemoryContext : public pb::compiler::GeneratorContext {
 public:
  MemoryContext(std::string prefix, std::map<std::string, std::string>& files,
                std::vector<const pb::FileDescriptor*> parsed, std::set<std::string>& clashes)
      : prefix_(std::move(prefix)), files_(files), parsed_(std::move(parsed)), clashes_(clashes) {}

  pb::io::ZeroCopyOutputStream* Open(const std::string& filename) override {
    const std::string name = prefix_ + filename;
    // Two services with one name (in different packages or files) would share a directory.
    if (files_.count(name) > 0) clashes_.insert(name);
    std::string& content = files_[name];  // std::map: stable across insertions
    content.clear();
    return new pb::io::StringOutputStream(&content);
  }
  void ListParsedFiles(std::vector<const pb::FileDescriptor*>* output) override {
    *output = parsed_;
  }

 private:
  std::string prefix_;
  std::map<std::string, std::string>& files_;
  std::vector<const pb::FileDescriptor*> parsed_;
  std::set<std::string>& clashes_;
};

// Every .proto file named by --input: files as given, directories searched recursively.
bool collect_inputs(const Options& options, std::vector<fs::path>& out) {
  std::set<fs::path> found;
  for (const std::string& input : options.inputs) {
    std::error_code error;
    const fs::path path = fs::absolute(input);
    if (fs::is_directory(path, error)) {
      for (const auto& entry : fs::recursive_directory_iterator(path)) {
        if (entry.is_regular_file() && entry.path().extension() == ".proto") {
          found.insert(entry.path().lexically_normal());
        }
      }
    } else if (fs::is_regular_file(path, error)) {
      found.insert(path.lexically_normal());
    } else {
      std::cerr << input << ": error: no such file or directory\n";
      return false;
    }
  }
  if (found.empty()) {
    std::cerr << "rpcnet-gen: error: no .proto files in the inputs\n";
    return false;
  }
  out.assign(found.begin(), found.end());  // sorted: deterministic order
  return true;
}

// Makes `dir` exist and proves it writable by creating and removing a file in it.
bool check_writable(const fs::path& dir, std::string& reason) {
  std::error_code error;
  fs::create_directories(dir, error);
  if (error) {
    reason = error.message();
    return false;
  }
  const fs::path probe = dir / (".rpcnet-gen-probe-" + std::to_string(::getpid()));
  {
    std::ofstream out(probe);
    if (!out) {
      reason = "permission denied";
      return false;
    }
  }
  fs::remove(probe, error);
  return true;
}

std::string read_file(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream content;
  content << in.rdbuf();
  return content.str();
}

// Writes every file to a temporary name first, then renames them all into place, skipping files
// whose content is unchanged.
bool write_all(const fs::path& root, const std::map<std::string, std::string>& files) {
  std::vector<std::pair<fs::path, fs::path>> renames;
  std::vector<fs::path> created;  // directories this run made, removed again on failure
  bool ok = true;
  for (const auto& [name, content] : files) {
    const fs::path target = root / name;
    std::error_code error;
    if (fs::exists(target, error) && read_file(target) == content) continue;
    for (fs::path dir = target.parent_path(); !dir.empty() && dir != root && !fs::exists(dir, error);
         dir = dir.parent_path()) {
      created.push_back(dir);
    }
    fs::create_directories(target.parent_path(), error);
    if (error) {
      std::cerr << target.parent_path().string() << ": error: cannot create: " << error.message() << "\n";
      ok = false;
      break;
    }
    const fs::path temporary = target.string() + ".tmp-" + std::to_string(::getpid());
    std::ofstream out(temporary, std::ios::binary | std::ios::trunc);
    out << content;
    out.close();
    if (!out) {
      std::cerr << target.string() << ": error: cannot write: " << std::strerror(errno) << "\n";
      ok = false;
      fs::remove(temporary, error);
      break;
    }
    renames.emplace_back(temporary, target);
  }
  for (const auto& [temporary, target] : renames) {
    std::error_code error;
    if (ok) fs::rename(temporary, target, error);
    if (!ok || error) fs::remove(temporary, error);
  }
  if (!ok) {
    // Deepest first; only directories this run created, and only while empty.
    std::sort(created.begin(), created.end(),
              [](const fs::path& a, const fs::path& b) { return a.string().size() > b.string().size(); });
    for (const fs::path& dir : created) {
      std::error_code error;
      fs::remove(dir, error);
    }
  }
  return ok;
}

// The depfile's rule is for the first build source (the depfile itself without --build-sources).
fs::path depfile_target(const Options& options) {
  return options.build_sources.empty() ? fs::absolute(options.depfile)
                                       : fs::absolute(options.build_sources) / "build_0.cc";
}

int generate(const Options& options) {
  std::vector<fs::path> inputs;
  if (!collect_inputs(options, inputs)) return 1;

  pb::compiler::DiskSourceTree source_tree;
  const std::vector<fs::path> roots = rpcnet::gen::import_roots(options.proto_paths, options.inputs);
  for (const fs::path& root : roots) source_tree.MapPath("", root.string());

  ErrorPrinter errors;
  pb::compiler::Importer importer(&source_tree, &errors);
  std::vector<const pb::FileDescriptor*> files;
  for (const fs::path& input : inputs) {
    std::string virtual_file;
    std::string shadowing;
    if (source_tree.DiskFileToVirtualFile(input.string(), &virtual_file, &shadowing) !=
        pb::compiler::DiskSourceTree::CANNOT_OPEN &&
        !virtual_file.empty()) {
      if (const pb::FileDescriptor* file = importer.Import(virtual_file)) files.push_back(file);
    } else {
      std::cerr << input.string() << ": error: not under any proto path (-I)\n";
      return 1;
    }
  }
  if (errors.errors() > 0 || files.size() != inputs.size()) return 1;

  std::string parameter;
  if (options.types_only) {
    parameter = "types_only";
  } else if (options.server_only) {
    parameter = "server_only";
  } else if (options.client_only) {
    parameter = "client_only";
  }

  // Files other inputs import keep their message code at the root (see message_directory()),
  // and so do the imported files that are not inputs, whose message code is generated too.
  std::set<std::string> imported;
  std::set<std::string> input_names;
  for (const pb::FileDescriptor* file : files) input_names.insert(file->name());
  for (const pb::FileDescriptor* file : files) {
    for (int i = 0; i < file->dependency_count(); ++i) {
      if (input_names.count(file->dependency(i)->name()) > 0) imported.insert(file->dependency(i)->name());
    }
  }
  const auto dependencies = rpcnet::gen::dependencies_to_generate(files);
  for (const auto& [dependency, first_importer] : dependencies) imported.insert(dependency->name());

  std::map<std::string, std::string> generated;
  std::set<std::string> clashes;
  pb::compiler::cpp::CppGenerator messages;
  rpcnet::gen::ServiceGenerator services(/*rpcnet_layout=*/true, imported);
  for (const pb::FileDescriptor* file : files) {
    // The message code of a top-level .proto with services goes into its (first) service's
    // directory, next to the service headers. Files in subdirectories, or without services,
    // keep protoc's layout, so the includes protobuf writes resolve from the output root alone.
    const std::string directory = rpcnet::gen::message_directory(*file, imported);
    const std::string prefix = directory.empty() ? "" : directory + "/";
    MemoryContext message_context(prefix, generated, files, clashes);
    std::string error;
    if (!messages.Generate(file, "", &message_context, &error)) {
      return fail(file->name() + ": " + error);
    }
    MemoryContext service_context("", generated, files, clashes);
    if (!services.Generate(file, parameter, &service_context, &error)) {
      return fail(file->name() + ": " + error);
    }
  }
  for (const auto& [dependency, first_importer] : dependencies) {
    MemoryContext message_context("", generated, files, clashes);
    std::string error;
    if (!messages.Generate(dependency, "", &message_context, &error)) {
      return fail(dependency->name() + ": " + error);
    }
  }
  if (!clashes.empty()) {
    return fail("two services generate " + *clashes.begin() +
                ": give services distinct names (directories are named after them)");
  }

  // Everything compiled: only now touch the file system.
  std::string reason;
  const fs::path output = fs::absolute(options.output);
  std::error_code exists_error;
  const bool output_existed = fs::exists(output, exists_error);
  if (!check_writable(output, reason)) {
    return fail("cannot write output directory " + options.output + ": " + reason);
  }
  if (!write_all(output, generated)) {
    if (!output_existed) fs::remove(output, exists_error);  // only if still empty
    return 1;
  }
  if (!options.build_sources.empty()) {
    // One translation unit per .pb.cc: protobuf's generated sources cannot share one.
    const fs::path dir = fs::absolute(options.build_sources);
    std::error_code error;
    fs::create_directories(dir, error);
    const auto source_of = [&](const pb::FileDescriptor& file) {
      const std::string directory = rpcnet::gen::message_directory(file, imported);
      std::string source = file.name();
      source.resize(source.size() - std::string_view(".proto").size());
      return (directory.empty() ? "" : directory + "/") + source + ".pb.cc";
    };
    for (std::size_t k = 0; k < files.size(); ++k) {
      std::string text = "// Generated by rpcnet-gen " + std::string(rpcnet::gen::kVersion) + " for " +
                         files[k]->name() + ". Do not edit.\n#include \"" + source_of(*files[k]) +
                         "\"\n";
      // The imported files that are not inputs compile with the first input importing them.
      // Every .pb.cc defines the file-scope arrays `schemas` and `file_default_instances`;
      // renamed here, so that several share this translation unit (protobuf's headers are all
      // included by the first .pb.cc already, so the macros touch only the code below).
      std::size_t renamed = 0;
      for (const auto& [dependency, first_importer] : dependencies) {
        if (first_importer != k) continue;
        const std::string suffix = std::to_string(++renamed);
        text += "\n// " + dependency->name() + ", imported by " + files[k]->name() +
                "\n#define schemas rpcnet_schemas_" + suffix +
                "\n#define file_default_instances rpcnet_file_default_instances_" + suffix +
                "\n#include \"" + source_of(*dependency) +
                "\"\n#undef schemas\n#undef file_default_instances\n";
      }
      // Always rewritten: its timestamp tells the build system generation has happened.
      std::ofstream out(dir / ("build_" + std::to_string(k) + ".cc"), std::ios::trunc);
      out << text;
      out.close();
      if (!out) return fail("cannot write build sources in " + options.build_sources);
    }
  }
  if (!options.depfile.empty() &&
      !rpcnet::gen::write_depfile(options.depfile, depfile_target(options), source_tree, files)) {
    return fail("cannot write depfile " + options.depfile);
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  const std::string program = fs::path(argv[0]).filename().string();
  if (program.rfind("protoc-gen-rpcnet", 0) == 0) {
    rpcnet::gen::ServiceGenerator generator;
    return pb::compiler::PluginMain(argc, argv, &generator);
  }

  Options options;
  CLI::App app{"rpcnet-gen: typed rpcnet clients and servers from .proto service definitions"};
  app.set_version_flag("--version", std::string("rpcnet-gen ") + rpcnet::gen::kVersion +
                                        " (libprotoc " +
                                        pb::internal::VersionString(GOOGLE_PROTOBUF_VERSION) + ")");
  app.add_option("--input,-i", options.inputs, "a .proto file, or a directory searched for them")
      ->required();
  app.add_option("--output,-o", options.output, "where to write the generated code")
      ->capture_default_str();
  app.add_option("-I,--proto-path", options.proto_paths,
                 "directory to resolve imports from (repeatable; an input under none of them adds "
                 "its own directory; protobuf's well-known types always resolve)");
  auto* server_only = app.add_flag("--server-only", options.server_only,
                                   "messages and the handler/server side only");
  auto* client_only = app.add_flag("--client-only", options.client_only,
                                   "messages and the client side only");
  auto* types_only = app.add_flag("--types-only", options.types_only, "message code only");
  app.add_option("--build-sources", options.build_sources,
                 "also write build_<k>.cc (k = 0.. per input file) compiling the generated message "
                 "code, for build systems");
  app.add_option("--depfile", options.depfile,
                 "also write a Makefile-style depfile listing every .proto file read, for build "
                 "systems");
  server_only->excludes(client_only)->excludes(types_only);
  client_only->excludes(types_only);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& error) {
    return app.exit(error);
  }
  // An empty path would make std::filesystem throw later on: name it here instead.
  for (const std::string& path : options.proto_paths) {
    if (path.empty()) return fail("-I needs a directory, not an empty string");
  }
  for (const std::string& input : options.inputs) {
    if (input.empty()) return fail("--input needs a .proto file or a directory, not an empty string");
  }
  if (options.output.empty()) return fail("--output needs a directory, not an empty string");
  return generate(options);
}
