/*
 * init-runelet-sim: PID 1 of a `sim` enclave container, in C (docs/enclave-containers.md "PID 1").
 *
 * The `sim` runtime isolates nothing: its workload is an ordinary child process of PID 1
 * (src/pal/sim/runtime.ts). For a container without secrets or startContainer hooks, that is all PID 1 has
 * to do, and doing it in C instead of Node.js saves Node's start (30-65 ms) on every container start
 * (docs/benchmarks.md, "A PID 1 in C for sim"). It follows init-runelet's protocol with rune exactly
 * (src/init/init-runelet.ts, src/runelet/description.ts CONTROL):
 *
 *   1. read CONTROL/launch (written by rune at create: src/runelet/launch.ts) and report
 *      {"state":"ready"} in CONTROL/status, or {"state":"error","message":...};
 *   2. wait for one byte on the FIFO CONTROL/start (`rune start`), write CONTROL/released; until then
 *      HUP, INT, QUIT and TERM end it with 128+n, as they end runc's init;
 *   3. resolve the program as execvp(3) would (the workload's PATH), start it (through rlimit-exec when the
 *      config has process.rlimits), forward HUP INT QUIT TERM USR1 USR2 ALRM WINCH CONT to it only when it
 *      catches or ignores them (the kernel's rule for the PID 1 it would be under runc), and reap every
 *      orphan the container's PID namespace hands to PID 1;
 *   4. write {"exitCode":n} to CONTROL/exit and exit with n (128+s when the workload was killed by signal s).
 *
 *   init-runelet-sim [CONTROL_DIR]     (default /.rune/control)
 *
 * It runs through the injected dynamic loader, like rlimit-exec, and writes nothing but the control files
 * (and the timings file a benchmark asks for). Messages go to the container's stderr prefixed
 * "init-runelet:", the name users know PID 1 by.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define LAUNCH_MAGIC "inclavare-init-sim/1"
#define MAX_LAUNCH (16u << 20)
#define DEFAULT_PATH "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

static const int FORWARDED[] = {SIGHUP, SIGINT, SIGQUIT, SIGTERM, SIGUSR1, SIGUSR2, SIGALRM, SIGWINCH, SIGCONT};
static const int EXIT_BEFORE_START[] = {SIGHUP, SIGINT, SIGQUIT, SIGTERM};
#define COUNT(a) (sizeof(a) / sizeof((a)[0]))

/* A list of strings, NULL-terminated (for execve). */
struct list {
  char **items;
  size_t len, cap;
};

struct launch {
  const char *id, *path, *cwd, *timings, *fault;
  struct list argv, env, rlimits, through;
};

static const char *control_dir = "/.rune/control";

static double now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return (double)ts.tv_sec * 1000.0 + (double)ts.tv_nsec / 1e6;
}

static void push(struct list *l, char *s) {
  if (l->len + 2 > l->cap) {
    l->cap = l->cap ? l->cap * 2 : 16;
    l->items = realloc(l->items, l->cap * sizeof(char *));
    if (l->items == NULL) {
      fputs("init-runelet: out of memory\n", stderr);
      _exit(1);
    }
  }
  l->items[l->len++] = s;
  l->items[l->len] = NULL;
}

/* Writes `s` as a JSON string (quotes included) into buf; returns the length written (truncates safely). */
static size_t json_string(char *buf, size_t size, const char *s) {
  size_t n = 0;
  if (size < 3) return 0;
  buf[n++] = '"';
  for (const unsigned char *p = (const unsigned char *)s; *p && n + 8 < size; p++) {
    if (*p == '"' || *p == '\\') {
      buf[n++] = '\\';
      buf[n++] = (char)*p;
    } else if (*p < 0x20) {
      n += (size_t)snprintf(buf + n, size - n, "\\u%04x", *p);
    } else {
      buf[n++] = (char)*p;
    }
  }
  buf[n++] = '"';
  buf[n] = '\0';
  return n;
}

/* Writes CONTROL/name atomically (a temporary file renamed over it: rune polls for the file). */
static void write_control(const char *name, const char *text) {
  char tmp[4096], dst[4096];
  snprintf(tmp, sizeof tmp, "%s/.%s.tmp", control_dir, name);
  snprintf(dst, sizeof dst, "%s/%s", control_dir, name);
  int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) {
    fprintf(stderr, "init-runelet: cannot write %s: %s\n", tmp, strerror(errno));
    return;
  }
  size_t len = strlen(text), off = 0;
  while (off < len) {
    ssize_t w = write(fd, text + off, len - off);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) break;
    off += (size_t)w;
  }
  close(fd);
  if (rename(tmp, dst) != 0) fprintf(stderr, "init-runelet: cannot write %s: %s\n", dst, strerror(errno));
}

