// etagctl: a command-line client for etagd. See --help.
#include <cstdio>
#include <fstream>
#include <iostream>
#include <iterator>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "client/client.h"
#include "client/etagctl_args.h"
#include "client/store_transfer.h"
#include "client/watch_format.h"
#include "service/env_flags.h"
#include "service/error_details.h"
#include "service/status_macros.h"

ABSL_FLAG(std::string, target, "127.0.0.1:7070", "etagd's gRPC HOST:PORT.");
ABSL_FLAG(absl::Duration, timeout, absl::Seconds(10), "Deadline of each call.");
ABSL_FLAG(std::string, if_match, "",
          "If-Match: \"*\" or a comma-separated list of entity-tags; a tag "
          "without quotes is taken as a strong tag.");
ABSL_FLAG(std::string, if_none_match, "",
          "If-None-Match: \"*\" or a comma-separated list of entity-tags.");
ABSL_FLAG(std::string, if_modified_since, "",
          "If-Modified-Since (get only): an RFC 3339 time or an HTTP-date.");
ABSL_FLAG(std::string, if_unmodified_since, "",
          "If-Unmodified-Since: an RFC 3339 time or an HTTP-date.");
ABSL_FLAG(int64_t, revision, 0, "get: read the version at this revision.");
ABSL_FLAG(std::string, file, "",
          "put: read the content from this file (default: --value, else "
          "standard input).");
ABSL_FLAG(std::string, value, "", "put: the content, given inline.");
ABSL_FLAG(std::string, content_type, "", "put: the content's media type.");
ABSL_FLAG(std::string, cache_control, "",
          "put: Cache-Control to store with the version (sent on its GETs "
          "instead of the server's default).");
ABSL_FLAG(std::string, content_disposition, "",
          "put: Content-Disposition to store, e.g. 'attachment; "
          "filename=\"a.pdf\"'.");
ABSL_FLAG(std::string, content_encoding, "",
          "put: Content-Encoding the content already has (e.g. gzip for a "
          "pre-gzipped file); it is served as it is.");
ABSL_FLAG(std::string, content_language, "",
          "put: Content-Language to store, e.g. 'en, de-CH'.");
ABSL_FLAG(std::string, expires, "",
          "put: Expires to store: an RFC 3339 time or an HTTP-date.");
ABSL_FLAG(std::vector<std::string>, meta, {},
          "put: user metadata, KEY=VALUE,... (values without commas); keys "
          "are lowercase letters, digits, '-' and '_'. HTTP clients see "
          "X-Etagd-Meta-KEY.");
ABSL_FLAG(std::string, request_id, "",
          "put, delete: a request id; resending a command with the same id "
          "does not apply it twice.");
ABSL_FLAG(int, page_size, 0, "list, history: entries per call (0: default).");
ABSL_FLAG(int64_t, start_revision, 0,
          "watch: print every change from this revision on (resuming: the "
          "last revision printed plus one); 0: changes from now on.");
ABSL_FLAG(bool, exact, false,
          "watch: PREFIX is one name: watch that resource only.");
ABSL_FLAG(bool, initial_state, false,
          "watch: first print every matching resource (\"initial\" lines) "
          "and an initial-state-end line with its revision, then the "
          "changes after it.");
ABSL_FLAG(int64_t, max_events, 0,
          "watch: exit after printing this many events (0: follow until "
          "stopped).");
ABSL_FLAG(std::string, output, "",
          "export: the file to write (\"-\": standard output).");
ABSL_FLAG(std::string, input, "",
          "import: the export file to read (\"-\": standard input).");
ABSL_FLAG(bool, overwrite, false,
          "import: also import resources the target already has (that this "
          "import did not write): the imported versions follow the "
          "target's own. Without it such a resource stops the import.");
ABSL_FLAG(std::string, ca_file, "",
          "PEM CA certificates that etagd's certificate must chain to: "
          "connects over TLS. Empty: plaintext.");
