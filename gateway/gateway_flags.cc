#include "gateway/gateway_flags.h"

#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/usage_config.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"

ABSL_FLAG(std::string, http_listen, "127.0.0.1:8080",
          "HOST:PORT to serve HTTP on (an IP address or localhost; port 0 picks "
          "a free port; the startup line says which). In etagd, empty turns "
          "HTTP off.");
ABSL_FLAG(int, http_threads, 2, "Threads serving HTTP connections.");
ABSL_FLAG(std::string, cache_control, "no-cache",
          "Cache-Control sent with resources (200, 206, 304) that store none "
          "of their own (a PUT's Cache-Control). The default makes caches "
          "revalidate every time with a conditional request. Empty sends "
          "none.");
ABSL_FLAG(std::string, content_codings, "br,gzip",
          "Content codings GET responses may be compressed in, most "
          "preferred first (br, gzip), as Accept-Encoding allows; empty "
          "turns compression off. Only compressible media types (text/*, "
          "JSON, XML, JavaScript, SVG...) of at least --compress_min_bytes "
          "without a stored Content-Encoding are compressed; each coded form "
          "has an ETag of its own, derived from the version's.");
ABSL_FLAG(int64_t, compress_min_bytes, 1024,
          "Smallest content compressed (smaller gains too little).");
ABSL_FLAG(int64_t, coded_cache_mb, 64,
          "Memory for compressed forms, in MiB: each is computed once per "
          "version and coding and kept, least recently used out first. 0 "
          "keeps none (every compressed response is computed again).");
ABSL_FLAG(int64_t, http_head_cache_mb, 8,
          "Memory for resource versions' formatted response fields, in MiB: "
          "each version's ETag, Cache-Control, Content-Type... lines are "
          "formatted once and kept, least recently used out first. 0 keeps "
          "none (every response formats them again).");
ABSL_FLAG(bool, require_preconditions, false,
          "Refuse with 428 a PUT or DELETE of an existing resource that has "
          "neither If-Match nor If-Unmodified-Since (RFC 6585 section 3), so "
          "no client can overwrite without having seen the current version.");
ABSL_FLAG(std::string, cors_allowed_origins, "",
          "Comma-separated origins (e.g. https://app.example.com) whose "
          "scripts may call the HTTP API; \"*\" allows any. Empty turns CORS "
          "off.");
ABSL_FLAG(absl::Duration, http_request_timeout, absl::Seconds(30),
          "Time a connection has to deliver each complete request, keep-alive "
          "idling included; a request not complete by then gets 408. Also the "
          "time a response write may make no progress (a reader that stopped "
          "reading) before its connection is closed; an event stream may last "
          "any time, each of its writes no longer than this.");
ABSL_FLAG(absl::Duration, http_max_wait, absl::Seconds(60),
          "Longest a long-poll is held: a GET with If-None-Match and "
          "'Prefer: wait=N' (RFC 7240) that would answer 304 waits until the "
          "resource changes or min(N, this) passes. Keep it under the "
          "read timeout of proxies in front (nginx: 60s). 0 turns long-polls "
          "off.");
ABSL_FLAG(absl::Duration, sse_heartbeat_interval, absl::Seconds(15),
          "An event stream (GET /v1/watch) sends a comment line when nothing "
          "else went out for this long, so that proxies and browsers keep "
          "an idle stream open.");
ABSL_FLAG(int, http_max_connections, 1024,
          "Open HTTP connections beyond this are closed on arrival.");
ABSL_FLAG(int64_t, response_memory_mb, 256,
          "Memory for the content of responses that readers have not taken "
          "yet (slow or stalled clients), in MiB: a read whose content "
          "(over 64 KiB) would not fit answers HTTP 503 with Retry-After, or "
          "gRPC RESOURCE_EXHAUSTED, instead of growing the process. HTTP and "
          "gRPC share it. 0: no limit.");
ABSL_FLAG(int, http_max_header_bytes, 16384,
          "Largest request line plus header fields; more gets 431.");
ABSL_FLAG(std::string, tls_cert_file, "",
          "PEM certificate chain (server certificate first) to serve TLS "
          "with: HTTPS on --http_listen, and etagd's gRPC too. TLS 1.2 is the "
          "minimum. Needs --tls_key_file. Re-read, with the key and client "
          "CAs, when one of the files changes (see --tls_poll_interval) and on "
          "SIGHUP: new connections get the new certificate, open ones keep "
          "theirs, and files that do not parse or a key that is not the "
          "certificate's keep the previous one (an error is logged). Empty: "
          "plaintext.");
ABSL_FLAG(std::string, tls_key_file, "",
          "PEM private key (unencrypted) of --tls_cert_file.");
ABSL_FLAG(absl::Duration, tls_poll_interval, absl::Seconds(2),
          "How often the TLS certificate, key and CA files are checked for "
          "changes; a change reloads them. 0 reloads only on SIGHUP.");
ABSL_FLAG(std::string, http_tls_client_ca_file, "",
          "PEM CA certificates for mutual TLS on HTTPS: clients must present "
          "a certificate signed by one of them, or the handshake fails. Needs "
          "--tls_cert_file. Separate from etagd's --tls_client_ca_file (gRPC): "
          "probes, scrapers and browsers often have no client certificate. "
          "Empty: no client certificates asked for.");

