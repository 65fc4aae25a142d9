#include "gateway/content_coding.h"

#include <algorithm>
#include <cstdint>
#include <optional>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "absl/types/span.h"
#include "brotli/encode.h"
#include "zlib.h"

namespace etagd {
namespace {

// qvalue = ( "0" [ "." 0*3DIGIT ] ) / ( "1" [ "." 0*3("0") ] ) (§12.4.2),
// in thousandths; nullopt if malformed.
std::optional<int> ParseQvalue(absl::string_view text) {
  if (text.empty() || (text[0] != '0' && text[0] != '1')) return std::nullopt;
  int value = (text[0] - '0') * 1000;
  text.remove_prefix(1);
  if (text.empty()) return value;
  if (text[0] != '.' || text.size() > 4) return std::nullopt;
  int scale = 100;
  for (char c : text.substr(1)) {
    if (!absl::ascii_isdigit(static_cast<unsigned char>(c))) return std::nullopt;
    value += (c - '0') * scale;
    scale /= 10;
  }
  return value <= 1000 ? std::optional<int>(value) : std::nullopt;
}

struct Preference {
  std::string coding;  // Lowercase; "*" or "identity" included.
  int q = 1000;
};

// codings [ weight ], weight = OWS ";" OWS "q=" qvalue; nullopt if the
// member does not parse.
std::optional<Preference> ParseMember(absl::string_view member) {
  std::vector<absl::string_view> parts = absl::StrSplit(member, ';');
  Preference preference;
  preference.coding = absl::AsciiStrToLower(absl::StripAsciiWhitespace(parts[0]));
  if (preference.coding.empty()) return std::nullopt;
  for (size_t i = 1; i < parts.size(); ++i) {
    absl::string_view parameter = absl::StripAsciiWhitespace(parts[i]);
    if (!absl::ConsumePrefix(&parameter, "q=") &&
        !absl::ConsumePrefix(&parameter, "Q=")) {
      return std::nullopt;
    }
    std::optional<int> q = ParseQvalue(parameter);
    if (!q.has_value()) return std::nullopt;
    preference.q = *q;
  }
  if (preference.coding == "x-gzip") preference.coding = "gzip";
  return preference;
}

absl::StatusOr<std::string> Gzip(absl::string_view content) {
  z_stream stream{};
  // 15 window bits, +16 for the gzip wrapper (RFC 1952), whose header
  // zlib writes with no name and a zero time: the same bytes every time.
  if (deflateInit2(&stream, 6, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) !=
      Z_OK) {
    return absl::InternalError("zlib: deflateInit2 failed");
  }
  std::string out;
  out.resize(deflateBound(&stream, static_cast<uLong>(content.size())));
  stream.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(content.data()));
  stream.avail_in = static_cast<uInt>(content.size());
  stream.next_out = reinterpret_cast<Bytef*>(out.data());
  stream.avail_out = static_cast<uInt>(out.size());
  const int result = deflate(&stream, Z_FINISH);
  const uLong written = stream.total_out;
  deflateEnd(&stream);
  if (result != Z_STREAM_END) {
    return absl::InternalError(absl::StrCat("zlib: deflate returned ", result));
  }
  out.resize(written);
  return out;
}

absl::StatusOr<std::string> Brotli(absl::string_view content) {
  std::string out;
  size_t size = BrotliEncoderMaxCompressedSize(content.size());
  if (size == 0) size = content.size() + 1024;
  out.resize(size);
  // Quality 5 of 11: most of brotli's gain at a fraction of quality 11's
  // cost (computed once per version, but still on a request's path).
  if (!BrotliEncoderCompress(5, BROTLI_DEFAULT_WINDOW, BROTLI_MODE_GENERIC,
                             content.size(),
                             reinterpret_cast<const uint8_t*>(content.data()),
                             &size, reinterpret_cast<uint8_t*>(out.data()))) {
    return absl::InternalError("brotli: BrotliEncoderCompress failed");
  }
  out.resize(size);
  return out;
}

}  // namespace

std::string NegotiateContentCoding(absl::Span<const absl::string_view> lines,
                                   const std::vector<std::string>& available) {
  if (lines.empty()) return "";
  std::vector<Preference> preferences;
  for (absl::string_view line : lines) {
    for (absl::string_view member : absl::StrSplit(line, ',')) {
      if (absl::StripAsciiWhitespace(member).empty()) continue;
      if (std::optional<Preference> p = ParseMember(member)) {
        preferences.push_back(*std::move(p));
      }
    }
  }
  auto q_of = [&](absl::string_view coding) -> std::optional<int> {
    for (const Preference& p : preferences) {
      if (p.coding == coding) return p.q;
    }
    return std::nullopt;
  };
  const std::optional<int> star = q_of("*");
  // §12.5.3: identity is acceptable unless excluded by "identity;q=0" or
  // by "*;q=0" without an identity member of its own.
  const int identity_q = q_of("identity").value_or(star.value_or(1000) > 0 ? 1 : 0);
  std::string best;
  int best_q = 0;
  for (const std::string& coding : available) {
    const int q = q_of(coding).value_or(star.value_or(0));
    if (q > best_q) {
      best = coding;
      best_q = q;
    }
  }
  if (best.empty() || best_q < identity_q) return "";
  return best;
}

bool IsCompressibleMediaType(absl::string_view content_type) {
  // Compared ignoring case (RFC 9110 §8.3.1) rather than lowercased: no
  // copy of the type, once per GET.
  const absl::string_view type = absl::StripAsciiWhitespace(
      content_type.substr(0, content_type.find(';')));
  if (absl::StartsWithIgnoreCase(type, "text/")) return true;
  if (absl::EndsWithIgnoreCase(type, "+json") ||
      absl::EndsWithIgnoreCase(type, "+xml")) {
    return true;
  }
  static constexpr absl::string_view kTypes[] = {
      "application/json",       "application/javascript",
      "application/ecmascript", "application/xml",
      "application/x-ndjson",   "application/yaml",
      "application/wasm",       "application/graphql",
      "image/svg+xml",          "image/x-icon",
      "image/bmp",              "font/ttf",
      "font/otf",               "application/x-javascript",
  };
  return std::any_of(std::begin(kTypes), std::end(kTypes), [&](absl::string_view known) {
    return absl::EqualsIgnoreCase(type, known);
  });
}

absl::StatusOr<std::string> EncodeContent(absl::string_view coding,
                                          absl::string_view content) {
  if (coding == "gzip") return Gzip(content);
  if (coding == "br") return Brotli(content);
  return absl::InvalidArgumentError(
      absl::StrCat("no encoder for content coding '", coding, "'"));
}

}  // namespace etagd