/* Reports a failure before the start signal (rune create shows the message) and exits 1. */
static void fail_init(const char *fmt, ...) {
  char message[2048], json[8192], escaped[6144];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(message, sizeof message, fmt, ap);
  va_end(ap);
  json_string(escaped, sizeof escaped, message);
  snprintf(json, sizeof json, "{\"state\":\"error\",\"message\":%s}", escaped);
  write_control("status", json);
  fprintf(stderr, "init-runelet: %s\n", message);
  exit(1);
}

/*
 * Reads CONTROL/launch: the magic token, then KEY VALUE pairs, every token NUL-terminated. Keys: id, path,
 * cwd, timings and fault once; arg, env, rlimit (RESOURCE=SOFT:HARD) and through (the rlimit-exec command)
 * any number of times. Anything else is refused: the file is rune's, and a mismatch means a rune and an
 * init-runelet-sim of different builds.
 */
static void read_launch(struct launch *l) {
  char path[4096];
  snprintf(path, sizeof path, "%s/launch", control_dir);
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) fail_init("cannot read the launch description %s: %s", path, strerror(errno));
  struct stat st;
  if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) || st.st_size <= 0 || (unsigned long long)st.st_size > MAX_LAUNCH) {
    fail_init("the launch description %s is not a regular file of 1 byte to %u MiB", path, MAX_LAUNCH >> 20);
  }
  size_t size = (size_t)st.st_size, got = 0;
  char *buf = malloc(size + 1);
  if (buf == NULL) fail_init("out of memory reading %s", path);
  while (got < size) {
    ssize_t r = read(fd, buf + got, size - got);
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) fail_init("cannot read the launch description %s: %s", path, r < 0 ? strerror(errno) : "it is shorter than its size");
    got += (size_t)r;
  }
  close(fd);
  buf[size] = '\0';
  if (buf[size - 1] != '\0') fail_init("the launch description %s is damaged (its last token is not terminated)", path);
  char *p = buf, *end = buf + size;
  if (strcmp(p, LAUNCH_MAGIC) != 0) fail_init("the launch description %s is not in the format this init-runelet-sim reads (%s): rebuild rune", path, LAUNCH_MAGIC);
  p += strlen(p) + 1;
  while (p < end) {
    char *key = p;
    p += strlen(p) + 1;
    if (p >= end) fail_init("the launch description %s is damaged (key %s has no value)", path, key);
    char *value = p;
    p += strlen(p) + 1;
    if (strcmp(key, "arg") == 0) push(&l->argv, value);
    else if (strcmp(key, "env") == 0) push(&l->env, value);
    else if (strcmp(key, "rlimit") == 0) push(&l->rlimits, value);
    else if (strcmp(key, "through") == 0) push(&l->through, value);
    else if (strcmp(key, "id") == 0) l->id = value;
    else if (strcmp(key, "path") == 0) l->path = value;
    else if (strcmp(key, "cwd") == 0) l->cwd = value;
    else if (strcmp(key, "timings") == 0) l->timings = value;
    else if (strcmp(key, "fault") == 0) l->fault = value;
    else fail_init("the launch description %s has an unknown key %s: rebuild rune", path, key);
  }
  if (l->path == NULL || l->path[0] == '\0' || l->cwd == NULL || l->argv.len == 0) {
    fail_init("the launch description %s lacks the program, its arguments or its working directory", path);
  }
  if (l->rlimits.len > 0 && l->through.len == 0) fail_init("the launch description %s has resource limits but no rlimit-exec command", path);
  /* No env at all is still an array execve takes: one NULL (push allocates it; the NULL is not an entry). */
  if (l->env.items == NULL) {
    push(&l->env, NULL);
    l->env.len = 0;
  }
}

/* The fault-injection test hook (src/util/fault.ts): PID 1 cannot SIGKILL itself, so it ends at once with 137. */
static void fault_point(const struct launch *l, const char *step) {
  if (l->fault != NULL && strcmp(l->fault, step) == 0) _exit(137);
}

static void exit_on_signal(int sig) { _exit(128 + sig); }

static const char *env_value(const struct list *env, const char *name) {
  size_t n = strlen(name);
  for (size_t i = 0; i < env->len; i++) {
    if (strncmp(env->items[i], name, n) == 0 && env->items[i][n] == '=') return env->items[i] + n + 1;
  }
  return NULL;
}

