// The OpenAPI 3 document of the HTTP API (gateway/openapi.json, compiled
// in), which the gateway serves at /openapi.json. tests/gateway/openapi_test
// keeps it true: its paths and methods are GatewayRoutes(), and each
// documented operation answers as documented.
#ifndef ETAGD_GATEWAY_OPENAPI_H_
#define ETAGD_GATEWAY_OPENAPI_H_

#include "absl/strings/string_view.h"

namespace etagd {

// The JSON text of gateway/openapi.json.
absl::string_view OpenApiDocument();

}  // namespace etagd

#endif  // ETAGD_GATEWAY_OPENAPI_H_
