/*
 * containerd-shim-rune-v2: what containerd finds on its PATH (docs/shim.md).
 *
 * containerd runs the shim binary twice per container besides the daemon: `start` and `delete`. Starting
 * Node.js costs 40-120 ms a time, so this program does both itself, and starts Node.js only for the daemon
 * (containerd-shim-rune-v2.mjs beside it), once per pod:
 *
 *   start   cwd = the bundle; stdin = the runtime options (a protobuf Any, or nothing). Checks the options'
 *           form (runtimeoptions.v1.Options; its config_path absolute and readable; the TOML itself is read
 *           by the daemon, whose Create reports a bad one), groups the container by the
 *           io.kubernetes.cri.sandbox-id annotation of config.json, and names the socket as containerd 1.6
 *           does: /run/containerd/s/sha256(<address>/<namespace>/<group>). A live shim there: print its
 *           address. Else hand the shim to a spare daemon if one waits (hand_to_spare), or bind the socket,
 *           start the daemon with it as fd 3 (the options in $RUNE_SHIM_OPTIONS, hex) and print the address;
 *           containerd's first request waits in the backlog.
 *   delete  rune delete --force (the runtime, root and inclavared recorded by the daemon's Create in
 *           <bundle>/rune-shim.args), unmount <bundle>/rootfs, remove a dead shim's socket, print a
 *           DeleteResponse{exit_status 137, exited_at now}.
 *
 * Anything else (the daemon, -v, a form it does not handle) goes to Node.js with argv unchanged
 * (src/cli/containerd-shim-rune-v2.ts), which implements start and delete too.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#ifndef RUNE_NODE_PATH
#define RUNE_NODE_PATH "/usr/bin/node"
#endif

#define SOCKET_DIR "/run/containerd/s"
#define SANDBOX_ANNOTATION "\"io.kubernetes.cri.sandbox-id\""
#define OPTIONS_TYPE "runtimeoptions.v1.Options"
#define MAX_OPTIONS 65536
/* The spare daemon's control sockets (docs/shim.md "The spare daemon"): root only. */
#define SPARE_DIR "/run/containerd-shim-rune"
#define SPARE_MAGIC "rune-spare-1"
#define MAX_HANDOFF (1 << 20)

static char **orig_argv;
static char script[PATH_MAX];
/* The options read from stdin, in hex: handed to Node.js in $RUNE_SHIM_OPTIONS (stdin is consumed). */
static char hexopts[2 * 65536 + 1];
static bool have_opts;
/* The control socket of a spare daemon for this containerd and this build ('' when it cannot be named). */
static char spare_path[PATH_MAX];
extern char **environ;

static void hand_over(void) {
  const char *node = getenv("RUNE_NODE");
  if (node == NULL || node[0] == '\0') node = RUNE_NODE_PATH;
  if (have_opts) setenv("RUNE_SHIM_OPTIONS", hexopts, 1);
  int argc = 0;
  while (orig_argv[argc] != NULL) argc++;
  char **args = calloc((size_t)argc + 2, sizeof *args);
  if (args == NULL) exit(125);
  args[0] = "containerd-shim-rune-v2";
  args[1] = script;
  for (int i = 1; i < argc; i++) args[i + 1] = orig_argv[i];
  execv(node, args);
  fprintf(stderr, "containerd-shim-rune-v2: cannot run %s: %s\n", node, strerror(errno));
  exit(127);
}

static void fail(int status, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  fputs("containerd-shim-rune-v2: ", stderr);
  vfprintf(stderr, fmt, ap);
  fputc('\n', stderr);
  va_end(ap);
  exit(status);
}

/* ---- SHA-256 (FIPS 180-4), for the socket name ---- */
static const uint32_t K[64] = {
  0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5, 0xd807aa98, 0x12835b01,
  0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174, 0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc,
  0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da, 0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147,
  0x06ca6351, 0x14292967, 0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
  0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070, 0x19a4c116, 0x1e376c08,
  0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3, 0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208,
  0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2,
};
#define ROR(x, n) (((x) >> (n)) | ((x) << (32 - (n))))

