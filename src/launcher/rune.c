/*
 * rune launcher: the fast path that keeps Node.js out of every call on a plain container.
 *
 * Engines call an OCI runtime several times per container (create, start, kill, delete, ...). Starting
 * Node.js costs 60-75 ms a call, more than a whole `runc run`; so this small program is what `rune` is.
 * It handles exactly one case itself: a call it fully understands, on a container with no enclave, where it
 * only has to point the backend runtime (runc) at the container's state directory:
 *
 *     rune [globals] CMD [flags] ID ...   ->   runc --root ROOT/ID/runc [globals] CMD [flags] ID ...
 *
 * Everything else (help, version, list, spec, errors to explain, enclave containers, any flag it does not
 * know) is handed to the Node.js implementation (rune.mjs beside this binary) with argv unchanged. The Node
 * implementation is complete on its own and produces the same result; this launcher is only faster. So the
 * rule here is: when in doubt, hand over. docs/rune.md ("Why rune costs plain containers (almost)
 * nothing: the launcher") explains the design.
 *
 * State layout (shared with src/rune/state.ts):
 *     ROOT/ID/             rune's state directory for the container (created by create/run, removed by delete)
 *     ROOT/ID/runc/        the backend's --root; the backend keeps ROOT/ID/runc/ID/state.json inside
 *     ROOT/ID/enclave.json present only for enclave containers: created by Node.js; the launcher handles
 *                          their start, kill, pause, resume, ps, events and delete
 *     ROOT/ID/start-hooks  present when an enclave container has startContainer hooks: its start waits for
 *                          init-runelet to run them, which Node.js does (the launcher hands start over)
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <stdint.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/un.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "json-check.h"

#ifndef RUNE_NODE_PATH
#define RUNE_NODE_PATH "/usr/bin/node"
#endif

#define DEFAULT_ROOT "/run/rune"
#define MAX_CONFIG_BYTES (8 * 1024 * 1024)
#define MAX_ARGS 512

static char **orig_argv;

/* The test hook of src/util/fault.ts: RUNE_FAULT=<step> kills rune at that step (never for production). */
static const char *fault_step;
static void fault_point(const char *step) {
  if (fault_step != NULL && strcmp(fault_step, step) == 0) kill(getpid(), SIGKILL);
}

/* Hand the whole call, argv unchanged, to the Node.js implementation. Never returns. */
static void __attribute__((noreturn)) hand_over(void) {
  char self[PATH_MAX];
  ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
  if (n <= 0) {
    fprintf(stderr, "rune: cannot find the rune installation: /proc/self/exe: %s\n", strerror(errno));
    exit(1);
  }
  self[n] = '\0';
  char *slash = strrchr(self, '/');
  char script[PATH_MAX];
  if (slash == NULL || snprintf(script, sizeof(script), "%.*s/rune.mjs", (int)(slash - self), self) >= (int)sizeof(script)) {
    fprintf(stderr, "rune: cannot find rune.mjs beside %s\n", self);
    exit(1);
  }
  const char *node = getenv("RUNE_NODE");
  if (node == NULL || node[0] == '\0') node = RUNE_NODE_PATH;

  int argc = 0;
  while (orig_argv[argc] != NULL) argc++;
  char **args = calloc((size_t)argc + 3, sizeof(char *));
  if (args == NULL) exit(1);
  args[0] = (char *)node;
  args[1] = script;
  for (int i = 1; i < argc; i++) args[i + 1] = orig_argv[i];
  args[argc + 1] = NULL;
  execv(node, args);
  fprintf(stderr, "rune: cannot start Node.js at %s: %s (set RUNE_NODE to the node binary)\n", node, strerror(errno));
  exit(1);
}

/* Matches "--name" / "-n" exactly, or "--name=value" (then *inline_value points at value). */
static bool flag_is(const char *arg, const char *long_name, const char *short_name, const char **inline_value) {
  *inline_value = NULL;
  if (short_name != NULL && strcmp(arg, short_name) == 0) return true;
  size_t len = strlen(long_name);
  if (strncmp(arg, long_name, len) != 0) return false;
  if (arg[len] == '\0') return true;
  if (arg[len] == '=') {
    *inline_value = arg + len + 1;
    return true;
  }
  return false;
}

/* One flag of a command: whether it takes a value. */
struct flag_spec {
  const char *long_name;
  const char *short_name;
  bool takes_value;
};

static const struct flag_spec create_flags[] = {
    {"--bundle", "-b", true}, {"--console-socket", NULL, true}, {"--pid-file", NULL, true},
    {"--preserve-fds", NULL, true}, {"--no-pivot", NULL, false}, {"--no-new-keyring", NULL, false},
    {NULL, NULL, false}};