/* path joined to base unless absolute (no normalisation needed: the kernel resolves it). */
static char *joined(const char *base, const char *path) {
  char *out;
  if (path[0] == '/') return strdup(path);
  if (asprintf(&out, "%s/%s", base, path) < 0) return NULL;
  return out;
}

/* `candidate` when it is an executable regular file; else frees it and says why in `reason` (NULL: skipped). */
static char *executable(char *candidate, const char **reason) {
  struct stat st;
  if (candidate == NULL) return NULL;
  if (stat(candidate, &st) == 0) {
    if (!S_ISREG(st.st_mode)) *reason = "is not a regular file";
    else if (access(candidate, X_OK) == 0) return candidate;
    else if (errno == EACCES) *reason = "is not executable";
  }
  free(candidate);
  return NULL;
}

/*
 * The program to run, as execvp(3) finds it and as the sim runtime's resolveProgram does: a path with a
 * slash is taken relative to cwd, a bare name is looked up in the workload's PATH (or runc's default).
 * Fails with the sim runtime's message.
 */
static char *resolve_program(const struct launch *l, char *message, size_t size) {
  const char *reason = "does not exist";
  int slash = strchr(l->path, '/') != NULL;
  char *found = NULL;
  if (slash) {
    found = executable(joined(l->cwd, l->path), &reason);
  } else {
    const char *path = env_value(&l->env, "PATH");
    char *dirs = strdup(path != NULL ? path : DEFAULT_PATH), *save = NULL;
    for (char *dir = strtok_r(dirs, ":", &save); dir != NULL && found == NULL; dir = strtok_r(NULL, ":", &save)) {
      char *inner = joined(dir, l->path);
      found = inner == NULL ? NULL : executable(joined(l->cwd, inner), &reason);
      free(inner);
    }
    free(dirs);
  }
  if (found == NULL) snprintf(message, size, "Cannot create process: entrypoint %s%s %s", l->path, slash ? "" : " in PATH", reason);
  return found;
}

/* True when process pid catches or ignores sig (/proc/PID/status SigCgt, SigIgn; src/init/signals.ts). */
static int handles_signal(pid_t pid, int sig) {
  char path[64], line[256];
  snprintf(path, sizeof path, "/proc/%d/status", (int)pid);
  FILE *f = fopen(path, "re");
  if (f == NULL) return 0;
  int handled = 0;
  while (fgets(line, sizeof line, f) != NULL) {
    if (strncmp(line, "SigCgt:", 7) == 0 || strncmp(line, "SigIgn:", 7) == 0) {
      unsigned long long mask = strtoull(line + 7, NULL, 16);
      if (mask & (1ULL << (sig - 1))) handled = 1;
    }
  }
  fclose(f);
  return handled;
}

/* Starts the workload; on failure returns -1 with the message the Node.js init-runelet would print. */
static pid_t start_workload(const struct launch *l, const char *file, const sigset_t *original_mask, char *message, size_t size) {
  int report[2];
  if (pipe2(report, O_CLOEXEC) != 0) {
    snprintf(message, size, "Cannot start process %s: %s", file, strerror(errno));
    return -1;
  }
  struct list args = {0};
  if (l->rlimits.len > 0) {
    for (size_t i = 0; i < l->through.len; i++) push(&args, l->through.items[i]);
    for (size_t i = 0; i < l->rlimits.len; i++) push(&args, l->rlimits.items[i]);
    push(&args, "--");
    push(&args, (char *)file);
    for (size_t i = 0; i < l->argv.len; i++) push(&args, l->argv.items[i]);
  } else {
    for (size_t i = 0; i < l->argv.len; i++) push(&args, l->argv.items[i]);
  }
  const char *command = l->rlimits.len > 0 ? l->through.items[0] : file;
  pid_t pid = fork();
  if (pid == 0) {
    for (int sig = 1; sig < NSIG; sig++) signal(sig, SIG_DFL);
    sigprocmask(SIG_SETMASK, original_mask, NULL);
    int err = 0;
    if (chdir(l->cwd) != 0) err = errno;
    if (err == 0) {
      execve(command, args.items, l->env.items);
      err = errno;
    }
    if (write(report[1], &err, sizeof err) < 0) _exit(127);
    _exit(127);
  }
  int err = pid < 0 ? errno : 0;
  close(report[1]);
  if (pid > 0) {
    ssize_t r;
    do r = read(report[0], &err, sizeof err);
    while (r < 0 && errno == EINTR);
    if (r != (ssize_t)sizeof err) err = 0;
    if (err != 0) waitpid(pid, NULL, 0);
  }
  close(report[0]);
  free(args.items);
  if (err != 0) {
    const char *name = strerrorname_np(err);
    snprintf(message, size, "Cannot start process %s: spawn %s %s", file, command, name != NULL ? name : strerror(err));
    return -1;
  }
  return pid;
}

