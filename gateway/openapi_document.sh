#!/bin/sh
# Writes the C++ source of OpenApiDocument() (gateway/openapi.h): the JSON
# file $1 as a raw string literal, to standard output. Used by the BUILD's
# genrule and by tests/fuzz/run.sh.
set -e
echo '// Generated from gateway/openapi.json by gateway/openapi_document.sh.'
echo '#include "gateway/openapi.h"'
echo 'namespace etagd {'
echo 'absl::string_view OpenApiDocument() {'
echo '  static constexpr char kDocument[] = R"openapi('
cat "$1"
echo ')openapi";'
echo '  return absl::string_view(kDocument, sizeof kDocument - 1);'
echo '}'
echo '}  // namespace etagd'
