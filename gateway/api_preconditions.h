// Preconditions parsed from HTTP fields (precondition.h) in the API's form,
// for the calls that carry them as messages: PUT and DELETE, and every call
// over gRPC (etagd-gateway's).
#ifndef ETAGD_GATEWAY_API_PRECONDITIONS_H_
#define ETAGD_GATEWAY_API_PRECONDITIONS_H_

#include "etagd/v1/etagd.pb.h"
#include "service/precondition.h"

namespace etagd {

// Each entity-tag in field-value form, "*" for a list that is "*", dates in
// whole seconds. An entity-tag whose obs-text is not UTF-8 becomes "\"\"":
// the API's strings are UTF-8, and neither can match one of etagd's tags
// (which are ASCII), so both evaluate alike.
etagd::v1::Preconditions ToApiPreconditions(const Preconditions& conditions);

}  // namespace etagd

#endif  // ETAGD_GATEWAY_API_PRECONDITIONS_H_