namespace etagd {

absl::StatusOr<GatewayOptions> GatewayOptionsFromFlags() {
  GatewayOptions options;
  options.cache_control = absl::GetFlag(FLAGS_cache_control);
  for (char c : options.cache_control) {
    if (c < 0x20 || c > 0x7E) {
      return absl::InvalidArgumentError(
          "--cache_control must be visible ASCII text");
    }
  }
  options.require_preconditions = absl::GetFlag(FLAGS_require_preconditions);
  for (absl::string_view origin :
       absl::StrSplit(absl::GetFlag(FLAGS_cors_allowed_origins), ',',
                      absl::SkipWhitespace())) {
    origin = absl::StripAsciiWhitespace(origin);
    if (origin != "*" && !absl::StartsWith(origin, "http://") &&
        !absl::StartsWith(origin, "https://")) {
      return absl::InvalidArgumentError(absl::StrCat(
          "--cors_allowed_origins: '", origin,
          "' is not \"*\" or an origin such as https://app.example.com"));
    }
    options.cors_allowed_origins.emplace_back(absl::StripSuffix(origin, "/"));
  }
  options.content_codings.clear();
  for (absl::string_view coding :
       absl::StrSplit(absl::GetFlag(FLAGS_content_codings), ',',
                      absl::SkipWhitespace())) {
    coding = absl::StripAsciiWhitespace(coding);
    if (coding != "gzip" && coding != "br") {
      return absl::InvalidArgumentError(absl::StrCat(
          "--content_codings: '", coding, "' is not br or gzip"));
    }
    options.content_codings.emplace_back(coding);
  }
  options.compress_min_bytes = absl::GetFlag(FLAGS_compress_min_bytes);
  if (options.compress_min_bytes < 0) {
    return absl::InvalidArgumentError("--compress_min_bytes must not be negative");
  }
  const int64_t cache_mb = absl::GetFlag(FLAGS_coded_cache_mb);
  if (cache_mb < 0 || cache_mb > (int64_t{1} << 20)) {
    return absl::InvalidArgumentError(
        "--coded_cache_mb must be between 0 and 1048576");
  }
  options.coded_cache_bytes = cache_mb << 20;
  const int64_t head_cache_mb = absl::GetFlag(FLAGS_http_head_cache_mb);
  if (head_cache_mb < 0 || head_cache_mb > (int64_t{1} << 20)) {
    return absl::InvalidArgumentError(
        "--http_head_cache_mb must be between 0 and 1048576");
  }
  options.head_cache_bytes = head_cache_mb << 20;
  options.max_wait = absl::GetFlag(FLAGS_http_max_wait);
  if (options.max_wait < absl::ZeroDuration()) {
    return absl::InvalidArgumentError("--http_max_wait must not be negative");
  }
  options.sse_heartbeat = absl::GetFlag(FLAGS_sse_heartbeat_interval);
  if (options.sse_heartbeat < absl::Milliseconds(10)) {
    return absl::InvalidArgumentError(
        "--sse_heartbeat_interval must be at least 10ms");
  }
  return options;
}

absl::StatusOr<HttpServerOptions> HttpServerOptionsFromFlags(
    int64_t max_content_bytes) {
  HttpServerOptions options;
  options.listen = absl::GetFlag(FLAGS_http_listen);
  options.io_threads = absl::GetFlag(FLAGS_http_threads);
  if (options.io_threads < 1 || options.io_threads > 256) {
    return absl::InvalidArgumentError("--http_threads must be between 1 and 256");
  }
  options.request_timeout = absl::GetFlag(FLAGS_http_request_timeout);
  if (options.request_timeout <= absl::ZeroDuration()) {
    return absl::InvalidArgumentError("--http_request_timeout must be positive");
  }
  options.max_connections = absl::GetFlag(FLAGS_http_max_connections);
  if (options.max_connections < 1) {
    return absl::InvalidArgumentError("--http_max_connections must be positive");
  }
  const int header_bytes = absl::GetFlag(FLAGS_http_max_header_bytes);
  if (header_bytes < 1024 || header_bytes > (1 << 20)) {
    return absl::InvalidArgumentError(
        "--http_max_header_bytes must be between 1024 and 1048576");
  }
  options.max_header_bytes = static_cast<uint32_t>(header_bytes);
  options.max_body_bytes = static_cast<uint64_t>(max_content_bytes);
  const int64_t response_mb = absl::GetFlag(FLAGS_response_memory_mb);
  if (response_mb < 0 || response_mb > (int64_t{1} << 20)) {
    return absl::InvalidArgumentError(
        "--response_memory_mb must be between 0 and 1048576");
  }
  if (response_mb > 0) {
    options.response_budget = std::make_shared<MemoryBudget>(response_mb << 20);
  }
  return options;
}

absl::StatusOr<ServerTlsFiles> ServerTlsFilesFromFlags() {
  ServerTlsFiles files;
  files.cert_file = absl::GetFlag(FLAGS_tls_cert_file);
  files.key_file = absl::GetFlag(FLAGS_tls_key_file);
  files.http_client_ca_file = absl::GetFlag(FLAGS_http_tls_client_ca_file);
  if (files.cert_file.empty() != files.key_file.empty()) {
    return absl::InvalidArgumentError(
        "--tls_cert_file and --tls_key_file go together");
  }
  return files;
}

absl::StatusOr<absl::Duration> TlsPollIntervalFromFlags() {
  const absl::Duration interval = absl::GetFlag(FLAGS_tls_poll_interval);
  if (interval < absl::ZeroDuration()) {
    return absl::InvalidArgumentError("--tls_poll_interval must not be negative");
  }
  return interval;
}

void ShowAllEtagdFlagsInHelp() {
  absl::FlagsUsageConfig config;
  config.contains_help_flags = [](absl::string_view file) {
    return absl::StartsWith(file, "service/") ||
           absl::StartsWith(file, "gateway/") ||
           absl::StartsWith(file, "client/");
  };
  absl::SetFlagsUsageConfig(config);
}

}  // namespace etagd
