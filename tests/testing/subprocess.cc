#include "tests/testing/subprocess.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <climits>
#include <cstdlib>
#include <cstring>
#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/time/clock.h"

extern char** environ;

namespace etagd {
namespace {

// Where the child's exit cannot be watched (no pidfd_open), Pump wakes up
// this often to look.
constexpr absl::Duration kReapCheckInterval = absl::Milliseconds(10);

constexpr char kStartupMarker[] = "serving gRPC on ";

std::string ErrnoText(int error) { return std::strerror(error); }

int PollTimeoutMs(absl::Time deadline) {
  const absl::Duration left = deadline - absl::Now();
  if (left <= absl::ZeroDuration()) return 0;
  return static_cast<int>(std::min<int64_t>(
      absl::ToInt64Milliseconds(absl::Ceil(left, absl::Milliseconds(1))),
      INT_MAX));
}

std::string Quote(absl::string_view stderr_text) {
  return absl::StrCat("stderr so far:\n", stderr_text);
}

}  // namespace

std::string DataBinaryPath(absl::string_view path) {
  const char* srcdir = std::getenv("TEST_SRCDIR");
  return absl::StrCat(srcdir != nullptr ? srcdir : ".", "/etagd/", path);
}

absl::StatusOr<std::unique_ptr<Subprocess>> Subprocess::Start(
    const std::string& program, const std::vector<std::string>& args,
    absl::optional<std::string> stdin_content) {
  int out[2] = {-1, -1};
  int err[2] = {-1, -1};
  int in[2] = {-1, -1};
  // O_CLOEXEC keeps these out of every other child, including ones other
  // threads start concurrently; dup2 onto 0-2 clears it for this child.
  if (pipe2(out, O_CLOEXEC) != 0 || pipe2(err, O_CLOEXEC) != 0 ||
      (stdin_content.has_value() && pipe2(in, O_CLOEXEC) != 0)) {
    const int error = errno;
    for (int fd : {out[0], out[1], err[0], err[1], in[0], in[1]}) {
      if (fd >= 0) close(fd);
    }
    return absl::InternalError(absl::StrCat("pipe2: ", ErrnoText(error)));
  }

  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  if (stdin_content.has_value()) {
    posix_spawn_file_actions_adddup2(&actions, in[0], STDIN_FILENO);
  } else {
    posix_spawn_file_actions_addopen(&actions, STDIN_FILENO, "/dev/null",
                                     O_RDONLY, 0);
  }
  posix_spawn_file_actions_adddup2(&actions, out[1], STDOUT_FILENO);
  posix_spawn_file_actions_adddup2(&actions, err[1], STDERR_FILENO);

  // The child starts with no signals blocked and the usual dispositions,
  // whatever this (test) process has set up.
  posix_spawnattr_t attributes;
  posix_spawnattr_init(&attributes);
  sigset_t no_signals;
  sigemptyset(&no_signals);
  posix_spawnattr_setsigmask(&attributes, &no_signals);
  sigset_t defaults;
  sigemptyset(&defaults);
  for (int signal : {SIGPIPE, SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGCHLD}) {
    sigaddset(&defaults, signal);
  }
  posix_spawnattr_setsigdefault(&attributes, &defaults);
  posix_spawnattr_setflags(&attributes,
                           POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);

  std::vector<std::string> argv_strings;
  argv_strings.push_back(program);
  argv_strings.insert(argv_strings.end(), args.begin(), args.end());
  std::vector<char*> argv;
  for (std::string& arg : argv_strings) argv.push_back(arg.data());
  argv.push_back(nullptr);

  pid_t pid = -1;
  const int spawn_error = posix_spawn(&pid, program.c_str(), &actions,
                                      &attributes, argv.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  posix_spawnattr_destroy(&attributes);
  for (int fd : {out[1], err[1], in[0]}) {
    if (fd >= 0) close(fd);
  }
  if (spawn_error != 0) {
    for (int fd : {out[0], err[0], in[1]}) {
      if (fd >= 0) close(fd);
    }
    return absl::FailedPreconditionError(
        absl::StrCat("cannot start ", program, ": ", ErrnoText(spawn_error)));
  }

  std::unique_ptr<Subprocess> process(new Subprocess());
  process->pid_ = pid;
  process->stdout_fd_ = out[0];
  process->stderr_fd_ = err[0];
  process->stdin_fd_ = in[1];
  for (int fd : {out[0], err[0], in[1]}) {
    if (fd >= 0) fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
  }
  if (stdin_content.has_value()) {
    process->stdin_pending_ = *std::move(stdin_content);
    if (process->stdin_pending_.empty()) CloseFd(process->stdin_fd_);
  }
  // -1 (and the interval fallback in Pump) on kernels before 5.3.
  process->exit_fd_ = static_cast<int>(syscall(SYS_pidfd_open, pid, 0));
  return process;
}

Subprocess::~Subprocess() { KillAndReap(); }

void Subprocess::CloseFd(int& fd) {
  if (fd >= 0) close(fd);
  fd = -1;
}

void Subprocess::ReadInto(int& fd, std::string& buffer) {
  char chunk[4096];
  while (fd >= 0) {
    const ssize_t n = read(fd, chunk, sizeof chunk);
    if (n > 0) {
      buffer.append(chunk, static_cast<size_t>(n));
    } else if (n < 0 && errno == EINTR) {
      continue;
    } else if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
      return;
    } else {
      CloseFd(fd);  // End of file, or an error that will not go away.
    }
  }
}

void Subprocess::WriteStdin() {
  // A child that exits without reading its input must not kill this process
  // with SIGPIPE: block it on this thread, and discard the one raised here.
  sigset_t pipe_signal;
  sigemptyset(&pipe_signal);
  sigaddset(&pipe_signal, SIGPIPE);
  sigset_t old_mask;
  pthread_sigmask(SIG_BLOCK, &pipe_signal, &old_mask);
  while (stdin_fd_ >= 0 && !stdin_pending_.empty()) {
    const ssize_t n =
        write(stdin_fd_, stdin_pending_.data(), stdin_pending_.size());
    if (n > 0) {
      stdin_pending_.erase(0, static_cast<size_t>(n));
    } else if (n < 0 && errno == EINTR) {
      continue;
    } else if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
      break;
    } else {
      if (n < 0 && errno == EPIPE && !sigismember(&old_mask, SIGPIPE)) {
        const struct timespec no_wait = {0, 0};
        sigtimedwait(&pipe_signal, nullptr, &no_wait);
      }
      stdin_pending_.clear();
    }
  }
  if (stdin_pending_.empty()) CloseFd(stdin_fd_);
  pthread_sigmask(SIG_SETMASK, &old_mask, nullptr);
}