static void sha256_block(uint32_t h[8], const uint8_t *p) {
  uint32_t w[64];
  for (int i = 0; i < 16; i++) w[i] = (uint32_t)p[4 * i] << 24 | (uint32_t)p[4 * i + 1] << 16 | (uint32_t)p[4 * i + 2] << 8 | p[4 * i + 3];
  for (int i = 16; i < 64; i++) {
    uint32_t s0 = ROR(w[i - 15], 7) ^ ROR(w[i - 15], 18) ^ (w[i - 15] >> 3);
    uint32_t s1 = ROR(w[i - 2], 17) ^ ROR(w[i - 2], 19) ^ (w[i - 2] >> 10);
    w[i] = w[i - 16] + s0 + w[i - 7] + s1;
  }
  uint32_t a = h[0], b = h[1], c = h[2], d = h[3], e = h[4], f = h[5], g = h[6], hh = h[7];
  for (int i = 0; i < 64; i++) {
    uint32_t t1 = hh + (ROR(e, 6) ^ ROR(e, 11) ^ ROR(e, 25)) + ((e & f) ^ (~e & g)) + K[i] + w[i];
    uint32_t t2 = (ROR(a, 2) ^ ROR(a, 13) ^ ROR(a, 22)) + ((a & b) ^ (a & c) ^ (b & c));
    hh = g; g = f; f = e; e = d + t1; d = c; c = b; b = a; a = t1 + t2;
  }
  h[0] += a; h[1] += b; h[2] += c; h[3] += d; h[4] += e; h[5] += f; h[6] += g; h[7] += hh;
}

static void sha256_hex(const char *msg, char out[65]) {
  uint32_t h[8] = {0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19};
  size_t len = strlen(msg);
  size_t i = 0;
  for (; i + 64 <= len; i += 64) sha256_block(h, (const uint8_t *)msg + i);
  uint8_t tail[128] = {0};
  size_t rest = len - i;
  memcpy(tail, msg + i, rest);
  tail[rest] = 0x80;
  size_t total = rest + 1 + 8 <= 64 ? 64 : 128;
  uint64_t bits = (uint64_t)len * 8;
  for (int k = 0; k < 8; k++) tail[total - 1 - k] = (uint8_t)(bits >> (8 * k));
  sha256_block(h, tail);
  if (total == 128) sha256_block(h, tail + 64);
  for (int k = 0; k < 8; k++) snprintf(out + 8 * k, 9, "%08x", h[k]);
}

/* ---- protobuf: the two messages of the options ---- */
static bool varint(const uint8_t *b, size_t n, size_t *i, uint64_t *v) {
  *v = 0;
  for (int shift = 0; shift < 64; shift += 7) {
    if (*i >= n) return false;
    uint8_t c = b[(*i)++];
    *v |= (uint64_t)(c & 0x7f) << shift;
    if (!(c & 0x80)) return true;
  }
  return false;
}

/* Finds length-delimited field `want` (last one wins); false on bytes that are no protobuf message. */
static bool field(const uint8_t *b, size_t n, uint64_t want, const uint8_t **out, size_t *out_len) {
  size_t i = 0;
  *out = NULL;
  *out_len = 0;
  while (i < n) {
    uint64_t key, v;
    if (!varint(b, n, &i, &key) || (key >> 3) == 0) return false;
    switch (key & 7) {
      case 0: if (!varint(b, n, &i, &v)) return false; break;
      case 1: if (n - i < 8) return false; i += 8; break;
      case 5: if (n - i < 4) return false; i += 4; break;
      case 2:
        if (!varint(b, n, &i, &v) || v > n - i) return false;
        if ((key >> 3) == want) { *out = b + i; *out_len = (size_t)v; }
        i += (size_t)v;
        break;
      default: return false;
    }
  }
  return true;
}

