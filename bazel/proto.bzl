"""Protocol Buffers and gRPC C++ code generation with Debian's protoc.

Bazel 4's native proto rules want to download protobuf's sources, so this
macro runs Debian's /usr/bin/protoc and /usr/bin/grpc_cpp_plugin (packages
protobuf-compiler and protobuf-compiler-grpc) in a genrule instead.
Imports resolve relative to the package that calls the macro and to
/usr/include (the well-known types).
"""

def etagd_proto_library(name, srcs, deps = [], grpc = False, visibility = None):
    """Declares <name>_proto, <name>_cc_proto and, with grpc, <name>_cc_grpc.

    Args:
      name: base name; targets are derived from it.
      srcs: .proto files, relative to the calling package.
      deps: other etagd_proto_library base names (labels without suffix).
      grpc: whether to also generate gRPC service stubs.
      visibility: visibility of the generated C++ targets.
    """
    proto_deps = [d + "_proto" for d in deps]
    native.filegroup(
        name = name + "_proto",
        srcs = srcs + proto_deps,
        visibility = visibility,
    )

    stems = [s[:-len(".proto")] for s in srcs]
    pb_outs = [s + ".pb.h" for s in stems] + [s + ".pb.cc" for s in stems]
    grpc_outs = [s + ".grpc.pb.h" for s in stems] + [s + ".grpc.pb.cc" for s in stems]
    root = native.package_name()
    proto_args = " ".join(["%s/%s" % (root, s) for s in srcs])

    cmd = ("/usr/bin/protoc -I{root} -I/usr/include " +
           "--cpp_out=$(GENDIR)/{root}").format(root = root)
    if grpc:
        cmd += (" --grpc_out=$(GENDIR)/{root}" +
                " --plugin=protoc-gen-grpc=/usr/bin/grpc_cpp_plugin").format(root = root)
    cmd += " " + proto_args

    native.genrule(
        name = name + "_gen",
        srcs = srcs + proto_deps,
        outs = pb_outs + (grpc_outs if grpc else []),
        cmd = cmd,
    )

    native.cc_library(
        name = name + "_cc_proto",
        srcs = [s + ".pb.cc" for s in stems],
        hdrs = [s + ".pb.h" for s in stems],
        includes = ["."],
        copts = ["-w"],
        deps = [d + "_cc_proto" for d in deps] + ["@etagd//bazel:protobuf"],
        visibility = visibility,
    )

    if grpc:
        native.cc_library(
            name = name + "_cc_grpc",
            srcs = [s + ".grpc.pb.cc" for s in stems],
            hdrs = [s + ".grpc.pb.h" for s in stems],
            includes = ["."],
            copts = ["-w"],
            deps = [":" + name + "_cc_proto", "@etagd//bazel:grpc"],
            visibility = visibility,
        )
