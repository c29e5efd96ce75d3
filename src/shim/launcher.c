/*
 * containerd-shim-rune-v2 launcher: what containerd finds on its PATH. It runs the shim's Node.js program
 * (containerd-shim-rune-v2.mjs beside this binary) with the Node.js it was built with (RUNE_NODE overrides),
 * argv unchanged: containerd's PATH need not contain node, and no shell runs per call.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#ifndef RUNE_NODE_PATH
#define RUNE_NODE_PATH "/usr/bin/node"
#endif

int main(int argc, char **argv) {
  char self[PATH_MAX];
  ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
  if (n <= 0) {
    fprintf(stderr, "containerd-shim-rune-v2: cannot find itself: %s\n", strerror(errno));
    return 125;
  }
  self[n] = '\0';
  char *slash = strrchr(self, '/');
  if (slash == NULL) return 125;
  *slash = '\0';
  char script[PATH_MAX];
  if (snprintf(script, sizeof script, "%s/containerd-shim-rune-v2.mjs", self) >= (int)sizeof script) return 125;
  const char *node = getenv("RUNE_NODE");
  if (node == NULL || node[0] == '\0') node = RUNE_NODE_PATH;
  char **args = calloc((size_t)argc + 2, sizeof *args);
  if (args == NULL) return 125;
  args[0] = argv[0];
  args[1] = script;
  for (int i = 1; i < argc; i++) args[i + 1] = argv[i];
  execv(node, args);
  fprintf(stderr, "containerd-shim-rune-v2: cannot run %s: %s\n", node, strerror(errno));
  return 127;
}