static void push_varint(uint8_t *out, size_t *n, uint64_t v) {
  do {
    uint8_t c = v & 0x7f;
    v >>= 7;
    if (v) c |= 0x80;
    out[(*n)++] = c;
  } while (v);
}

/* <dir>/<name> into out (PATH_MAX); fails on a path that does not fit. */
static void join(char *out, const char *dir, const char *name) {
  int n = snprintf(out, PATH_MAX, "%s/%s", dir, name);
  if (n < 0 || n >= PATH_MAX) fail(1, "path too long: %s/%s", dir, name);
}

/* ---- flags ---- */
struct flags {
  const char *namespace, *id, *address, *publish_binary, *bundle, *action;
  bool debug;
};

static bool parse_flags(int argc, char **argv, struct flags *f) {
  memset(f, 0, sizeof *f);
  f->publish_binary = "";
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i];
    if (a[0] != '-') {
      if (f->action != NULL) return false;
      f->action = a;
      continue;
    }
    const char *name = a + (a[1] == '-' ? 2 : 1);
    if (strcmp(name, "debug") == 0) { f->debug = true; continue; }
    if (strchr(name, '=') != NULL || i + 1 >= argc) return false;
    const char **slot = strcmp(name, "namespace") == 0 ? &f->namespace : strcmp(name, "id") == 0 ? &f->id
      : strcmp(name, "address") == 0 ? &f->address : strcmp(name, "publish-binary") == 0 ? &f->publish_binary
      : strcmp(name, "bundle") == 0 ? &f->bundle : NULL;
    if (slot == NULL) return false;
    *slot = argv[++i];
  }
  return f->namespace != NULL && f->id != NULL && f->address != NULL && f->action != NULL;
}

static bool valid_id(const char *s) {
  size_t n = strlen(s);
  if (n == 0 || n > 128) return false;
  for (size_t i = 0; i < n; i++) {
    char c = s[i];
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || (i > 0 && (c == '_' || c == '.' || c == '-'));
    if (!ok) return false;
  }
  return true;
}

/* An address filepath.Join leaves unchanged (absolute, no //, /./, /../, trailing /): else hand over. */
static bool clean_path(const char *p) {
  if (p[0] != '/' || strstr(p, "//") || strstr(p, "/./") || strstr(p, "/../")) return false;
  size_t n = strlen(p);
  return n > 1 && p[n - 1] != '/' && !(n >= 2 && strcmp(p + n - 2, "/.") == 0) && !(n >= 3 && strcmp(p + n - 3, "/..") == 0);
}

static char *read_file(const char *path, size_t max, size_t *len) {
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return NULL;
  char *buf = malloc(max + 1);
  size_t n = 0;
  if (buf == NULL) { close(fd); return NULL; }
  for (;;) {
    ssize_t r = read(fd, buf + n, max - n);
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) break;
    n += (size_t)r;
    if (n == max) break;
  }
  close(fd);
  buf[n] = '\0';
  if (len) *len = n;
  return buf;
}

static void write_file(const char *dir, const char *name, const char *text) {
  char path[PATH_MAX];
  join(path, dir, name);
  int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) fail(1, "cannot write %s: %s", path, strerror(errno));
  size_t n = strlen(text);
  if (write(fd, text, n) != (ssize_t)n) fail(1, "cannot write %s: %s", path, strerror(errno));
  close(fd);
}

/* 1: a shim listens; 0: nothing (refused or gone). */
static int alive(const char *socket_path) {
  int s = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (s < 0) return 0;
  struct sockaddr_un addr = {.sun_family = AF_UNIX};
  if (strlen(socket_path) >= sizeof addr.sun_path) { close(s); return 0; }
  memcpy(addr.sun_path, socket_path, strlen(socket_path) + 1);
  int ok = connect(s, (struct sockaddr *)&addr, sizeof addr) == 0;
  close(s);
  return ok;
}