static const struct flag_spec run_flags[] = {
    {"--bundle", "-b", true}, {"--console-socket", NULL, true}, {"--pid-file", NULL, true},
    {"--preserve-fds", NULL, true}, {"--no-pivot", NULL, false}, {"--no-new-keyring", NULL, false},
    {"--detach", "-d", false}, {"--keep", NULL, false}, {"--no-subreaper", NULL, false},
    {NULL, NULL, false}};
static const struct flag_spec no_flags[] = {{NULL, NULL, false}};
static const struct flag_spec kill_flags[] = {{"--all", "-a", false}, {NULL, NULL, false}};
static const struct flag_spec delete_flags[] = {{"--force", "-f", false}, {NULL, NULL, false}};
static const struct flag_spec ps_flags[] = {{"--format", "-f", true}, {NULL, NULL, false}};
static const struct flag_spec events_flags[] = {{"--interval", NULL, true}, {"--stats", NULL, false}, {NULL, NULL, false}};
static const struct flag_spec exec_flags[] = {
    {"--console-socket", NULL, true}, {"--cwd", NULL, true}, {"--env", "-e", true}, {"--user", "-u", true},
    {"--additional-gids", "-g", true}, {"--process", "-p", true}, {"--pid-file", NULL, true},
    {"--process-label", NULL, true}, {"--apparmor", NULL, true}, {"--cap", "-c", true},
    {"--preserve-fds", NULL, true}, {"--cgroup", NULL, true}, {"--tty", "-t", false},
    {"--detach", "-d", false}, {"--no-new-privs", NULL, false}, {"--ignore-paused", NULL, false},
    {NULL, NULL, false}};

/* What a command's flags told us. */
struct parsed {
  int id_index;         /* index in argv of the container id */
  const char *bundle;   /* create/run: --bundle */
  bool detach, keep;    /* run: --detach, --keep */
};

/*
 * Parses the flags of a command starting at argv[i] up to the container id. Returns false (hand over) on
 * anything unknown, so the Node.js implementation reports it.
 */
static bool parse_command(char **argv, int i, const struct flag_spec *flags, struct parsed *out) {
  for (; argv[i] != NULL; i++) {
    const char *arg = argv[i];
    if (arg[0] != '-') {
      out->id_index = i;
      return true;
    }
    const struct flag_spec *match = NULL;
    const char *value = NULL;
    for (const struct flag_spec *f = flags; f->long_name != NULL; f++) {
      if (flag_is(arg, f->long_name, f->short_name, &value)) {
        match = f;
        break;
      }
    }
    if (match == NULL) return false;
    if (!match->takes_value && value != NULL) return false; /* --detach=true and the like: let Node decide */
    if (match->takes_value && value == NULL) {
      if (argv[i + 1] == NULL) return false;
      value = argv[++i];
    }
    if (strcmp(match->long_name, "--bundle") == 0) out->bundle = value;
    if (strcmp(match->long_name, "--detach") == 0) out->detach = true;
    if (strcmp(match->long_name, "--keep") == 0) out->keep = true;
  }
  return false; /* no container id */
}

/* runc's rule for container ids: ^[\w+-\.]+$, and never "." or ".." (they would escape the root). */
static bool valid_id(const char *id) {
  if (id[0] == '\0' || strcmp(id, ".") == 0 || strcmp(id, "..") == 0 || strlen(id) > 1024) return false;
  for (const char *c = id; *c; c++) {
    bool ok = (*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') || (*c >= '0' && *c <= '9') || *c == '_' ||
              *c == '+' || *c == '-' || *c == '.';
    if (!ok) return false;
  }
  return true;
}

/*
 * True when the bundle's config.json is valid JSON that cannot configure an enclave. Conservative: any
 * mention of the enclave settings, or any \u escape (which could spell them), makes it false and the Node.js
 * implementation decides. Invalid JSON also goes to Node.js, which names the file and the position.
 */
/* The bundle's config.json (malloc'd, *size_out bytes), or NULL when it cannot be read whole. */
static char *read_config(const char *bundle, size_t *size_out) {
  char path[PATH_MAX];
  if (snprintf(path, sizeof(path), "%s/config.json", bundle) >= (int)sizeof(path)) return NULL;
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return NULL;
  struct stat st;
  if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) || st.st_size <= 0 || st.st_size > MAX_CONFIG_BYTES) {
    close(fd);
    return NULL;
  }
  size_t size = (size_t)st.st_size;
  char *buf = malloc(size);
  if (buf == NULL) {
    close(fd);
    return NULL;
  }
  size_t got = 0;
  while (got < size) {
    ssize_t n = read(fd, buf + got, size - got);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    got += (size_t)n;
  }
  close(fd);
  if (got != size) {
    free(buf);
    return NULL;
  }
  *size_out = size;
  return buf;
}

