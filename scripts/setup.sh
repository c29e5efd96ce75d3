#!/usr/bin/env bash
# Installs what Inclavare needs on a Debian 12 machine, idempotently: the container tools (Debian packages),
# the npm dependencies (from the lockfile), and the build (dist/). Safe to run again; it skips what is there.
# What it installs and why, and how to remove it: docs/install.md.
set -euo pipefail
cd "$(dirname "$0")/.."

say() { printf 'setup: %s\n' "$*"; }
fail() {
  printf 'setup: %s\n' "$1" >&2
  shift
  for line in "$@"; do printf '       %s\n' "$line" >&2; done
  exit 2
}

# Debian packages the runtime, the demo, the tests and the benchmarks use, each for a reason
# (docs/install.md has the same list with the reasons; a machine is assumed to have only Node.js 20 with npm,
# python3, make, g++ and git, and scripts/fresh-check.sh proves the list complete on such a machine).
PACKAGES=(
  runc                        # the backend runtime rune hands containers to
  containerd                  # containerd, ctr and the runc shim (e2e tests, Kubernetes docs)
  podman conmon               # the engine of the demo and the e2e tests
  netavark                    # podman's network backend (the project's podman config selects it; Debian only recommends it)
  containernetworking-plugins # CNI plugins for containerd's CRI plugin (loopback)
  skopeo umoci                # OCI images built and copied by the tests
  busybox-static              # the userland of every test image
  gcc libc6-dev               # builds the C launcher (dist/rune) and the PAL test libraries
  iproute2 procps util-linux  # ip, ps/pkill, mount/unshare/nsenter/script used by rune and the tests
  ca-certificates openssl     # TLS roots; openssl s_client/s_server for RATS-TLS interop tests
  postgresql                  # verdictd's PostgreSQL store (replicas); its tests start their own cluster with initdb
  docker-registry             # a loopback OCI registry the encrypted-images containerd e2e test starts itself
  strace                      # tests that check which system calls a write makes (no fsync for runtime state)
)

# 1. Prerequisites, before anything is changed.
[ "$(id -u)" -eq 0 ] || fail "run me as root: I install Debian packages, and rune drives runc, podman and containerd, which need root here." \
  "Try: sudo $0"
if [ -r /etc/os-release ]; then
  # shellcheck disable=SC1091
  . /etc/os-release
fi
[ "${ID:-}" = debian ] || fail "this needs Debian 12 (bookworm); this machine is ${PRETTY_NAME:-unknown (no /etc/os-release)}." \
  "The package names and the apt-get steps below are Debian's."
[ "${VERSION_ID:-}" = 12 ] || say "warning: tested on Debian 12 (bookworm); this is ${PRETTY_NAME:-Debian ${VERSION_ID:-?}}. Going on."
if ! command -v node >/dev/null 2>&1; then
  fail "Node.js 20.10 or newer is required, and there is no 'node' on PATH." \
    "Install Node.js 20 (for example NodeSource's node_20.x Debian repository, or a release tarball from nodejs.org" \
    "unpacked into /usr/local), then run this again. Debian 12's own 'nodejs' package is Node 18: too old."
fi
node_version=$(node --version)
node -e 'const [a, b] = process.versions.node.split(".").map(Number); process.exit(a > 20 || (a === 20 && b >= 10) ? 0 : 1)' ||
  fail "Node.js 20.10 or newer is required; 'node' on PATH is $node_version ($(command -v node))." \
    "Install Node.js 20 (for example NodeSource's node_20.x Debian repository), put it first on PATH, and run this again." \
    "Debian 12's own 'nodejs' package is Node 18: too old."
command -v npm >/dev/null 2>&1 || fail "npm is required next to Node.js $node_version, and there is no 'npm' on PATH." \
  "Install the npm that comes with your Node.js 20 (NodeSource's nodejs package includes it), then run this again."
say "[1/4] prerequisites: root, ${PRETTY_NAME:-Debian}, Node.js $node_version, npm $(npm --version)"

# 2. Debian packages: only the missing ones, with apt-get.
missing=()
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ "${#missing[@]}" -gt 0 ]; then
  say "[2/4] Debian packages: installing ${#missing[@]} of ${#PACKAGES[@]}: ${missing[*]}"
  apt-get update -q >/tmp/inclavare-apt-update.log 2>&1 || {
    tail -n 5 /tmp/inclavare-apt-update.log >&2
    fail "cannot reach the Debian package archive ('apt-get update' failed; its output is above and in /tmp/inclavare-apt-update.log)." \
      "Check /etc/apt/sources.list and /etc/apt/sources.list.d/, the network and any proxy, then run this again."
  }
  # -q keeps apt's per-package lines (Get:, Unpacking, Setting up) as progress, without progress bars.
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}" 2>&1 |
    grep --line-buffered -E '^(Get:|Setting up|E:|W:)' | sed -u 's/^/  /' || true
  still=()
  for p in "${missing[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || still+=("$p")
  done
  [ "${#still[@]}" -eq 0 ] || fail "apt-get could not install: ${still[*]}." \
    "Run 'apt-get install --no-install-recommends ${still[*]}' to see why, fix it, and run this again."
else
  say "[2/4] Debian packages: all ${#PACKAGES[@]} already installed"
fi

# 3. npm dependencies exactly as locked; skipped when node_modules already matches the lockfile.
if [ ! -f node_modules/.package-lock.json ] || ! cmp -s package-lock.json node_modules/.inclavare-lock; then
  say "[3/4] npm dependencies: installing from package-lock.json (npm ci)"
  npm ci --no-audit --no-fund --loglevel=error
  cp package-lock.json node_modules/.inclavare-lock
else
  say "[3/4] npm dependencies: node_modules matches package-lock.json"
fi

say "[4/4] building dist/ (the C launcher and the bundled programs)"
npm run --silent build
say "done"