/* The group: the sandbox-id annotation's value when config.json has one, else the container id. */
static const char *group_of(const char *spec, const char *id) {
  const char *p = strstr(spec, SANDBOX_ANNOTATION);
  if (p == NULL) return id;
  p += strlen(SANDBOX_ANNOTATION);
  while (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r') p++;
  if (*p++ != ':') hand_over();
  while (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r') p++;
  if (*p++ != '"') hand_over();
  const char *end = strchr(p, '"');
  if (end == NULL || end - p > 128) hand_over();
  char *group = strndup(p, (size_t)(end - p));
  if (group == NULL || !valid_id(group)) hand_over(); /* an escape or an odd id: Node.js decides */
  return group;
}

/*
 * The spare daemon: a Node.js shim daemon started ahead (by a running shim) that waits on
 * SPARE_DIR/spare-sha256(<address>, the .mjs's path and identity, the launcher's identity).sock. An upgraded
 * launcher or .mjs names another socket, so a spare of an older build is never used.
 */
static void spare_name(const char *address) {
  struct stat js, me;
  spare_path[0] = '\0';
  if (getenv("RUNE_SHIM_NO_SPARE") != NULL) return; /* no handoff, and the daemon starts no spare */
  if (stat(script, &js) != 0 || stat("/proc/self/exe", &me) != 0) return;
  char key[2 * PATH_MAX + 256], hex[65];
  int n = snprintf(key, sizeof key, "%s\n%s\n%ju:%ju:%jd.%09ld\n%ju:%ju:%jd.%09ld", address, script, (uintmax_t)js.st_dev,
                   (uintmax_t)js.st_ino, (intmax_t)js.st_mtim.tv_sec, js.st_mtim.tv_nsec, (uintmax_t)me.st_dev, (uintmax_t)me.st_ino,
                   (intmax_t)me.st_mtim.tv_sec, me.st_mtim.tv_nsec);
  if (n < 0 || n >= (int)sizeof key) return;
  sha256_hex(key, hex);
  snprintf(spare_path, sizeof spare_path, SPARE_DIR "/spare-%s.sock", hex);
}

static bool put_field(char *buf, size_t *n, const char *s) {
  size_t len = strlen(s);
  if (*n + len + 1 > MAX_HANDOFF) return false;
  memcpy(buf + *n, s, len + 1);
  *n += len + 1;
  return true;
}

/*
 * Hands the shim to a waiting spare: one request (4-byte big-endian length, then NUL-terminated fields:
 * magic, socket, namespace, group, address, publish binary, debug, options hex, bundle, then the environment),
 * one reply line: "ok <pid>" once the spare listens on the socket, or "error <text>". Returns the spare's
 * pid, or 0 when there is no spare or it did not take the shim (the caller starts a daemon itself).
 */
static pid_t hand_to_spare(const struct flags *f, const char *group, const char *sock, const char *cwd) {
  struct stat st;
  if (spare_path[0] == '\0') return 0;
  if (lstat(SPARE_DIR, &st) != 0 || !S_ISDIR(st.st_mode) || st.st_uid != geteuid() || (st.st_mode & 077) != 0) return 0;
  if (lstat(spare_path, &st) != 0 || !S_ISSOCK(st.st_mode) || st.st_uid != geteuid()) return 0;
  char *buf = malloc(MAX_HANDOFF + 4);
  if (buf == NULL) return 0;
  size_t n = 4;
  bool fits = put_field(buf, &n, SPARE_MAGIC) && put_field(buf, &n, sock) && put_field(buf, &n, f->namespace) && put_field(buf, &n, group) &&
              put_field(buf, &n, f->address) && put_field(buf, &n, f->publish_binary) && put_field(buf, &n, f->debug ? "1" : "0") &&
              put_field(buf, &n, hexopts) && put_field(buf, &n, cwd);
  for (char **e = environ; fits && *e != NULL; e++) fits = put_field(buf, &n, *e);
  if (!fits) { free(buf); return 0; }
  uint32_t len = (uint32_t)(n - 4);
  buf[0] = (char)(len >> 24); buf[1] = (char)(len >> 16); buf[2] = (char)(len >> 8); buf[3] = (char)len;
  int s = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (s < 0) { free(buf); return 0; }
  struct timeval tv = {.tv_sec = 2};
  setsockopt(s, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  setsockopt(s, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
  struct sockaddr_un addr = {.sun_family = AF_UNIX};
  memcpy(addr.sun_path, spare_path, strlen(spare_path) + 1); /* SPARE_DIR + 64 hex digits: fits */
  pid_t pid = 0;
  if (connect(s, (struct sockaddr *)&addr, sizeof addr) == 0) {
    size_t off = 0;
    while (off < n) {
      ssize_t w = send(s, buf + off, n - off, MSG_NOSIGNAL);
      if (w < 0 && errno == EINTR) continue;
      if (w <= 0) break;
      off += (size_t)w;
    }
    char reply[256];
    size_t got = 0;
    while (off == n && got < sizeof reply - 1) {
      ssize_t r = read(s, reply + got, sizeof reply - 1 - got);
      if (r < 0 && errno == EINTR) continue;
      if (r <= 0) break;
      got += (size_t)r;
      if (memchr(reply, '\n', got)) break;
    }
    reply[got] = '\0';
    int p = 0;
    char nl = 0;
    if (sscanf(reply, "ok %d%c", &p, &nl) == 2 && nl == '\n' && p > 1) pid = (pid_t)p;
  }
  close(s);
  free(buf);
  return pid;
}

/* The shim of this bundle is `pid` at `address`: the bundle's shim.pid and address files, and the answer to containerd. */
static int announce(const char *cwd, const char *address, pid_t pid) {
  char pidtext[32];
  snprintf(pidtext, sizeof pidtext, "%d", (int)pid);
  write_file(cwd, "shim.pid", pidtext);
  write_file(cwd, "address", address);
  fputs(address, stdout);
  return 0;
}

static int do_start(const struct flags *f) {
  char cwd[PATH_MAX];
  if (getcwd(cwd, sizeof cwd) == NULL) fail(1, "cannot read the working directory: %s", strerror(errno));
  /* Options: empty, or an Any of runtimeoptions.v1.Options. */
  static uint8_t in[MAX_OPTIONS];
  size_t n = 0;
  for (;;) {
    ssize_t r = read(0, in + n, sizeof in - n);
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) break;
    n += (size_t)r;
    if (n == sizeof in) fail(1, "Cannot read the runtime options: more than %d bytes", MAX_OPTIONS);
  }
  for (size_t i = 0; i < n; i++) snprintf(hexopts + 2 * i, 3, "%02x", in[i]);
  hexopts[2 * n] = '\0';
  have_opts = true;
  if (n > 0) {
    const uint8_t *type, *value, *cfg;
    size_t type_len, value_len, cfg_len;
    if (!field(in, n, 1, &type, &type_len) || !field(in, n, 2, &value, &value_len))
      fail(1, "Cannot read the runtime options: they are not a protobuf Any");
    const char *slash = type ? memrchr(type, '/', type_len) : NULL;
    const uint8_t *tname = slash ? (const uint8_t *)slash + 1 : type;
    size_t tlen = type ? type_len - (size_t)(tname - type) : 0;
    if (type == NULL || tlen != strlen(OPTIONS_TYPE) || memcmp(tname, OPTIONS_TYPE, tlen) != 0)
      fail(1, "Cannot use runtime options of type \"%.*s\": containerd-shim-rune-v2 takes " OPTIONS_TYPE
              " (CRI: [...runtimes.rune.options] ConfigPath = \"/etc/inclavare-containers/config.toml\"; runc's options such as BinaryName do not apply)",
           (int)(type ? type_len : 0), type ? (const char *)type : "");
    if (!field(value ? value : (const uint8_t *)"", value_len, 2, &cfg, &cfg_len))
      fail(1, "Cannot read the runtime options: they are not a valid " OPTIONS_TYPE " message");
    if (cfg != NULL && cfg_len > 0) {
      if (cfg_len >= PATH_MAX || memchr(cfg, 0, cfg_len)) fail(1, "Cannot read the runtime options: a bad config_path");
      char path[PATH_MAX];
      memcpy(path, cfg, cfg_len);
      path[cfg_len] = '\0';
      if (path[0] != '/') fail(1, "Invalid shim config %s: the config path must be absolute", path);
      if (access(path, R_OK) != 0) fail(1, "Invalid shim config %s: it cannot be read: %s", path, strerror(errno));
    }
  }
  size_t spec_len;
  char *spec = read_file("config.json", 16 << 20, &spec_len);
  if (spec == NULL) fail(1, "Cannot read the bundle's config.json in %s: containerd runs the shim with the bundle as its working directory (%s)", cwd, strerror(errno));
  if (strlen(spec) != spec_len) hand_over();
  const char *group = group_of(spec, f->id);

  char key[PATH_MAX * 2], hex[65], sock[PATH_MAX], address[PATH_MAX + 8];
  snprintf(key, sizeof key, "%s/%s/%s", f->address, f->namespace, group);
  sha256_hex(key, hex);
  snprintf(sock, sizeof sock, SOCKET_DIR "/%s", hex);
  snprintf(address, sizeof address, "unix://%s", sock);
  write_file(cwd, "rune-shim.socket", sock);

  if (alive(sock)) {
    write_file(cwd, "address", address);
    fputs(address, stdout);
    return 0;
  }
  unlink(sock); /* a dead shim's, if any */
  mkdir("/run/containerd", 0711);
  mkdir(SOCKET_DIR, 0711);
  spare_name(f->address);
  if (spare_path[0] != '\0') setenv("RUNE_SHIM_SPARE", spare_path, 1); /* for the daemon, which starts the next spare */
  pid_t spare = hand_to_spare(f, group, sock, cwd);
  if (spare > 0) return announce(cwd, address, spare);
  int ls = socket(AF_UNIX, SOCK_STREAM, 0);
  if (ls < 0) fail(1, "cannot create a socket: %s", strerror(errno));
  struct sockaddr_un addr = {.sun_family = AF_UNIX};
  memcpy(addr.sun_path, sock, strlen(sock) + 1); /* SOCKET_DIR + 64 hex digits: fits */
  if (bind(ls, (struct sockaddr *)&addr, sizeof addr) != 0) {
    if (errno == EADDRINUSE && alive(sock)) { /* another start of the pod won */
      write_file(cwd, "address", address);
      fputs(address, stdout);
      return 0;
    }
    fail(1, "Cannot listen on %s: %s", sock, strerror(errno));
  }
  if (listen(ls, 128) != 0) fail(1, "Cannot listen on %s: %s", sock, strerror(errno));

  int logfd = -1;
  struct stat st;
  if (stat("log", &st) == 0 && S_ISFIFO(st.st_mode)) logfd = open("log", O_RDWR | O_NONBLOCK);

  pid_t pid = fork();
  if (pid < 0) fail(1, "Cannot start the shim daemon: %s", strerror(errno));
  if (pid == 0) {
    setsid();
    int null = open("/dev/null", O_RDWR);
    dup2(null, 0);
    dup2(null, 1);
    dup2(logfd >= 0 ? logfd : null, 2);
    if (ls != 3) { dup2(ls, 3); close(ls); }
    for (int fd = 4; fd < 1024; fd++) close(fd);
    setenv("RUNE_SHIM_OPTIONS", hexopts, 1);
    setenv("RUNE_SHIM_SOCKET", sock, 1);
    const char *node = getenv("RUNE_NODE");
    if (node == NULL || node[0] == '\0') node = RUNE_NODE_PATH;
    char *args[] = {"containerd-shim-rune-v2", script, "-namespace", (char *)f->namespace, "-id", (char *)group, "-address",
                    (char *)f->address, "-publish-binary", (char *)f->publish_binary, f->debug ? "-debug" : NULL, NULL};
    execv(node, args);
    _exit(127);
  }
  return announce(cwd, address, pid);
}

static int do_delete(const struct flags *f) {
  char cwd[PATH_MAX];
  const char *bundle = f->bundle;
  if (bundle == NULL) {
    if (getcwd(cwd, sizeof cwd) == NULL) fail(1, "cannot read the working directory: %s", strerror(errno));
    bundle = cwd;
  }
  char path[PATH_MAX];
  /* rune-shim.args: runtime, root (with the namespace), INCLAVARED_ROOT (may be empty), one a line. */
  join(path, bundle, "rune-shim.args");
  char *args = read_file(path, 3 * PATH_MAX, NULL);
  if (args != NULL) {
    char *runtime = strtok(args, "\n");
    char *root = strtok(NULL, "\n");
    char *inclavared = strtok(NULL, "\n");
    if (runtime != NULL && root != NULL) {
      char logpath[PATH_MAX];
      join(logpath, bundle, "log.json");
      pid_t pid = fork();
      if (pid == 0) {
        int null = open("/dev/null", O_RDWR);
        dup2(null, 0);
        dup2(null, 1);
        dup2(null, 2);
        if (inclavared != NULL && inclavared[0] != '\0') setenv("INCLAVARED_ROOT", inclavared, 1);
        execl(runtime, runtime, "--root", root, "--log", logpath, "--log-format", "json", "delete", "--force", f->id, (char *)NULL);
        _exit(127);
      }
      if (pid > 0) while (waitpid(pid, NULL, 0) < 0 && errno == EINTR) {}
    }
  }
  join(path, bundle, "rootfs");
  umount2(path, MNT_DETACH);
  join(path, bundle, "rune-shim.socket");
  char *sock = read_file(path, PATH_MAX, NULL);
  if (sock != NULL && strncmp(sock, SOCKET_DIR "/", strlen(SOCKET_DIR) + 1) == 0 && !strstr(sock, "..") && !alive(sock)) unlink(sock);

  struct timespec now;
  clock_gettime(CLOCK_REALTIME, &now);
  uint8_t ts[24], out[48];
  size_t tn = 0, on = 0;
  ts[tn++] = 0x08;
  push_varint(ts, &tn, (uint64_t)now.tv_sec);
  if (now.tv_nsec > 0) { ts[tn++] = 0x10; push_varint(ts, &tn, (uint64_t)now.tv_nsec); }
  out[on++] = 0x10;
  push_varint(out, &on, 128 + 9);
  out[on++] = 0x1a;
  push_varint(out, &on, tn);
  memcpy(out + on, ts, tn);
  on += tn;
  fwrite(out, 1, on, stdout);
  return 0;
}

int main(int argc, char **argv) {
  orig_argv = argv;
  char self[PATH_MAX];
  ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
  if (n <= 0) fail(125, "cannot find itself: %s", strerror(errno));
  self[n] = '\0';
  char *slash = strrchr(self, '/');
  if (slash == NULL) return 125;
  *slash = '\0';
  if (snprintf(script, sizeof script, "%s/containerd-shim-rune-v2.mjs", self) >= (int)sizeof script) return 125;
  if (getenv("RUNE_SHIM_NODE_ONLY") != NULL) hand_over(); /* tests: the Node.js implementation of start/delete */

  struct flags f;
  if (!parse_flags(argc, argv, &f) || !valid_id(f.id) || !valid_id(f.namespace) || !clean_path(f.address)) hand_over();
  if (strcmp(f.action, "start") == 0) return do_start(&f);
  if (strcmp(f.action, "delete") == 0) return do_delete(&f);
  hand_over();
}