static void write_timings(const struct launch *l, const char *const *names, const double *marks, size_t count) {
  if (l->timings == NULL) return;
  FILE *f = fopen(l->timings, "we");
  if (f == NULL) {
    fprintf(stderr, "init-runelet: cannot write %s: %s\n", l->timings, strerror(errno));
    return;
  }
  char id[1024];
  json_string(id, sizeof id, l->id != NULL ? l->id : "");
  fprintf(f, "{\"id\":%s,\"runtime\":\"sim\",\"init\":\"c\",\"marks\":{", id);
  for (size_t i = 0; i < count; i++) fprintf(f, "%s\"%s\":%.3f", i ? "," : "", names[i], marks[i]);
  fputs("}}", f);
  fclose(f);
}

int main(int argc, char **argv) {
  double t_main = now_ms();
  if (argc > 1) control_dir = argv[1];
  signal(SIGPIPE, SIG_IGN);
  struct launch l = {0};
  read_launch(&l);

  char start_path[4096];
  snprintf(start_path, sizeof start_path, "%s/start", control_dir);
  int fifo = open(start_path, O_RDWR | O_CLOEXEC);
  if (fifo < 0) fail_init("cannot open the start FIFO %s: %s", start_path, strerror(errno));
  for (size_t i = 0; i < COUNT(EXIT_BEFORE_START); i++) signal(EXIT_BEFORE_START[i], exit_on_signal);
  fault_point(&l, "init-runelet:after-init");
  double t_ready = now_ms();
  write_control("status", "{\"state\":\"ready\"}");

  char byte;
  ssize_t r;
  do r = read(fifo, &byte, 1);
  while (r < 0 && errno == EINTR);
  if (r != 1) {
    fprintf(stderr, "init-runelet: cannot read the start FIFO %s: %s\n", start_path, r < 0 ? strerror(errno) : "end of file");
    return 1;
  }
  double t_start = now_ms();
  write_control("released", "{}");
  fault_point(&l, "init-runelet:after-release");

  /* From here the forwarded signals and SIGCHLD are taken with sigwaitinfo, never by handlers. */
  sigset_t wait_set, original;
  sigemptyset(&wait_set);
  sigaddset(&wait_set, SIGCHLD);
  for (size_t i = 0; i < COUNT(FORWARDED); i++) sigaddset(&wait_set, FORWARDED[i]);
  sigprocmask(SIG_BLOCK, &wait_set, &original);
  for (size_t i = 0; i < COUNT(EXIT_BEFORE_START); i++) signal(EXIT_BEFORE_START[i], SIG_DFL);
  close(fifo);

  if (env_value(&l.env, "HOME") == NULL && getenv("HOME") != NULL) {
    char *home;
    if (asprintf(&home, "HOME=%s", getenv("HOME")) > 0) push(&l.env, home);
  }
  char message[8192];
  int code = 1;
  pid_t child = -1;
  char *file = resolve_program(&l, message, sizeof message);
  double t_created = now_ms();
  if (file != NULL) child = start_workload(&l, file, &original, message, sizeof message);
  if (child < 0) {
    fprintf(stderr, "init-runelet: %s\n", message);
  } else {
    for (;;) {
      siginfo_t info;
      int sig = sigwaitinfo(&wait_set, &info);
      if (sig < 0) continue;
      if (sig != SIGCHLD) {
        if (handles_signal(child, sig)) kill(child, sig);
        continue;
      }
      int status, done = 0;
      pid_t pid;
      while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
        if (pid != child) continue; /* an orphan the PID namespace handed to PID 1: reaped */
        code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
        done = 1;
      }
      if (done) break;
    }
  }
  double t_exited = now_ms();
  static const char *const names[] = {"processStart", "main", "runtimeLoaded", "palInit", "ready", "startSignal", "processCreated", "workloadExited", "destroyed"};
  const double marks[] = {t_main, t_main, t_main, t_main, t_ready, t_start, t_created, t_exited, t_exited};
  write_timings(&l, names, marks, COUNT(names));
  char exit_json[64];
  snprintf(exit_json, sizeof exit_json, "{\"exitCode\":%d}", code);
  write_control("exit", exit_json);
  return code;
}
