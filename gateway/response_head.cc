#include "gateway/response_head.h"

#include <cstring>
#include <utility>

#include "absl/strings/str_split.h"

namespace etagd {
namespace {

char* Put(char* p, boost::beast::string_view s) {
  std::memcpy(p, s.data(), s.size());
  return p + s.size();
}

char* Put(char* p, const char (&s)[3]) {
  std::memcpy(p, s, 2);
  return p + 2;
}

}  // namespace

void AppendResponseHead(const HttpResponse& response, std::string* out,
                        absl::Span<const HeadLines> more_fields) {
  const unsigned version = response.version();
  const unsigned code = response.result_int();
  // The reason set on the message, else the status's usual one.
  const boost::beast::string_view reason = response.reason();
  // Sized first and written in place: one allocation at most, no append
  // per piece.
  size_t size = 13 + reason.size() + 2 + 2;
  for (const HeadLines& lines : more_fields) size += lines.text.size();
  for (const auto& field : response) {
    size += field.name_string().size() + 2 + field.value().size() + 2;
  }
  const size_t old_size = out->size();
  out->resize(old_size + size);
  char* p = out->data() + old_size;
  const char line[13] = {'H',
                         'T',
                         'T',
                         'P',
                         '/',
                         static_cast<char>('0' + version / 10),
                         '.',
                         static_cast<char>('0' + version % 10),
                         ' ',
                         static_cast<char>('0' + code / 100 % 10),
                         static_cast<char>('0' + code / 10 % 10),
                         static_cast<char>('0' + code % 10),
                         ' '};
  std::memcpy(p, line, sizeof line);
  p += sizeof line;
  p = Put(p, reason);
  p = Put(p, "\r\n");
  for (const auto& field : response) {
    p = Put(p, field.name_string());
    p = Put(p, ": ");
    p = Put(p, field.value());
    p = Put(p, "\r\n");
  }
  for (const HeadLines& lines : more_fields) {
    if (lines.text.empty()) continue;
    p = Put(p, boost::beast::string_view(lines.text.data(), lines.text.size()));
  }
  Put(p, "\r\n");
}

HttpResponse WholeResponse(HttpAnswer answer) {
  HttpResponse response = std::move(answer.response);
  for (const HeadLines& lines : answer.more_fields) {
    for (absl::string_view line : absl::StrSplit(lines.text, "\r\n")) {
      if (line.empty()) continue;
      const size_t colon = line.find(": ");
      response.insert(boost::beast::string_view(line.data(), colon),
                      boost::beast::string_view(line.data() + colon + 2,
                                                line.size() - colon - 2));
    }
  }
  return response;
}

}  // namespace etagd
