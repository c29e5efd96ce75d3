/*
 * hook-exec: runs one OCI hook of an enclave container with the engine's bundle in the state on its stdin.
 * runc runs an enclave container from the derived bundle beside rune's state (ROOT/ID/bundle) and writes
 * that path into the state it hands each hook; an engine's hook must see the bundle it passed, as with a
 * plain container (runtime-spec config.md "Hooks": the state of the container on stdin). rune's derived
 * config replaces each hook with this helper, keeping the hook's env and timeout:
 *
 *   hook-exec BUNDLE_JSON PATH [ARG ...]
 *
 * BUNDLE_JSON is the engine's bundle as a JSON string (quotes included). hook-exec reads the state from
 * stdin, replaces the value of its top-level "bundle" member, puts the result on stdin (a memfd: no size
 * limit, no writer process) and execve()s PATH with ARG... as argv (PATH alone when there are none, as
 * runc does) and its own environment, so the backend's timeout kills the real hook (same pid). A state it
 * cannot parse passes through unchanged. On failure it prints a message and exits 127, as shells do.
 * Built dynamically against the host's C library; it runs on the host only (startContainer hooks, which
 * runc runs inside the container, are run by init-runelet at `rune start`: src/init/start-hooks.ts).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

extern char **environ;

static const char *skip_ws(const char *p, const char *end) {
  while (p < end && (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r')) p++;
  return p;
}

/* Past a JSON string starting at its opening quote; NULL when unterminated. */
static const char *skip_string(const char *p, const char *end) {
  for (p++; p < end; p++) {
    if (*p == '\\') p++;
    else if (*p == '"') return p + 1;
  }
  return NULL;
}

/* Past one JSON value (scalars up to the next delimiter, containers by depth); NULL when malformed. */
static const char *skip_value(const char *p, const char *end) {
  if (p >= end) return NULL;
  if (*p == '"') return skip_string(p, end);
  if (*p == '{' || *p == '[') {
    int depth = 0;
    while (p < end) {
      if (*p == '"') {
        p = skip_string(p, end);
        if (p == NULL) return NULL;
        continue;
      }
      if (*p == '{' || *p == '[') depth++;
      else if (*p == '}' || *p == ']') {
        if (--depth == 0) return p + 1;
      }
      p++;
    }
    return NULL;
  }
  while (p < end && *p != ',' && *p != '}' && *p != ']' && *p != ' ' && *p != '\n' && *p != '\t' && *p != '\r') p++;
  return p;
}

/* Finds the value of the top-level member "bundle": [*start, *stop). Returns 0 when found. */
static int find_bundle(const char *buf, size_t len, const char **start, const char **stop) {
  const char *end = buf + len;
  const char *p = skip_ws(buf, end);
  if (p >= end || *p != '{') return -1;
  p = skip_ws(p + 1, end);
  while (p < end && *p == '"') {
    const char *key = p + 1;
    const char *after = skip_string(p, end);
    if (after == NULL) return -1;
    int is_bundle = (size_t)(after - 1 - key) == 6 && memcmp(key, "bundle", 6) == 0;
    p = skip_ws(after, end);
    if (p >= end || *p != ':') return -1;
    p = skip_ws(p + 1, end);
    const char *value_end = skip_value(p, end);
    if (value_end == NULL) return -1;
    if (is_bundle) {
      *start = p;
      *stop = value_end;
      return 0;
    }
    p = skip_ws(value_end, end);
    if (p < end && *p == ',') p = skip_ws(p + 1, end);
    else break;
  }
  return -1;
}

static int fail(const char *what, const char *detail) {
  fprintf(stderr, "hook-exec: %s%s%s: %s\n", what, detail ? " " : "", detail ? detail : "", strerror(errno));
  return 127;
}

static int write_all(int fd, const char *p, size_t n) {
  while (n > 0) {
    ssize_t w = write(fd, p, n);
    if (w < 0) {
      if (errno == EINTR) continue;
      return -1;
    }
    p += w;
    n -= (size_t)w;
  }
  return 0;
}

int main(int argc, char **argv) {
  if (argc < 3) {
    fprintf(stderr, "usage: hook-exec BUNDLE_JSON PATH [ARG ...]\n");
    return 127;
  }
  size_t cap = 65536, len = 0;
  char *buf = malloc(cap);
  if (buf == NULL) return fail("cannot allocate", NULL);
  for (;;) {
    if (len == cap) {
      cap *= 2;
      char *grown = realloc(buf, cap);
      if (grown == NULL) return fail("cannot allocate", NULL);
      buf = grown;
    }
    ssize_t n = read(0, buf + len, cap - len);
    if (n < 0) {
      if (errno == EINTR) continue;
      return fail("cannot read the state on stdin", NULL);
    }
    if (n == 0) break;
    len += (size_t)n;
  }
  int fd = memfd_create("state", 0);
  if (fd < 0) return fail("cannot create a memfd", NULL);
  const char *start, *stop;
  int ok;
  if (find_bundle(buf, len, &start, &stop) == 0) {
    ok = write_all(fd, buf, (size_t)(start - buf)) == 0 && write_all(fd, argv[1], strlen(argv[1])) == 0 &&
         write_all(fd, stop, (size_t)(buf + len - stop)) == 0;
  } else {
    ok = write_all(fd, buf, len) == 0;
  }
  if (!ok) return fail("cannot write the state", NULL);
  if (lseek(fd, 0, SEEK_SET) != 0 || dup2(fd, 0) != 0) return fail("cannot put the state on stdin", NULL);
  close(fd);
  free(buf);
  char *path_only[] = {argv[2], NULL};
  execve(argv[2], argc > 3 ? argv + 3 : path_only, environ);
  return fail("cannot execute hook", argv[2]);
}
