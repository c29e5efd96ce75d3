/*
 * rune-shim-monitor: watches one container process (a container's init or an exec) for the shim daemon
 * (src/shim/process/monitor.ts). Node.js cannot do three things the shim needs, so this small program does:
 *
 *   1. become the parent of the container process: it is a child subreaper (prctl PR_SET_CHILD_SUBREAPER),
 *      so when `rune create` / `rune exec --detach` exits, the process it started is re-parented here and
 *      its exit status can be collected with waitpid(2) (Node.js only waits for children it spawned);
 *   2. receive the pty master that the runtime sends to --console-socket (SCM_RIGHTS; Node.js cannot
 *      receive file descriptors over a unix socket), copy between it and the shim's stdio pipes, and set
 *      the window size (TIOCSWINSZ) when asked;
 *   3. die with the shim (PR_SET_PDEATHSIG): a shim killed with -9 leaves no monitor behind; containerd's
 *      `shim delete` then kills the container through the runtime.
 *
 *   rune-shim-monitor [-c CONSOLE_SOCKET] -p PID_FILE -- RUNTIME [ARG ...]
 *
 * fd 0, 1, 2: the process's stdio (without -c: handed to the runtime, which hands them to the process);
 *             with -c: the terminal's input and output streams.
 * fd 3:       the control socket to the shim. The monitor writes lines:
 *               "runtime STATUS"  the runtime command ended (STATUS = exit code, or 128 + signal)
 *               "pid PID"         the process the runtime started (read from PID_FILE)
 *               "exit PID STATUS" the process ended (after the terminal's output is drained)
 *             and reads lines: "winsize ROWS COLS".
 * The monitor exits after "exit", or after "runtime" when the runtime failed.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>

#define CTL_FD 3
#define MAX_ORPHANS 64

static int ctl_fd = CTL_FD;

static void die(const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  fputs("rune-shim-monitor: ", stderr);
  vfprintf(stderr, fmt, ap);
  fputc('\n', stderr);
  va_end(ap);
  exit(125);
}

static void say(const char *fmt, ...) {
  char line[128];
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(line, sizeof line, fmt, ap);
  va_end(ap);
  if (n < 0 || (size_t)n >= sizeof line) return;
  const char *p = line;
  while (n > 0) {
    ssize_t w = write(ctl_fd, p, (size_t)n);
    if (w < 0) {
      if (errno == EINTR) continue;
      return; /* the shim is gone; PDEATHSIG will end us */
    }
    p += w;
    n -= (int)w;
  }
}

static int status_of(int wstatus) {
  if (WIFEXITED(wstatus)) return WEXITSTATUS(wstatus);
  if (WIFSIGNALED(wstatus)) return 128 + WTERMSIG(wstatus);
  return 255;
}

/* Writes all of buf to fd (a blocking pipe). False when the reader is gone. */
static bool write_all(int fd, const char *buf, size_t len) {
  while (len > 0) {
    ssize_t w = write(fd, buf, len);
    if (w < 0) {
      if (errno == EINTR) continue;
      if (errno == EAGAIN) {
        struct pollfd p = {.fd = fd, .events = POLLOUT};
        poll(&p, 1, 1000);
        continue;
      }
      return false;
    }
    buf += w;
    len -= (size_t)w;
  }
  return true;
}

/* Receives one file descriptor (SCM_RIGHTS) from a connected unix socket; -1 when none came. */
static int receive_fd(int sock) {
  char data[256];
  char control[CMSG_SPACE(sizeof(int))];
  struct iovec iov = {.iov_base = data, .iov_len = sizeof data};
  struct msghdr msg = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = control, .msg_controllen = sizeof control};
  ssize_t n;
  do n = recvmsg(sock, &msg, MSG_CMSG_CLOEXEC); while (n < 0 && errno == EINTR);
  if (n < 0) return -1;
  for (struct cmsghdr *c = CMSG_FIRSTHDR(&msg); c != NULL; c = CMSG_NXTHDR(&msg, c)) {
    if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS && c->cmsg_len == CMSG_LEN(sizeof(int))) {
      int fd;
      memcpy(&fd, CMSG_DATA(c), sizeof fd);
      return fd;
    }
  }
  return -1;
}

static int read_pid_file(const char *path) {
  char buf[32] = {0};
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return -1;
  ssize_t n = read(fd, buf, sizeof buf - 1);
  close(fd);
  if (n <= 0) return -1;
  char *end;
  long pid = strtol(buf, &end, 10);
  return pid > 0 && pid < (1L << 22) ? (int)pid : -1;
}