bool Subprocess::TryReap() {
  if (reaped_) return true;
  int status = 0;
  pid_t got = waitpid(pid_, &status, WNOHANG);
  while (got < 0 && errno == EINTR) got = waitpid(pid_, &status, WNOHANG);
  if (got == 0) return false;
  reaped_ = true;
  // got < 0 (ECHILD) means someone else reaped it; report it as killed.
  wait_status_ = got == pid_ ? status : SIGKILL;
  CloseFd(exit_fd_);
  return true;
}

void Subprocess::KillAndReap() {
  if (pid_ > 0 && !reaped_) {
    kill(pid_, SIGKILL);
    int status = 0;
    pid_t got = waitpid(pid_, &status, 0);
    while (got < 0 && errno == EINTR) got = waitpid(pid_, &status, 0);
    reaped_ = true;
    wait_status_ = got == pid_ ? status : SIGKILL;
  }
  CloseFd(exit_fd_);
  CloseFd(stdin_fd_);
  CloseFd(stdout_fd_);
  CloseFd(stderr_fd_);
}

bool Subprocess::Pump(absl::Time deadline) {
  struct pollfd fds[4];
  int count = 0;
  int out_index = -1, err_index = -1, in_index = -1, exit_index = -1;
  if (stdout_fd_ >= 0) {
    out_index = count;
    fds[count++] = {stdout_fd_, POLLIN, 0};
  }
  if (stderr_fd_ >= 0) {
    err_index = count;
    fds[count++] = {stderr_fd_, POLLIN, 0};
  }
  if (stdin_fd_ >= 0) {
    in_index = count;
    fds[count++] = {stdin_fd_, POLLOUT, 0};
  }
  if (!reaped_ && exit_fd_ >= 0) {
    exit_index = count;
    fds[count++] = {exit_fd_, POLLIN, 0};
  }
  const bool watch_by_interval = !reaped_ && exit_fd_ < 0;
  if (count == 0 && !watch_by_interval) return false;

  int timeout_ms = PollTimeoutMs(deadline);
  if (watch_by_interval) {
    timeout_ms = std::min(
        timeout_ms,
        static_cast<int>(absl::ToInt64Milliseconds(kReapCheckInterval)));
  }
  const int ready = poll(fds, static_cast<nfds_t>(count), timeout_ms);
  if (ready < 0) return true;  // EINTR: the caller checks its deadline.
  if (out_index >= 0 && fds[out_index].revents != 0)
    ReadInto(stdout_fd_, stdout_);
  if (err_index >= 0 && fds[err_index].revents != 0)
    ReadInto(stderr_fd_, stderr_);
  if (in_index >= 0 && fds[in_index].revents != 0) WriteStdin();
  if ((exit_index >= 0 && fds[exit_index].revents != 0) || watch_by_interval) {
    TryReap();
  }
  return true;
}