/*
 * True when the bundle's config.json is valid JSON that cannot configure an enclave (see above).
 */
static bool plain_bundle(const char *bundle) {
  size_t size = 0;
  char *buf = read_config(bundle, &size);
  if (buf == NULL) return false;
  size_t first = 0;
  while (first < size && (buf[first] == ' ' || buf[first] == '\t' || buf[first] == '\n' || buf[first] == '\r')) first++;
  bool plain = first < size && buf[first] == '{' && json_check(buf, size) && memmem(buf, size, "ENCLAVE_", 8) == NULL &&
               memmem(buf, size, "\"enclave.", 9) == NULL && memmem(buf, size, "\\u", 2) == NULL;
  free(buf);
  return plain;
}

/* A signal runc accepts: a number, or a name with or without SIG (runc upper-cases it). */
static bool valid_signal(const char *sig) {
  if (sig[0] >= '0' && sig[0] <= '9') {
    char *end;
    long n = strtol(sig, &end, 10);
    return *end == '\0' && n >= 1 && n <= 64;
  }
  if (strncasecmp(sig, "SIG", 3) == 0) sig += 3;
  for (int n = 1; n < 32; n++) {
    const char *name = sigabbrev_np(n);
    if (name != NULL && strcasecmp(sig, name) == 0) return true;
  }
  return false;
}

/* The backend runtime: --backend, then $RUNE_BACKEND, then runc on PATH, then the usual locations. */
static const char *find_backend(const char *flag_value) {
  static char found[PATH_MAX];
  const char *explicit_path = flag_value != NULL ? flag_value : getenv("RUNE_BACKEND");
  if (explicit_path != NULL && explicit_path[0] != '\0') {
    return access(explicit_path, X_OK) == 0 ? explicit_path : NULL;
  }
  const char *path_env = getenv("PATH");
  if (path_env != NULL) {
    const char *p = path_env;
    while (*p) {
      const char *end = strchrnul(p, ':');
      if (end > p && snprintf(found, sizeof(found), "%.*s/runc", (int)(end - p), p) < (int)sizeof(found) &&
          found[0] == '/' && access(found, X_OK) == 0)
        return found;
      p = *end ? end + 1 : end;
    }
  }
  static const char *const usual[] = {"/usr/local/sbin/runc", "/usr/sbin/runc", "/usr/bin/runc", NULL};
  for (int i = 0; usual[i] != NULL; i++)
    if (access(usual[i], X_OK) == 0) return usual[i];
  return NULL;
}

static int remove_entry(const char *path, const struct stat *st, int type, struct FTW *ftw) {
  (void)st;
  (void)type;
  (void)ftw;
  return remove(path) == 0 || errno == ENOENT ? 0 : -1;
}

/* Removes rune's state directory of a container (the backend has already removed its own state). */
static void remove_state(const char *dir) { nftw(dir, remove_entry, 16, FTW_DEPTH | FTW_PHYS); }

/* True when the backend still keeps state for the container. */
static bool backend_has_state(const char *state_dir, const char *id) {
  char path[PATH_MAX];
  if (snprintf(path, sizeof(path), "%s/runc/%s", state_dir, id) >= (int)sizeof(path)) return true;
  return access(path, F_OK) == 0;
}

/* Appends `text` to `out` as the body of a JSON string (the escaping JSON.stringify does). */
static void json_escape(FILE *out, const char *text) {
  for (const unsigned char *c = (const unsigned char *)text; *c; c++) {
    if (*c == '"' || *c == '\\')
      fprintf(out, "\\%c", *c);
    else if (*c == '\n')
      fputs("\\n", out);
    else if (*c < 0x20)
      fprintf(out, "\\u%04x", *c);
    else
      fputc(*c, out);
  }
}

/*
 * Reports an unknown container id exactly as the Node.js implementation does (src/rune/state.ts): one line on
 * stderr and, with --log, one runc-compatible error line. Handled here because engines routinely ask for the
 * second `delete --force` of a container that is already gone, and that must not cost a Node.js start.
 */
static int report_not_found(const char *id, const char *root, const char *log_path, const char *log_format) {
  char msg[PATH_MAX + 1200];
  snprintf(msg, sizeof(msg), "container \"%s\" does not exist under %s", id, root);
  if (log_path != NULL) {
    FILE *log = fopen(log_path, "ae");
    if (log != NULL) {
      char when[32];
      time_t now = time(NULL);
      struct tm tm;
      strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", gmtime_r(&now, &tm));
      if (log_format != NULL && strcmp(log_format, "json") == 0) {
        fputs("{\"level\":\"error\",\"msg\":\"", log);
        json_escape(log, msg);
        fprintf(log, "\",\"time\":\"%s\"}\n", when);
      } else {
        fprintf(log, "time=\"%s\" level=error msg=\"", when);
        json_escape(log, msg);
        fputs("\"\n", log);
      }
      fclose(log);
    }
  }
  fprintf(stderr, "rune: %s\n", msg);
  return 1;
}

