/*
 * rlimit-exec: sets resource limits, then execve()s the workload. The `sim` enclave runtime starts each
 * workload through it so that the workload gets exactly the config's process.rlimits (soft and hard) while
 * init-runelet itself runs under the limits it was started with: Node.js cannot set a limit between fork
 * and exec, and lowering its own RLIMIT_NOFILE/RLIMIT_NPROC would make it fail (issue #11, item 7: Node
 * aborted in uv_thread_create under a low RLIMIT_NPROC).
 *
 *   rlimit-exec [RESOURCE=SOFT:HARD ...] -- FILE ARGV0 [ARG ...]
 *
 * RESOURCE is the number of the resource (setrlimit(2)); SOFT and HARD are decimal or "unlimited". The
 * environment passes through unchanged. It runs inside the container through the injected dynamic loader
 * (src/rune/enclave/bundle.ts), so it links the same C library as the injected node. On failure it prints
 * a message and exits 127 (execve failed) or 126 (a limit could not be set), as shells do.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

extern char **environ;

static int parse_value(const char *s, const char *end, rlim_t *out) {
  size_t len = (size_t)(end - s);
  if (len == 9 && strncmp(s, "unlimited", 9) == 0) {
    *out = RLIM_INFINITY;
    return 0;
  }
  if (len == 0 || len > 20) return -1;
  unsigned long long v = 0;
  for (const char *p = s; p < end; p++) {
    if (*p < '0' || *p > '9') return -1;
    unsigned long long next = v * 10 + (unsigned long long)(*p - '0');
    if (next < v) return -1;
    v = next;
  }
  *out = (rlim_t)v;
  return 0;
}

int main(int argc, char **argv) {
  int i = 1;
  for (; i < argc && strcmp(argv[i], "--") != 0; i++) {
    const char *arg = argv[i];
    char *eq = strchr(arg, '=');
    char *colon = eq ? strchr(eq, ':') : NULL;
    char *rest = NULL;
    long resource = eq ? strtol(arg, &rest, 10) : -1;
    struct rlimit lim;
    if (!eq || !colon || rest != eq || resource < 0 || parse_value(eq + 1, colon, &lim.rlim_cur) != 0 ||
        parse_value(colon + 1, colon + strlen(colon), &lim.rlim_max) != 0) {
      fprintf(stderr, "rlimit-exec: invalid limit %s (expected RESOURCE=SOFT:HARD)\n", arg);
      return 126;
    }
    if (setrlimit((int)resource, &lim) != 0) {
      fprintf(stderr, "rlimit-exec: cannot set resource limit %ld to %s: %s\n", resource, eq + 1, strerror(errno));
      return 126;
    }
  }
  if (i + 2 >= argc) {
    fprintf(stderr, "usage: rlimit-exec [RESOURCE=SOFT:HARD ...] -- FILE ARGV0 [ARG ...]\n");
    return 127;
  }
  const char *file = argv[i + 1];
  execve(file, &argv[i + 2], environ);
  fprintf(stderr, "rlimit-exec: cannot execute %s: %s\n", file, strerror(errno));
  return 127;
}
