// The Backend of the gateway that etagd hosts in its own process: calls go
// straight to the server's core instead of through gRPC, so a read is
// answered on the HTTP thread that received it, with no serialization and
// no thread hop; a read that waits without a thread (the etcd engine's
// consistent cache, ResourceService::GetsWithoutBlocking) is answered where
// it completes instead, so the HTTP thread does not wait out its round
// trip. Everything else is as for a gRPC call: the same core
// (hence the same precondition evaluation), the same authorization, writes
// through the same write pipeline under the same write budget, readiness from
// the same serving state.
#ifndef ETAGD_GATEWAY_LOCAL_BACKEND_H_
#define ETAGD_GATEWAY_LOCAL_BACKEND_H_

#include <functional>
#include <memory>

#include "gateway/backend.h"
#include "service/feed/watch_stream.h"
#include "service/server.h"

namespace etagd {

// Opens a watch on the server's change feed, after authorization (which the
// backend does); errors come through the stream's Next. Thread-safe.
using WatchOpener =
    std::function<std::unique_ptr<WatchStream>(const etagd::v1::WatchRequest&)>;

// `server` must outlive the backend, and the backend's calls must end before
// server.Shutdown() (which runs the writes already queued). Watches go to
// the server's change feed, or to `watches` if set (tests).
std::unique_ptr<Backend> NewLocalBackend(Server& server, WatchOpener watches = nullptr);

}  // namespace etagd

#endif  // ETAGD_GATEWAY_LOCAL_BACKEND_H_