absl::StatusOr<std::string> Subprocess::WaitForStderrLine(
    absl::string_view substring, absl::Duration timeout) {
  const absl::Time deadline = absl::Now() + timeout;
  size_t scan = stderr_matched_;
  while (true) {
    for (size_t newline = stderr_.find('\n', scan);
         newline != std::string::npos; newline = stderr_.find('\n', scan)) {
      std::string line = stderr_.substr(scan, newline - scan);
      scan = newline + 1;
      if (absl::StrContains(line, substring)) {
        stderr_matched_ = scan;
        return line;
      }
    }
    if (stderr_fd_ < 0) {
      // The last line may lack its newline.
      std::string rest = stderr_.substr(scan);
      if (!rest.empty() && absl::StrContains(rest, substring)) {
        stderr_matched_ = stderr_.size();
        return rest;
      }
      return absl::NotFoundError(
          absl::StrCat("stderr ended without a line containing \"", substring,
                       "\"; ", Quote(stderr_)));
    }
    if (absl::Now() >= deadline) {
      return absl::DeadlineExceededError(
          absl::StrCat("no stderr line containing \"", substring, "\" within ",
                       absl::FormatDuration(timeout), "; ", Quote(stderr_)));
    }
    Pump(deadline);
  }
}

absl::Status Subprocess::Signal(int signal) {
  if (reaped_) {
    return absl::FailedPreconditionError(
        absl::StrCat("process ", pid_, " has already exited"));
  }
  if (kill(pid_, signal) != 0) {
    return absl::InternalError(
        absl::StrCat("kill(", pid_, ", ", signal, "): ", ErrnoText(errno)));
  }
  return absl::OkStatus();
}

absl::StatusOr<int> Subprocess::Wait(absl::Duration timeout) {
  if (result_.has_value()) return *result_;
  const absl::Time deadline = absl::Now() + timeout;
  while (!reaped_) {
    if (absl::Now() >= deadline) {
      KillAndReap();
      result_ = absl::DeadlineExceededError(absl::StrCat(
          "process ", pid_, " did not exit within ",
          absl::FormatDuration(timeout), " and was killed; ", Quote(stderr_)));
      return *result_;
    }
    Pump(deadline);
  }
  // Everything the child wrote is in the pipes now; a grandchild holding
  // them open must not make this wait.
  ReadInto(stdout_fd_, stdout_);
  ReadInto(stderr_fd_, stderr_);
  CloseFd(stdout_fd_);
  CloseFd(stderr_fd_);
  CloseFd(stdin_fd_);
  if (WIFEXITED(wait_status_)) {
    result_ = WEXITSTATUS(wait_status_);
  } else if (WIFSIGNALED(wait_status_)) {
    result_ = absl::AbortedError(absl::StrCat(
        "process ", pid_, " was terminated by signal ", WTERMSIG(wait_status_),
        " (", strsignal(WTERMSIG(wait_status_)), "); ", Quote(stderr_)));
  } else {
    result_ = absl::InternalError(absl::StrCat(
        "process ", pid_, ": unexpected wait status ", wait_status_));
  }
  return *result_;
}

