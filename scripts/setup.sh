#!/usr/bin/env bash
# Installs what Inclavare needs on a Debian 12 machine, idempotently: the container tools (Debian packages),
# the npm dependencies (from the lockfile), and the build (dist/). Safe to run again; it skips what is there.
set -euo pipefail
cd "$(dirname "$0")/.."

# Debian packages the runtime, the demo and the end-to-end tests use.
PACKAGES=(runc crun containerd podman skopeo umoci busybox-static containernetworking-plugins conmon
  gcc libc6-dev iproute2 procps util-linux ca-certificates openssl)

missing=()
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ "${#missing[@]}" -gt 0 ]; then
  echo "setup: installing Debian packages: ${missing[*]}"
  as_root=()
  [ "$(id -u)" -eq 0 ] || as_root=(sudo)
  "${as_root[@]}" apt-get update -qq
  DEBIAN_FRONTEND=noninteractive "${as_root[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# npm dependencies exactly as locked; skipped when node_modules already matches the lockfile.
if [ ! -f node_modules/.package-lock.json ] || ! cmp -s package-lock.json node_modules/.inclavare-lock; then
  echo "setup: installing npm dependencies"
  npm ci --no-audit --no-fund --loglevel=error
  cp package-lock.json node_modules/.inclavare-lock
fi

npm run --silent build
