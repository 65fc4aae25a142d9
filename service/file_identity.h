// What tells a watched file changed without reading it. A Kubernetes Secret
// update swaps a symlink (a new inode); an editor's save changes the size or
// times. Used by the watchers that reload files while etagd runs.
#ifndef ETAGD_SERVICE_FILE_IDENTITY_H_
#define ETAGD_SERVICE_FILE_IDENTITY_H_

#include <sys/types.h>

#include <cstdint>
#include <string>

namespace etagd {

struct FileIdentity {
  // False if the path cannot be stat()ed (then the rest is zero).
  bool exists = false;
  dev_t device = 0;
  ino_t inode = 0;
  off_t size = 0;
  int64_t mtime_ns = 0;
  int64_t ctime_ns = 0;

  bool operator==(const FileIdentity& o) const {
    return exists == o.exists && device == o.device && inode == o.inode &&
           size == o.size && mtime_ns == o.mtime_ns && ctime_ns == o.ctime_ns;
  }
  bool operator!=(const FileIdentity& o) const { return !(*this == o); }
};

// The identity of the file `path` names, following symlinks.
FileIdentity IdentifyFile(const std::string& path);

}  // namespace etagd

#endif  // ETAGD_SERVICE_FILE_IDENTITY_H_