absl::StatusOr<CommandResult> RunCommand(
    const std::string& program, const std::vector<std::string>& args,
    absl::optional<std::string> stdin_content, absl::Duration timeout) {
  absl::StatusOr<std::unique_ptr<Subprocess>> process =
      Subprocess::Start(program, args, std::move(stdin_content));
  if (!process.ok()) return process.status();
  absl::StatusOr<int> exit_code = (*process)->Wait(timeout);
  if (!exit_code.ok()) {
    return absl::Status(exit_code.status().code(),
                        absl::StrCat(program, " ", absl::StrJoin(args, " "),
                                     ": ", exit_code.status().message()));
  }
  CommandResult result;
  result.exit_code = *exit_code;
  result.stdout_text = (*process)->stdout_text();
  result.stderr_text = (*process)->stderr_text();
  return result;
}

std::string EtagdProcess::target() const {
  return absl::StrCat("127.0.0.1:", port);
}

absl::StatusOr<EtagdProcess> StartEtagd(
    const std::string& data_dir, const std::vector<std::string>& extra_args,
    absl::Duration timeout) {
  std::vector<std::string> args = {"--grpc_listen=127.0.0.1:0",
                                   "--http_listen=127.0.0.1:0",
                                   absl::StrCat("--data_dir=", data_dir)};
  args.insert(args.end(), extra_args.begin(), extra_args.end());
  absl::StatusOr<std::unique_ptr<Subprocess>> process =
      Subprocess::Start(DataBinaryPath("service/etagd"), args);
  if (!process.ok()) return process.status();
  absl::StatusOr<std::string> line =
      (*process)->WaitForStderrLine(kStartupMarker, timeout);
  if (!line.ok()) return line.status();

  // "... serving gRPC on HOST:PORT[ and HTTP on ...]; data in DIR (...)".
  const size_t start = line->find(kStartupMarker) + std::strlen(kStartupMarker);
  const size_t end = line->find_first_of(" ;", start);
  const std::string address =
      line->substr(start, end == std::string::npos ? end : end - start);
  const size_t colon = address.rfind(':');
  int port = 0;
  if (colon == std::string::npos ||
      !absl::SimpleAtoi(absl::string_view(address).substr(colon + 1), &port) ||
      port <= 0 || port > 65535) {
    return absl::InternalError(
        absl::StrCat("no port in the startup line: ", *line));
  }
  EtagdProcess etagd;
  etagd.process = *std::move(process);
  etagd.port = port;
  // "... and HTTP on HOST:PORT; ..." (HTTPS is still "HTTP" here).
  constexpr char kHttpMarker[] = " and HTTP on ";
  if (const size_t http = line->find(kHttpMarker); http != std::string::npos) {
    const size_t from = http + std::strlen(kHttpMarker);
    const std::string http_address =
        line->substr(from, line->find_first_of(" ;", from) - from);
    const size_t http_colon = http_address.rfind(':');
    if (http_colon == std::string::npos ||
        !absl::SimpleAtoi(absl::string_view(http_address).substr(http_colon + 1),
                          &etagd.http_port)) {
      return absl::InternalError(
          absl::StrCat("no HTTP port in the startup line: ", *line));
    }
  }
  etagd.startup_line = *std::move(line);
  return etagd;
}

}  // namespace etagd