/*
 * `start` of an enclave container: one byte into the control FIFO init-runelet waits on, then the `started`
 * marker. Returns false (hand over: Node.js reports why) when it was started already or nobody waits, and
 * when the container has startContainer hooks (Node.js waits for init-runelet to run them).
 */
static bool start_enclave(const char *state_dir) {
  char started[PATH_MAX], fifo[PATH_MAX], hooks[PATH_MAX], released[PATH_MAX];
  if (snprintf(started, sizeof(started), "%s/started", state_dir) >= (int)sizeof(started) ||
      snprintf(fifo, sizeof(fifo), "%s/control/start", state_dir) >= (int)sizeof(fifo) ||
      snprintf(hooks, sizeof(hooks), "%s/start-hooks", state_dir) >= (int)sizeof(hooks) ||
      snprintf(released, sizeof(released), "%s/control/released", state_dir) >= (int)sizeof(released))
    return false;
  /* released: init-runelet read a start byte already (from a start that was killed before its marker). */
  if (access(started, F_OK) == 0 || access(hooks, F_OK) == 0 || access(released, F_OK) == 0) return false;
  int fd = open(fifo, O_WRONLY | O_NONBLOCK | O_CLOEXEC);
  if (fd < 0) return false;
  char one = 1;
  ssize_t written = write(fd, &one, 1);
  close(fd);
  if (written != 1) return false;
  fault_point("start:after-release");
  int marker = open(started, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (marker >= 0) close(marker);
  return true;
}

/*
 * After the delete of an enclave container: removes its attestation socket by asking inclavared, as
 * src/rune/enclave/attestation.ts does (DELETE /v1/containers/KEY on the control socket named in
 * ROOT/ID/attestation). A daemon that is gone has nothing to remove; a failure is reported, not fatal.
 */
/* False when a registered container could not be unregistered (inclavared did not answer, or refused). */
static bool unregister_attestation(const char *state_dir) {
  char path[PATH_MAX], text[PATH_MAX + 128];
  if (snprintf(path, sizeof(path), "%s/attestation", state_dir) >= (int)sizeof(path)) return false;
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return true; /* no registration */
  ssize_t n = read(fd, text, sizeof(text) - 1);
  close(fd);
  if (n <= 0) return false;
  text[n] = '\0';
  char *key = strchr(text, '\n');
  if (key == NULL) return false;
  *key++ = '\0';
  char *end = strchr(key, '\n');
  if (end != NULL) *end = '\0';
  if (!valid_id(key)) return false;
  struct sockaddr_un addr = {.sun_family = AF_UNIX};
  if (strlen(text) >= sizeof(addr.sun_path)) return false;
  strcpy(addr.sun_path, text);
  int sock = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (sock < 0) return false;
  struct timeval timeout = {.tv_sec = 5, .tv_usec = 0};
  setsockopt(sock, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof(timeout));
  setsockopt(sock, SOL_SOCKET, SO_SNDTIMEO, &timeout, sizeof(timeout));
  if (connect(sock, (struct sockaddr *)&addr, sizeof(addr)) != 0) {
    close(sock);
    return false;
  }
  char request[512];
  int len = snprintf(request, sizeof(request),
                     "DELETE /v1/containers/%s HTTP/1.1\r\nHost: inclavared\r\nContent-Length: 0\r\nConnection: close\r\n\r\n", key);
  char response[64] = {0};
  bool ok = false;
  if (len > 0 && len < (int)sizeof(request) && write(sock, request, (size_t)len) == len &&
      read(sock, response, sizeof(response) - 1) > 0) {
    /* "HTTP/1.1 200" or "HTTP/1.1 404" (already gone) are both fine. */
    ok = strncmp(response + 9, "200", 3) == 0 || strncmp(response + 9, "404", 3) == 0;
  }
  close(sock);
  return ok;
}

static pid_t child_pid = -1;


/*
 * True when the container is registered with an inclavared that does not answer (killed, crashed): the
 * launcher then hands the delete over, and Node.js starts the daemon again to unregister the container
 * (src/rune/enclave/attestation.ts), so that a restarted daemon does not re-open a deleted container's socket.
 */
static bool attestation_unreachable(const char *state_dir) {
  char path[PATH_MAX], text[PATH_MAX + 128];
  if (snprintf(path, sizeof(path), "%s/attestation", state_dir) >= (int)sizeof(path)) return false;
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return false;
  ssize_t n = read(fd, text, sizeof(text) - 1);
  close(fd);
  if (n <= 0) return false;
  text[n] = '\0';
  char *end = strchr(text, '\n');
  if (end != NULL) *end = '\0';
  struct sockaddr_un addr = {.sun_family = AF_UNIX};
  if (strlen(text) >= sizeof(addr.sun_path)) return true;
  strcpy(addr.sun_path, text);
  int sock = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (sock < 0) return true;
  bool unreachable = connect(sock, (struct sockaddr *)&addr, sizeof(addr)) != 0;
  close(sock);
  return unreachable;
}

/*
 * Forwards a signal sent to rune (by kill(2)) to the backend, as runc itself forwards to the container.
 * Signals the kernel generated for the terminal (Ctrl-C: si_code SI_KERNEL) already reached the backend,
 * which shares our process group, so they are not sent twice.
 */
static void forward_signal(int sig, siginfo_t *info, void *uctx) {
  (void)uctx;
  if (child_pid > 0 && info != NULL && info->si_code <= 0) kill(child_pid, sig);
}

/* Runs the backend as a child, forwarding signals; returns its exit status the way a shell reports it. */
static int run_backend(const char *backend, char **args) {
  struct sigaction sa;
  memset(&sa, 0, sizeof(sa));
  sa.sa_sigaction = forward_signal;
  sa.sa_flags = SA_SIGINFO | SA_RESTART;
  sigemptyset(&sa.sa_mask);
  for (int sig = 1; sig < NSIG; sig++) {
    if (sig == SIGKILL || sig == SIGSTOP || sig == SIGCHLD || sig == SIGSEGV || sig == SIGBUS || sig == SIGFPE ||
        sig == SIGILL || sig == SIGTTIN || sig == SIGTTOU || sig == SIGTSTP || (sig > 31 && sig < SIGRTMIN))
      continue;
    sigaction(sig, &sa, NULL);
  }
  child_pid = fork();
  if (child_pid < 0) {
    fprintf(stderr, "rune: cannot start the backend runtime %s: %s\n", backend, strerror(errno));
    return 1;
  }
  if (child_pid == 0) {
    struct sigaction dfl;
    memset(&dfl, 0, sizeof(dfl));
    dfl.sa_handler = SIG_DFL;
    for (int sig = 1; sig < NSIG; sig++) sigaction(sig, &dfl, NULL);
    execv(backend, args);
    fprintf(stderr, "rune: cannot start the backend runtime %s: %s\n", backend, strerror(errno));
    _exit(127);
  }
  int status;
  while (waitpid(child_pid, &status, 0) < 0) {
    if (errno != EINTR) return 1;
  }
  if (WIFEXITED(status)) return WEXITSTATUS(status);
  if (WIFSIGNALED(status)) return 128 + WTERMSIG(status);
  return 1;
}

/*
 * The enclave pool (docs/enclave-pool.md): an enclave `create` is served by a warm rune worker of
 * inclavared when one waits in INCLAVARED_ROOT/pool/ready/KEY/, instead of starting Node.js here. The worker
 * runs rune's create; the backend runs it asks for come back here, so that runc runs with this process's
 * stdio and fds and as a child of the engine's process (conmon is the subreaper of the container), exactly
 * as without the pool. KEY is the enclave runtime named in config.json (sim, wasm, else native); it only
 * chooses which warm worker serves, the worker reads the configuration itself. RUNE_POOL=0 turns it off.
 */
static const char *pool_key(const char *bundle) {
  size_t size = 0;
  char *buf = read_config(bundle, &size);
  if (buf == NULL) return "sim";
  const char *key = NULL;
  const char *env = memmem(buf, size, "\"ENCLAVE_RUNTIME_PATH=", 22);
  const char *value = NULL;
  if (env != NULL) {
    value = env + 22;
  } else {
    const char *ann = memmem(buf, size, "\"enclave.runtime.path\"", 22);
    if (ann != NULL) {
      const char *p = ann + 22;
      while (p < buf + size && (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r' || *p == ':')) p++;
      if (p < buf + size && *p == '"') value = p + 1;
    }
  }
  if (value != NULL) {
    size_t left = (size_t)(buf + size - value);
    if (left >= 5 && memcmp(value, "wasm\"", 5) == 0) key = "wasm";
    else if (left >= 4 && memcmp(value, "sim\"", 4) == 0) key = "sim";
    else key = "native";
  }
  free(buf);
  return key != NULL ? key : "sim";
}

static bool write_full(int fd, const void *data, size_t size) {
  const char *p = data;
  while (size > 0) {
    ssize_t n = write(fd, p, size);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    p += n;
    size -= (size_t)n;
  }
  return true;
}

static bool read_full(int fd, void *data, size_t size) {
  char *p = data;
  while (size > 0) {
    ssize_t n = read(fd, p, size);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    p += n;
    size -= (size_t)n;
  }
  return true;
}

static bool send_frame(int fd, char type, const char *payload, uint32_t size) {
  unsigned char head[5] = {(unsigned char)type, (unsigned char)(size >> 24), (unsigned char)(size >> 16), (unsigned char)(size >> 8), (unsigned char)size};
  return write_full(fd, head, 5) && write_full(fd, payload, size);
}

/* Connects to a worker whose socket this process renamed; -1 when it does not answer (it died). */
static int connect_worker(const char *path) {
  struct sockaddr_un addr;
  memset(&addr, 0, sizeof(addr));
  addr.sun_family = AF_UNIX;
  if (strlen(path) >= sizeof(addr.sun_path)) return -1;
  strcpy(addr.sun_path, path);
  int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return -1;
  if (connect(fd, (struct sockaddr *)&addr, sizeof(addr)) != 0) {
    close(fd);
    return -1;
  }
  /* Out of the way of --preserve-fds (3, 4, ...): the backend must not see it, and it is close-on-exec. */
  int high = fcntl(fd, F_DUPFD_CLOEXEC, 200);
  close(fd);
  return high;
}

/* Takes a warm worker of KEY: renames its socket out of the ready directory (one caller wins), connects. */
static int take_worker(const char *inclavared_root, const char *key) {
  char ready[PATH_MAX], from[PATH_MAX], to[PATH_MAX];
  if (snprintf(ready, sizeof(ready), "%s/pool/ready/%s", inclavared_root, key) >= (int)sizeof(ready)) return -1;
  DIR *dir = opendir(ready);
  if (dir == NULL) return -1;
  int fd = -1;
  struct dirent *e;
  while (fd < 0 && (e = readdir(dir)) != NULL) {
    size_t len = strlen(e->d_name);
    if (len < 6 || strcmp(e->d_name + len - 5, ".sock") != 0) continue;
    if (snprintf(from, sizeof(from), "%s/%s", ready, e->d_name) >= (int)sizeof(from) ||
        snprintf(to, sizeof(to), "%s/pool/taken/%s", inclavared_root, e->d_name) >= (int)sizeof(to))
      continue;
    if (rename(from, to) != 0) continue; /* another caller took it */
    fd = connect_worker(to);
    if (fd < 0) unlink(to); /* a worker that died while waiting: try the next, else the slow path */
  }
  closedir(dir);
  return fd;
}

/*
 * Runs this create through a warm worker. Returns only when none could be taken (nothing was sent yet):
 * the caller then hands over to Node.js (the slow path). Otherwise exits with the call's status.
 */
static void try_pool(const char *bundle) {
  const char *off = getenv("RUNE_POOL");
  if (off != NULL && strcmp(off, "0") == 0) return;
  /* The fault-injection test hook (RUNE_FAULT) names steps of this process's create: a worker would take
     them elsewhere. */
  const char *fault = getenv("RUNE_FAULT");
  if (fault != NULL && fault[0] != '\0') return;
  const char *inclavared_root = getenv("INCLAVARED_ROOT");
  if (inclavared_root == NULL || inclavared_root[0] == '\0') inclavared_root = "/run/inclavared";
  int fd = take_worker(inclavared_root, pool_key(bundle));
  if (fd < 0) return;

  char cwd[PATH_MAX];
  if (getcwd(cwd, sizeof(cwd)) == NULL) {
    close(fd);
    return;
  }
  /* RUNEPOOL1 \0 cwd \0 argc \0 argv... \0 envc \0 env... \0, after a u32 length */
  size_t cap = 4096, len = 4;
  char *req = malloc(cap);
  if (req == NULL) exit(1);
#define PUT(str)                                                           \
  do {                                                                     \
    size_t n_ = strlen(str) + 1;                                           \
    while (len + n_ > cap) {                                               \
      cap *= 2;                                                            \
      req = realloc(req, cap);                                             \
      if (req == NULL) exit(1);                                            \
    }                                                                      \
    memcpy(req + len, str, n_);                                            \
    len += n_;                                                             \
  } while (0)
  char count[32];
  PUT("RUNEPOOL1");
  PUT(cwd);
  int argc = 0;
  while (orig_argv[argc] != NULL) argc++;
  snprintf(count, sizeof(count), "%d", argc - 1);
  PUT(count);
  for (int i = 1; i < argc; i++) PUT(orig_argv[i]);
  extern char **environ;
  int envc = 0;
  while (environ[envc] != NULL) envc++;
  snprintf(count, sizeof(count), "%d", envc);
  PUT(count);
  for (int i = 0; i < envc; i++) PUT(environ[i]);
#undef PUT
  uint32_t body = (uint32_t)(len - 4);
  req[0] = (char)(body >> 24);
  req[1] = (char)(body >> 16);
  req[2] = (char)(body >> 8);
  req[3] = (char)body;
  if (!write_full(fd, req, len)) {
    /* The worker stopped before it read the call: nothing happened yet, the slow path is safe. */
    free(req);
    close(fd);
    return;
  }
  free(req);

  /* Until the worker accepts the call ('a', sent before it does anything), a connection that ends means it
     stopped without starting it (its daemon stopped while this launcher was taking it): the slow path is safe. */
  bool accepted = false;
  for (;;) {
    unsigned char head[5];
    if (!read_full(fd, head, 5)) break;
    uint32_t size = ((uint32_t)head[1] << 24) | ((uint32_t)head[2] << 16) | ((uint32_t)head[3] << 8) | head[4];
    if (size > 16u * 1024 * 1024) break;
    char *payload = malloc((size_t)size + 1);
    if (payload == NULL || !read_full(fd, payload, size)) break;
    payload[size] = '\0';
    if (head[0] == 'a') {
      accepted = true;
    } else if (head[0] == 'o' || head[0] == 'e') {
      write_full(head[0] == 'o' ? 1 : 2, payload, size);
    } else if (head[0] == 'x') {
      exit(atoi(payload));
    } else if (head[0] == 'r') {
      char *args[MAX_ARGS + 24];
      int n = 0;
      for (uint32_t at = 0; at < size && n < MAX_ARGS + 23; at += (uint32_t)strlen(payload + at) + 1) args[n++] = payload + at;
      args[n] = NULL;
      int rc = n > 0 ? run_backend(args[0], args) : 127;
      char status[16];
      int k = snprintf(status, sizeof(status), "%d", rc);
      if (!send_frame(fd, 's', status, (uint32_t)k)) break;
    } else {
      break;
    }
    free(payload);
  }
  if (!accepted) {
    close(fd);
    return;
  }
  fprintf(stderr, "rune: the warm rune worker of inclavared's pool stopped before it finished this create (see inclavared's log)\n");
  exit(1);
}

int main(int argc, char **argv) {
  orig_argv = argv;
  if (argc > MAX_ARGS) hand_over();
  const char *fast = getenv("RUNE_FAST_PATH");
  if (fast != NULL && strcmp(fast, "0") == 0) hand_over();
  fault_step = getenv("RUNE_FAULT");

  /* Global flags: the ones runc accepts, forwarded unchanged; --root and --backend are ours to resolve. */
  const char *root = DEFAULT_ROOT;
  const char *backend_flag = NULL;
  const char *log_path = NULL, *log_format = NULL;
  char *globals[16];
  int nglobals = 0;
  int i = 1;
  for (; i < argc && argv[i][0] == '-'; i++) {
    const char *arg = argv[i];
    const char *value = NULL;
    if (flag_is(arg, "--root", NULL, &value) || flag_is(arg, "--backend", NULL, &value)) {
      bool is_root = strncmp(arg, "--root", 6) == 0;
      if (value == NULL) {
        if (i + 1 >= argc) hand_over();
        value = argv[++i];
      }
      if (value[0] == '\0') hand_over();
      if (is_root)
        root = value;
      else
        backend_flag = value;
    } else if (flag_is(arg, "--log", NULL, &value) || flag_is(arg, "--log-format", NULL, &value) ||
               flag_is(arg, "--rootless", NULL, &value) || flag_is(arg, "--criu", NULL, &value)) {
      if (nglobals > 12) hand_over();
      bool is_log = strncmp(arg, "--log", 5) == 0 && (arg[5] == '\0' || arg[5] == '=');
      bool is_log_format = strncmp(arg, "--log-format", 12) == 0;
      globals[nglobals++] = argv[i];
      if (value == NULL) {
        if (i + 1 >= argc) hand_over();
        value = argv[++i];
        globals[nglobals++] = argv[i];
      }
      if (is_log) log_path = value;
      if (is_log_format) log_format = value;
    } else if (strcmp(arg, "--debug") == 0 || strcmp(arg, "--systemd-cgroup") == 0) {
      if (nglobals > 12) hand_over();
      globals[nglobals++] = argv[i];
    } else {
      hand_over(); /* --help, --version, anything unknown */
    }
  }
  if (i >= argc) hand_over();
  const char *cmd = argv[i];
  int cmd_index = i;

  const struct flag_spec *flags;
  bool creates = false, deletes = false, runs = false;
  if (strcmp(cmd, "create") == 0) {
    flags = create_flags;
    creates = true;
  } else if (strcmp(cmd, "run") == 0) {
    flags = run_flags;
    creates = runs = true;
  } else if (strcmp(cmd, "delete") == 0) {
    flags = delete_flags;
    deletes = true;
  } else if (strcmp(cmd, "start") == 0 || strcmp(cmd, "state") == 0 || strcmp(cmd, "pause") == 0 ||
             strcmp(cmd, "resume") == 0) {
    flags = no_flags;
  } else if (strcmp(cmd, "kill") == 0) {
    flags = kill_flags;
  } else if (strcmp(cmd, "ps") == 0) {
    flags = ps_flags;
  } else if (strcmp(cmd, "events") == 0) {
    flags = events_flags;
  } else if (strcmp(cmd, "exec") == 0) {
    flags = exec_flags;
  } else {
    hand_over(); /* list, spec, features, update, checkpoint, restore, help, unknown */
  }

  struct parsed p = {.id_index = -1, .bundle = NULL, .detach = false, .keep = false};
  if (!parse_command(argv, cmd_index + 1, flags, &p)) hand_over();
  const char *id = argv[p.id_index];
  if (!valid_id(id)) hand_over();
  /* Extra positional arguments: only kill (signal), ps (ps options) and exec (the command) take them. */
  int extra = argc - p.id_index - 1;
  if (strcmp(cmd, "kill") == 0) {
    if (extra > 1 || (extra == 1 && !valid_signal(argv[p.id_index + 1]))) hand_over();
  } else if (strcmp(cmd, "ps") != 0 && strcmp(cmd, "exec") != 0 && extra != 0) {
    hand_over();
  }

  char state_dir[PATH_MAX], backend_root[PATH_MAX];
  if (snprintf(state_dir, sizeof(state_dir), "%s/%s", root, id) >= (int)sizeof(state_dir) ||
      snprintf(backend_root, sizeof(backend_root), "%s/%s/runc", root, id) >= (int)sizeof(backend_root))
    hand_over();

  const char *backend = find_backend(backend_flag);
  if (backend == NULL) hand_over(); /* Node.js explains what is missing */

  if (creates) {
    if (!plain_bundle(p.bundle != NULL ? p.bundle : ".")) {
      if (!runs) try_pool(p.bundle != NULL ? p.bundle : ".");
      hand_over();
    }
    if (mkdir(root, 0700) != 0 && errno != EEXIST) hand_over();
    if (mkdir(state_dir, 0700) != 0) hand_over(); /* exists: Node.js reports the duplicate id */
    fault_point("create:after-claim");
  } else {
    char marker[PATH_MAX];
    struct stat st;
    if (stat(state_dir, &st) != 0) {
      if (errno == ENOENT) return report_not_found(id, root, log_path, log_format);
      hand_over();
    }
    if (!S_ISDIR(st.st_mode)) hand_over();
    if (snprintf(marker, sizeof(marker), "%s/enclave.json", state_dir) >= (int)sizeof(marker)) hand_over();
    if (access(marker, F_OK) == 0) {
      /*
       * An enclave container: PID 1 is init-runelet. `start` releases it (as src/rune/enclave/lifecycle.ts
       * does); kill, pause, resume, ps, events and delete are the backend's, exactly as for a plain
       * container. `state` and `exec` need Node.js (the state is corrected, exec runs a runelet).
       */
      if (strcmp(cmd, "start") == 0) return start_enclave(state_dir) ? 0 : (hand_over(), 1);
      if (strcmp(cmd, "state") == 0 || strcmp(cmd, "exec") == 0) hand_over();
    }
    if (deletes && attestation_unreachable(state_dir)) hand_over();
  }

  /* backend --root ROOT/ID/runc GLOBALS CMD ARGS... */
  char *args[MAX_ARGS + 24];
  int n = 0;
  args[n++] = (char *)backend;
  args[n++] = "--root";
  args[n++] = backend_root;
  for (int g = 0; g < nglobals; g++) args[n++] = globals[g];
  for (int a = cmd_index; a < argc; a++) args[n++] = argv[a];
  args[n] = NULL;

  if (creates) {
    int rc = run_backend(backend, args);
    if (rc == 0 && !runs) fault_point("create:after-backend-create");
    /* A failed create leaves nothing behind; so does a finished foreground run (runc deleted its state). */
    bool finished = runs && !p.detach && !p.keep;
    if ((rc != 0 || finished) && !backend_has_state(state_dir, id)) remove_state(state_dir);
    return rc;
  }
  if (deletes) {
    int rc = run_backend(backend, args);
    if (!backend_has_state(state_dir, id)) {
      fault_point("delete:after-backend-delete");
      /*
       * inclavared went away (or refused) since it answered above: Node.js starts it again and unregisters
       * (its delete of a container runc no longer knows does that and removes the state).
       */
      if (!unregister_attestation(state_dir)) hand_over();
      fault_point("delete:after-unregister");
      remove_state(state_dir);
      /* runc reports an id it no longer knows as missing; rune knew it, so the delete did what was asked. */
      if (rc != 0) return 0;
    }
    return rc;
  }
  execv(backend, args);
  fprintf(stderr, "rune: cannot start the backend runtime %s: %s\n", backend, strerror(errno));
  return 1;
}