ABSL_FLAG(std::string, client_cert_file, "",
          "PEM client certificate chain, for an etagd that requires one "
          "(mutual TLS). Needs --ca_file and --client_key_file.");
ABSL_FLAG(std::string, client_key_file, "",
          "PEM private key (unencrypted) of --client_cert_file.");
ABSL_FLAG(std::string, tls_server_name, "",
          "The name etagd's certificate must carry, if not the host of "
          "--target (e.g. --target=127.0.0.1:7070 inside the pod).");
ABSL_FLAG(std::string, bearer_token_file, "",
          "File holding the bearer token to send (for an etagd with "
          "--tokens_file); surrounding whitespace is ignored. A file, not a "
          "flag value, so the token stays out of the process list.");

namespace etagd {
namespace {

namespace v1 = ::etagd::v1;

constexpr char kUsage[] =
    "A command-line client for etagd.\n\n"
    "Usage: etagctl [flags] COMMAND ARGS\n"
    "  get NAME       print the content to stdout, metadata to stderr\n"
    "  head NAME      print the metadata\n"
    "  put NAME       store --value, --file or standard input\n"
    "  delete NAME    delete the resource\n"
    "  list [PREFIX]  list resources (all pages)\n"
    "  history NAME   list the retained versions, newest first\n"
    "  checkpoint NAME  write a consistent copy of the store on the server\n"
    "                 (under its --checkpoint_dir), for backups\n"
    "  watch [PREFIX] follow changes, one line each:\n"
    "                 REVISION put|delete NAME ETAG (--start-revision,\n"
    "                 --exact, --initial-state, --max-events); stderr says\n"
    "                 from which revision it watches\n"    "  export [PREFIX]  write every current resource (under PREFIX) with\n"
    "                 its retained history, content, metadata and times to\n"
    "                 --output, a portable file any etagd can import\n"
    "  import         write the resources of --input into the target etagd\n"
    "                 (an admin call: a read-write token without a prefix).\n"
    "                 Times, content types and HTTP metadata are kept;\n"
    "                 revisions and ETags are NOT: the target hands out its\n"
    "                 own, so an ETag from the source does not match there\n"
    "                 (If-None-Match: 200, If-Match: 412). History is kept\n"
    "                 as far as the target's --history_depth. Resumable:\n"
    "                 run it again with the same file after an interruption\n"
    "                 and it writes only what is missing. --overwrite also\n"
    "                 imports names the target already has.\n"
    "                 Both print progress to stderr.\n"
    "Flags may be written --if-match or --if_match.\n"
    "TLS: --ca_file (and --client_cert_file, --client_key_file for mutual\n"
    "TLS); a bearer token: --bearer_token_file.\n\n"
    "Exit status: 0 success, 1 other error, 2 usage error, 3 not found,\n"
    "4 not modified, 5 precondition failed (stderr shows the current ETag),\n"
    "6 server unavailable or deadline exceeded.";

constexpr int kExitOk = 0;
constexpr int kExitError = 1;
constexpr int kExitUsage = 2;
constexpr int kExitNotFound = 3;
constexpr int kExitNotModified = 4;
constexpr int kExitPreconditionFailed = 5;
constexpr int kExitUnavailable = 6;

int Usage(absl::string_view message) {
  std::cerr << "etagctl: " << message << "\n(see etagctl --help)\n";
  return kExitUsage;
}

int Report(const absl::Status& status) {
  std::cerr << "etagctl: " << absl::StatusCodeToString(status.code()) << ": "
            << status.message() << "\n";
  if (absl::IsNotFound(status)) return kExitNotFound;
  if (absl::IsFailedPrecondition(status)) {
    if (auto detail = GetPreconditionFailure(status); detail.has_value()) {
      std::cerr << (detail->exists()
                        ? absl::StrCat("current ETag: ", detail->current_etag(),
                                       " revision: ", detail->current_revision())
                        : std::string("the resource does not exist"))
                << "\n";
    }
    return kExitPreconditionFailed;
  }
  if (absl::IsUnavailable(status) || absl::IsDeadlineExceeded(status)) {
    return kExitUnavailable;
  }
  return kExitError;
}

std::string FormatTime(const google::protobuf::Timestamp& t) {
  return absl::FormatTime(
      absl::RFC3339_full,
      absl::FromUnixSeconds(t.seconds()) + absl::Nanoseconds(t.nanos()),
      absl::UTCTimeZone());
}

// The stored HTTP metadata, one "name: value" line per field that is set
// (user metadata as meta-KEY), in a stable order.
std::string HttpMetadataLines(const v1::HttpMetadata& m) {
  std::string out;
  const std::pair<absl::string_view, const std::string*> fields[] = {
      {"cache-control", &m.cache_control()},
      {"content-disposition", &m.content_disposition()},
      {"content-encoding", &m.content_encoding()},
      {"content-language", &m.content_language()},
  };
  for (const auto& [name, value] : fields) {
    if (!value->empty()) absl::StrAppend(&out, name, ": ", *value, "\n");
  }
  if (m.has_expires()) {
    absl::StrAppend(&out, "expires: ", FormatTime(m.expires()), "\n");
  }
  std::map<std::string, std::string> user(m.user_metadata().begin(),
                                          m.user_metadata().end());
  for (const auto& [key, value] : user) {
    absl::StrAppend(&out, "meta-", key, ": ", value, "\n");
  }
  return out;
}

// The HTTP metadata flags of put.
absl::StatusOr<v1::HttpMetadata> FlagHttpMetadata() {
  v1::HttpMetadata m;
  m.set_cache_control(absl::GetFlag(FLAGS_cache_control));
  m.set_content_disposition(absl::GetFlag(FLAGS_content_disposition));
  m.set_content_encoding(absl::GetFlag(FLAGS_content_encoding));
  m.set_content_language(absl::GetFlag(FLAGS_content_language));
  if (std::string text = absl::GetFlag(FLAGS_expires); !text.empty()) {
    ETAGD_ASSIGN_OR_RETURN(absl::Time t, ParseTimeFlag(text));
    m.mutable_expires()->set_seconds(absl::ToUnixSeconds(t));
  }
  for (const std::string& pair : absl::GetFlag(FLAGS_meta)) {
    const size_t equals = pair.find('=');
    if (equals == std::string::npos) {
      return absl::InvalidArgumentError(
          absl::StrCat("--meta wants KEY=VALUE, not '", pair, "'"));
    }
    (*m.mutable_user_metadata())[pair.substr(0, equals)] = pair.substr(equals + 1);
  }
  return m;
}

std::string Metadata(const v1::Resource& r) {
  return absl::StrCat("etag: ", r.etag(), "\nrevision: ", r.revision(),
                      "\nversion: ", r.version(),
                      "\ncreate-revision: ", r.create_revision(),
                      "\ncontent-type: ", r.content_type(),
                      "\ncontent-length: ", r.content_length(),
                      "\nupdate-time: ", FormatTime(r.update_time()), "\n",
                      HttpMetadataLines(r.http_metadata()));
}

absl::StatusOr<v1::Preconditions> FlagPreconditions() {
  v1::Preconditions p;
  ETAGD_ASSIGN_OR_RETURN(std::vector<std::string> if_match,
                         SplitEntityTags(absl::GetFlag(FLAGS_if_match)));
  for (std::string& tag : if_match) p.add_if_match(std::move(tag));
  ETAGD_ASSIGN_OR_RETURN(std::vector<std::string> if_none_match,
                         SplitEntityTags(absl::GetFlag(FLAGS_if_none_match)));
  for (std::string& tag : if_none_match) p.add_if_none_match(std::move(tag));
  if (std::string text = absl::GetFlag(FLAGS_if_modified_since); !text.empty()) {
    ETAGD_ASSIGN_OR_RETURN(absl::Time t, ParseTimeFlag(text));
    p.mutable_if_modified_since()->set_seconds(absl::ToUnixSeconds(t));
  }
  if (std::string text = absl::GetFlag(FLAGS_if_unmodified_since);
      !text.empty()) {
    ETAGD_ASSIGN_OR_RETURN(absl::Time t, ParseTimeFlag(text));
    p.mutable_if_unmodified_since()->set_seconds(absl::ToUnixSeconds(t));
  }
  return p;
}

int Get(Client& client, const std::string& name, bool metadata_only,
        const v1::Preconditions& preconditions) {
  v1::GetResourceRequest request;
  request.set_name(name);
  request.set_revision(absl::GetFlag(FLAGS_revision));
  request.set_metadata_only(metadata_only);
  *request.mutable_preconditions() = preconditions;
  absl::StatusOr<v1::GetResourceResponse> response = client.Get(request);
  if (!response.ok()) return Report(response.status());
  if (response->has_not_modified()) {
    std::cerr << "not modified\netag: " << response->not_modified().etag()
              << "\nrevision: " << response->not_modified().revision() << "\n";
    return kExitNotModified;
  }
  const v1::Resource& r = response->resource();
  if (metadata_only) {
    std::cout << Metadata(r);
  } else {
    std::cout.write(r.content().data(),
                    static_cast<std::streamsize>(r.content().size()));
    std::cout.flush();
    std::cerr << Metadata(r);
  }
  return kExitOk;
}

int Put(Client& client, const std::string& name,
        const v1::Preconditions& preconditions) {
  v1::PutResourceRequest request;
  request.set_name(name);
  if (!absl::GetFlag(FLAGS_file).empty()) {
    std::ifstream in(absl::GetFlag(FLAGS_file), std::ios::binary);
    if (!in) return Usage(absl::StrCat("cannot read ", absl::GetFlag(FLAGS_file)));
    request.set_content(std::string(std::istreambuf_iterator<char>(in), {}));
  } else if (!absl::GetFlag(FLAGS_value).empty()) {
    request.set_content(absl::GetFlag(FLAGS_value));
  } else {
    request.set_content(
        std::string(std::istreambuf_iterator<char>(std::cin), {}));
  }
  request.set_content_type(absl::GetFlag(FLAGS_content_type));
  request.set_request_id(absl::GetFlag(FLAGS_request_id));
  absl::StatusOr<v1::HttpMetadata> metadata = FlagHttpMetadata();
  if (!metadata.ok()) return Usage(metadata.status().message());
  *request.mutable_http_metadata() = *std::move(metadata);
  *request.mutable_preconditions() = preconditions;
  absl::StatusOr<v1::PutResourceResponse> response = client.Put(request);
  if (!response.ok()) return Report(response.status());
  std::cout << (response->created() ? "created\n" : "replaced\n")
            << Metadata(response->resource());
  return kExitOk;
}

int Delete(Client& client, const std::string& name,
           const v1::Preconditions& preconditions) {
  v1::DeleteResourceRequest request;
  request.set_name(name);
  request.set_request_id(absl::GetFlag(FLAGS_request_id));
  *request.mutable_preconditions() = preconditions;
  absl::StatusOr<v1::DeleteResourceResponse> response = client.Delete(request);
  if (!response.ok()) return Report(response.status());
  std::cout << "deleted\nrevision: " << response->revision()
            << "\ndeleted-etag: " << response->deleted_etag() << "\n";
  return kExitOk;
}

int List(Client& client, const std::string& prefix) {
  v1::ListResourcesRequest request;
  request.set_prefix(prefix);
  request.set_page_size(absl::GetFlag(FLAGS_page_size));
  do {
    absl::StatusOr<v1::ListResourcesResponse> page = client.List(request);
    if (!page.ok()) return Report(page.status());
    for (const v1::Resource& r : page->resources()) {
      std::cout << r.name() << "\t" << r.etag() << "\t" << r.revision() << "\t"
                << r.content_length() << "\n";
    }
    request.set_page_token(page->next_page_token());
  } while (!request.page_token().empty());
  return kExitOk;
}

int History(Client& client, const std::string& name) {
  v1::ListVersionsRequest request;
  request.set_name(name);
  request.set_page_size(absl::GetFlag(FLAGS_page_size));
  do {
    absl::StatusOr<v1::ListVersionsResponse> page = client.ListVersions(request);
    if (!page.ok()) return Report(page.status());
    for (const v1::Version& v : page->versions()) {
      const v1::Resource& r = v.resource();
      std::cout << r.revision() << "\t"
                << (v.deleted() ? std::string("deleted") : r.etag()) << "\t"
                << FormatTime(r.update_time()) << "\t" << r.content_length()
                << "\n";
    }
    request.set_page_token(page->next_page_token());
  } while (!request.page_token().empty());
  return kExitOk;
}

int Checkpoint(Client& client, const std::string& name) {
  v1::CreateCheckpointRequest request;
  request.set_name(name);
  absl::StatusOr<v1::CreateCheckpointResponse> response =
      client.CreateCheckpoint(request);
  if (!response.ok()) return Report(response.status());
  std::cout << "checkpoint: " << response->path()
            << "\nrevision: " << response->revision() << "\n";
  return kExitOk;
}

int Watch(Client& client, const std::string& prefix) {
  v1::WatchRequest request;
  request.set_prefix(prefix);
  request.set_start_revision(absl::GetFlag(FLAGS_start_revision));
  request.set_exact(absl::GetFlag(FLAGS_exact));
  request.set_initial_state(absl::GetFlag(FLAGS_initial_state));
  const int64_t max_events = absl::GetFlag(FLAGS_max_events);
  int64_t printed = 0;
  bool announced = false;
  absl::Status status = client.Watch(request, [&](const v1::WatchResponse& r) {
    if (!announced) {
      announced = true;
      std::cerr << "watching \"" << prefix << "\" ";
      if (request.initial_state()) {
        std::cerr << "with its initial state\n";
      } else {
        std::cerr << "from revision "
                  << (request.start_revision() > 0 ? request.start_revision()
                                                   : r.revision() + 1)
                  << "\n";
      }
    }
    std::cout << FormatWatchResponse(r);
    std::cout.flush();
    printed += r.events_size();
    return max_events <= 0 || printed < max_events;
  });
  if (!status.ok()) {
    if (auto window = GetWatchWindow(status); window.has_value()) {
      std::cerr << "oldest revision: " << window->oldest_revision()
                << " current revision: " << window->current_revision() << "\n";
    }
    return Report(status);
  }
  return kExitOk;
}

TransferOptions ProgressToStderr() {
  TransferOptions options;
  options.progress = [](absl::string_view line) {
    std::cerr << "etagctl: " << line << "\n";
  };
  return options;
}

int Export(Client& client, const std::string& prefix) {
  const std::string path = absl::GetFlag(FLAGS_output);
  if (path.empty()) return Usage("export needs --output=FILE (or - for stdout)");
  std::ofstream file;
  if (path != "-") {
    file.open(path, std::ios::binary | std::ios::trunc);
    if (!file) return Usage(absl::StrCat("cannot write ", path));
  }
  std::ostream& out = path == "-" ? std::cout : file;
  absl::StatusOr<TransferStats> stats =
      ExportStore(client, prefix, out, ProgressToStderr());
  if (!stats.ok()) {
    std::cerr << "etagctl: the export is incomplete (an import refuses it)\n";
    return Report(stats.status());
  }
  return kExitOk;
}

int Import(Client& client) {
  const std::string path = absl::GetFlag(FLAGS_input);
  if (path.empty()) return Usage("import needs --input=FILE (or - for stdin)");
  std::ifstream file;
  if (path != "-") {
    file.open(path, std::ios::binary);
    if (!file) return Usage(absl::StrCat("cannot read ", path));
  }
  std::istream& in = path == "-" ? std::cin : file;
  TransferOptions options = ProgressToStderr();
  options.overwrite = absl::GetFlag(FLAGS_overwrite);
  absl::StatusOr<TransferStats> stats = ImportStore(client, in, options);
  if (!stats.ok()) {
    std::cerr << "etagctl: the import stopped; what was imported stays, and "
                 "running the same import again resumes it\n";
    return Report(stats.status());
  }
  return kExitOk;
}

int Run(const std::vector<char*>& args) {
  if (args.size() < 2) return Usage("missing COMMAND");
  const std::string command = args[1];
  const std::string operand = args.size() > 2 ? args[2] : "";
  if (args.size() > 3) return Usage("too many arguments");
  const bool needs_name = command != "list" && command != "watch" &&
                          command != "export" && command != "import";
  if (command == "import" && !operand.empty()) {
    return Usage("import takes no operand (the file is --input)");
  }
  if (needs_name && operand.empty()) {
    return Usage(absl::StrCat(command, " needs a NAME"));
  }

  absl::StatusOr<v1::Preconditions> preconditions = FlagPreconditions();
  if (!preconditions.ok()) return Usage(preconditions.status().message());

  ClientOptions options;
  options.timeout = absl::GetFlag(FLAGS_timeout);
  options.tls.ca_file = absl::GetFlag(FLAGS_ca_file);
  options.tls.cert_file = absl::GetFlag(FLAGS_client_cert_file);
  options.tls.key_file = absl::GetFlag(FLAGS_client_key_file);
  options.tls.server_name = absl::GetFlag(FLAGS_tls_server_name);
  if (const std::string path = absl::GetFlag(FLAGS_bearer_token_file);
      !path.empty()) {
    std::ifstream in(path, std::ios::binary);
    if (!in) return Usage(absl::StrCat("cannot read --bearer_token_file ", path));
    std::string token(std::istreambuf_iterator<char>(in), {});
    options.bearer_token = std::string(absl::StripAsciiWhitespace(token));
    if (options.bearer_token.empty()) {
      return Usage(absl::StrCat("--bearer_token_file ", path, " is empty"));
    }
  }
  absl::StatusOr<std::unique_ptr<Client>> opened =
      Client::Open(absl::GetFlag(FLAGS_target), options);
  if (!opened.ok()) return Usage(opened.status().message());
  std::unique_ptr<Client> client = *std::move(opened);
  if (command == "get") return Get(*client, operand, false, *preconditions);
  if (command == "head") return Get(*client, operand, true, *preconditions);
  if (command == "put") return Put(*client, operand, *preconditions);
  if (command == "delete") return Delete(*client, operand, *preconditions);
  if (command == "list") return List(*client, operand);
  if (command == "history") return History(*client, operand);
  if (command == "checkpoint") return Checkpoint(*client, operand);
  if (command == "watch") return Watch(*client, operand);
  if (command == "export") return Export(*client, operand);
  if (command == "import") return Import(*client);
  return Usage(absl::StrCat("unknown command '", command, "'"));
}

}  // namespace
}  // namespace etagd

int main(int argc, char** argv) {
  absl::SetProgramUsageMessage(absl::StrCat(etagd::kUsage, "\n",
                                            etagd::kEnvironmentHelp));
  if (absl::Status env = etagd::ApplyEnvironmentToFlags(); !env.ok()) {
    std::cerr << "etagctl: " << env.message() << "\n";
    return 2;
  }
  std::vector<std::string> normalized = etagd::NormalizeFlagNames(argc, argv);
  std::vector<char*> normalized_argv;
  for (std::string& arg : normalized) normalized_argv.push_back(arg.data());
  std::vector<char*> args = absl::ParseCommandLine(
      static_cast<int>(normalized_argv.size()), normalized_argv.data());
  return etagd::Run(args);
}
