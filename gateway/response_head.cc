#include "gateway/response_head.h"

#include <cstring>

namespace etagd {
namespace {

void Append(std::string* out, boost::beast::string_view s) {
  out->append(s.data(), s.size());
}

}  // namespace

void AppendResponseHead(const HttpResponse& response, std::string* out) {
  const unsigned version = response.version();
  const unsigned code = response.result_int();
  char line[13] = {'H',
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
  out->append(line, sizeof line);
  // The reason set on the message, else the status's usual one.
  Append(out, response.reason());
  out->append("\r\n", 2);
  for (const auto& field : response) {
    Append(out, field.name_string());
    out->append(": ", 2);
    Append(out, field.value());
    out->append("\r\n", 2);
  }
  out->append("\r\n", 2);
}

}  // namespace etagd
