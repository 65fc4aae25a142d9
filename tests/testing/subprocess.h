// Child processes for tests that run real binaries: output captured through
// pipes, bounded waits (poll(), never sleeps), and no process left behind.
#ifndef ETAGD_TESTS_TESTING_SUBPROCESS_H_
#define ETAGD_TESTS_TESTING_SUBPROCESS_H_

#include <sys/types.h>

#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "absl/types/optional.h"

namespace etagd {

// The runfiles path of a binary listed in the test's `data`:
// $TEST_SRCDIR/etagd/`path`, where `path` is "<package>/<name>", e.g.
// "service/etagd" or "client/etagctl".
std::string DataBinaryPath(absl::string_view path);

// A running child process whose stdout and stderr go into pipes that this
// object drains whenever it waits. Destroying it kills (SIGKILL) and reaps
// the child if it is still running. Not thread-safe.
class Subprocess {
 public:
  // Starts `program` (a path, not searched in PATH) with `args` (argv[1..]).
  // Standard input is `stdin_content`, then end-of-file; without it, stdin is
  // /dev/null.
  static absl::StatusOr<std::unique_ptr<Subprocess>> Start(
      const std::string& program, const std::vector<std::string>& args,
      absl::optional<std::string> stdin_content = absl::nullopt);

  Subprocess(const Subprocess&) = delete;
  Subprocess& operator=(const Subprocess&) = delete;
  ~Subprocess();

  // Reads stderr until a complete line not returned before contains
  // `substring`, and returns that line (without its newline). Lines already
  // returned are not matched again. NOT_FOUND if stderr ends first,
  // DEADLINE_EXCEEDED after `timeout`; both errors quote the stderr so far.
  absl::StatusOr<std::string> WaitForStderrLine(absl::string_view substring,
                                                absl::Duration timeout);

  // Sends `signal` to the child. FAILED_PRECONDITION once it has been reaped.
  absl::Status Signal(int signal);

  // Waits until the child exits and its output is read to the end, and
  // returns its exit status. If it is still running after `timeout` it is
  // killed and the result is DEADLINE_EXCEEDED; a child ended by a signal is
  // ABORTED naming the signal. Later calls return the same result.
  absl::StatusOr<int> Wait(absl::Duration timeout);

  // Output captured so far.
  const std::string& stdout_text() const { return stdout_; }
  const std::string& stderr_text() const { return stderr_; }

  pid_t pid() const { return pid_; }

 private:
  Subprocess() = default;

  // Moves whatever is ready from the pipes into the buffers (and pending
  // stdin into the child), waiting at most until `deadline` for the first
  // event; also watches for the child's exit. Returns false if nothing can
  // happen any more (all pipes closed and the child gone or unwatchable).
  bool Pump(absl::Time deadline);
  void WriteStdin();
  void ReadInto(int& fd, std::string& buffer);
  // Reaps the child if it has exited; true if it has been reaped.
  bool TryReap();
  void KillAndReap();
  static void CloseFd(int& fd);

  pid_t pid_ = -1;
  bool reaped_ = false;
  int wait_status_ = 0;
  // Readable when the child exits (pidfd_open); -1 where unsupported.
  int exit_fd_ = -1;
  int stdin_fd_ = -1;
  int stdout_fd_ = -1;
  int stderr_fd_ = -1;
  std::string stdin_pending_;
  std::string stdout_;
  std::string stderr_;
  // Where WaitForStderrLine resumes matching.
  size_t stderr_matched_ = 0;
  absl::optional<absl::StatusOr<int>> result_;
};

// Exit status and output of a finished command.
struct CommandResult {
  int exit_code = -1;
  std::string stdout_text;
  std::string stderr_text;
};

// Runs `program` to completion (see Subprocess::Start and Wait).
absl::StatusOr<CommandResult> RunCommand(
    const std::string& program, const std::vector<std::string>& args,
    absl::optional<std::string> stdin_content = absl::nullopt,
    absl::Duration timeout = absl::Seconds(60));

// An etagd started by StartEtagd; killed when destroyed unless stopped.
struct EtagdProcess {
  std::unique_ptr<Subprocess> process;
  // The gRPC port from the startup line.
  int port = 0;
  // The HTTP port from the startup line; 0 if HTTP is off.
  int http_port = 0;
  // The startup line ("... level=info program=etagd msg=\"serving gRPC on ...").
  std::string startup_line;

  // "127.0.0.1:PORT", for clients.
  std::string target() const;
};

// Starts the etagd from the test's runfiles with --grpc_listen=127.0.0.1:0,
// --http_listen=127.0.0.1:0 (never the default port 8080), --data_dir=
// `data_dir` and `extra_args` (which may override them), waits up to
// `timeout` for its startup line, and parses the ports from it.
absl::StatusOr<EtagdProcess> StartEtagd(
    const std::string& data_dir,
    const std::vector<std::string>& extra_args = {},
    absl::Duration timeout = absl::Seconds(60));

}  // namespace etagd

#endif  // ETAGD_TESTS_TESTING_SUBPROCESS_H_