int main(int argc, char **argv) {
  const char *console_path = NULL;
  const char *pid_file = NULL;
  int i = 1;
  for (; i < argc; i++) {
    if (strcmp(argv[i], "--") == 0) { i++; break; }
    if (strcmp(argv[i], "-c") == 0 && i + 1 < argc) console_path = argv[++i];
    else if (strcmp(argv[i], "-p") == 0 && i + 1 < argc) pid_file = argv[++i];
    else die("usage: rune-shim-monitor [-c CONSOLE_SOCKET] -p PID_FILE -- RUNTIME [ARG ...]");
  }
  if (i >= argc || pid_file == NULL) die("usage: rune-shim-monitor [-c CONSOLE_SOCKET] -p PID_FILE -- RUNTIME [ARG ...]");
  struct stat st;
  if (fstat(CTL_FD, &st) != 0) die("fd 3 (the control socket) is not open");

  if (prctl(PR_SET_PDEATHSIG, SIGKILL) != 0) die("prctl(PR_SET_PDEATHSIG): %s", strerror(errno));
  if (getppid() == 1) die("the shim is gone");
  if (prctl(PR_SET_CHILD_SUBREAPER, 1) != 0) die("prctl(PR_SET_CHILD_SUBREAPER): %s", strerror(errno));

  sigset_t mask;
  sigemptyset(&mask);
  sigaddset(&mask, SIGCHLD);
  sigaddset(&mask, SIGPIPE);
  if (sigprocmask(SIG_BLOCK, &mask, NULL) != 0) die("sigprocmask: %s", strerror(errno));
  sigset_t chld;
  sigemptyset(&chld);
  sigaddset(&chld, SIGCHLD);
  int sig_fd = signalfd(-1, &chld, SFD_CLOEXEC | SFD_NONBLOCK);
  if (sig_fd < 0) die("signalfd: %s", strerror(errno));

  int listen_fd = -1;
  if (console_path != NULL) {
    struct sockaddr_un addr = {.sun_family = AF_UNIX};
    if (strlen(console_path) >= sizeof addr.sun_path) die("console socket path too long: %s", console_path);
    strcpy(addr.sun_path, console_path);
    listen_fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (listen_fd < 0) die("socket: %s", strerror(errno));
    unlink(console_path);
    if (bind(listen_fd, (struct sockaddr *)&addr, sizeof addr) != 0) die("bind %s: %s", console_path, strerror(errno));
    if (listen(listen_fd, 1) != 0) die("listen: %s", strerror(errno));
  }

  pid_t runtime = fork();
  if (runtime < 0) die("fork: %s", strerror(errno));
  if (runtime == 0) {
    sigprocmask(SIG_UNBLOCK, &mask, NULL);
    prctl(PR_SET_PDEATHSIG, 0);
    close(CTL_FD);
    if (console_path != NULL) {
      /* The process gets the pty; the runtime's own stdio must not hold the shim's streams open. */
      int null = open("/dev/null", O_RDWR);
      if (null >= 0) { dup2(null, 0); dup2(null, 1); if (null > 1) close(null); }
    }
    execvp(argv[i], &argv[i]);
    fprintf(stderr, "rune-shim-monitor: cannot run %s: %s\n", argv[i], strerror(errno));
    _exit(127);
  }
  /* Keep only the control socket: the process's stdio pipes must close when the process closes them. */
  if (console_path == NULL) {
    int null = open("/dev/null", O_RDWR);
    if (null >= 0) { dup2(null, 0); dup2(null, 1); dup2(null, 2); if (null > 2) close(null); }
  }

  int target = -1;            /* the process the runtime started */
  bool runtime_done = false;
  int target_status = -1;     /* set when target was reaped */
  pid_t orphans[MAX_ORPHANS]; /* children reaped before we knew the target's pid */
  int orphan_status[MAX_ORPHANS];
  int norphans = 0;
  int master = -1;
  bool stdin_open = console_path != NULL;
  bool ctl_open = true;
  bool have_winsize = false;
  struct winsize ws = {0};
  char ctl_buf[256];
  size_t ctl_len = 0;

  for (;;) {
    if (target_status >= 0 && master < 0) break;
    struct pollfd fds[5];
    int nfds = 0;
    int idx_sig = nfds; fds[nfds++] = (struct pollfd){.fd = sig_fd, .events = POLLIN};
    int idx_ctl = -1, idx_listen = -1, idx_master = -1, idx_in = -1;
    if (ctl_open) { idx_ctl = nfds; fds[nfds++] = (struct pollfd){.fd = ctl_fd, .events = POLLIN}; }
    if (listen_fd >= 0) { idx_listen = nfds; fds[nfds++] = (struct pollfd){.fd = listen_fd, .events = POLLIN}; }
    if (master >= 0) { idx_master = nfds; fds[nfds++] = (struct pollfd){.fd = master, .events = POLLIN}; }
    if (master >= 0 && stdin_open) { idx_in = nfds; fds[nfds++] = (struct pollfd){.fd = 0, .events = POLLIN}; }
    /* After the process ended, drain the terminal without waiting forever for a reader. */
    int timeout = target_status >= 0 ? 200 : -1;
    int n = poll(fds, (nfds_t)nfds, timeout);
    if (n < 0) {
      if (errno == EINTR) continue;
      die("poll: %s", strerror(errno));
    }
    if (n == 0 && target_status >= 0) break;

    if (fds[idx_sig].revents & POLLIN) {
      struct signalfd_siginfo si;
      while (read(sig_fd, &si, sizeof si) > 0) {}
      for (;;) {
        int ws_status;
        pid_t pid = waitpid(-1, &ws_status, WNOHANG);
        if (pid <= 0) break;
        int st = status_of(ws_status);
        if (pid == runtime) {
          runtime_done = true;
          say("runtime %d\n", st);
          if (st != 0) return 0;
          target = read_pid_file(pid_file);
          if (target < 0) { say("runtime 255\n"); return 0; }
          say("pid %d\n", target);
          for (int k = 0; k < norphans; k++) if (orphans[k] == target) target_status = orphan_status[k];
        } else if (runtime_done && pid == target) {
          target_status = st;
        } else if (!runtime_done && norphans < MAX_ORPHANS) {
          orphans[norphans] = pid;
          orphan_status[norphans++] = st;
        }
      }
    }
    if (idx_ctl >= 0 && (fds[idx_ctl].revents & (POLLIN | POLLHUP))) {
      ssize_t r = read(ctl_fd, ctl_buf + ctl_len, sizeof ctl_buf - 1 - ctl_len);
      if (r <= 0) {
        ctl_open = false;
      } else {
        ctl_len += (size_t)r;
        ctl_buf[ctl_len] = '\0';
        char *nl;
        while ((nl = memchr(ctl_buf, '\n', ctl_len)) != NULL) {
          *nl = '\0';
          unsigned rows, cols;
          if (sscanf(ctl_buf, "winsize %u %u", &rows, &cols) == 2) {
            ws.ws_row = (unsigned short)rows;
            ws.ws_col = (unsigned short)cols;
            have_winsize = true;
            if (master >= 0) ioctl(master, TIOCSWINSZ, &ws);
          }
          size_t used = (size_t)(nl - ctl_buf) + 1;
          memmove(ctl_buf, nl + 1, ctl_len - used);
          ctl_len -= used;
        }
        if (ctl_len == sizeof ctl_buf - 1) ctl_len = 0; /* an overlong line: drop it */
      }
    }
    if (idx_listen >= 0 && (fds[idx_listen].revents & POLLIN)) {
      int conn = accept4(listen_fd, NULL, NULL, SOCK_CLOEXEC);
      if (conn >= 0) {
        int fd = receive_fd(conn);
        close(conn);
        if (fd >= 0) {
          master = fd;
          fcntl(master, F_SETFL, fcntl(master, F_GETFL) | O_NONBLOCK);
          if (have_winsize) ioctl(master, TIOCSWINSZ, &ws);
          close(listen_fd);
          listen_fd = -1;
          unlink(console_path);
        }
      }
    }
    if (idx_master >= 0 && (fds[idx_master].revents & (POLLIN | POLLHUP | POLLERR))) {
      char buf[16384];
      ssize_t r = read(master, buf, sizeof buf);
      if (r > 0) {
        if (!write_all(1, buf, (size_t)r)) { /* nobody reads the terminal any more */ }
      } else if (r == 0 || (errno != EAGAIN && errno != EINTR)) {
        close(master); /* EIO: every slave end is closed */
        master = -1;
        stdin_open = false;
      }
    }
    if (idx_in >= 0 && master >= 0 && (fds[idx_in].revents & (POLLIN | POLLHUP))) {
      char buf[4096];
      ssize_t r = read(0, buf, sizeof buf);
      if (r > 0) write_all(master, buf, (size_t)r);
      else if (r == 0 || errno != EINTR) stdin_open = false;
    }
  }
  if (console_path != NULL) {
    close(1);
    if (listen_fd >= 0) unlink(console_path);
  }
  say("exit %d %d\n", target, target_status < 0 ? 255 : target_status);
  return 0;
}
