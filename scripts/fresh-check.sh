#!/usr/bin/env bash
# The fresh-machine check: do the README's two commands work on a machine that has nothing but what a new
# machine of this kind has (Debian 12 with Node.js 20 and npm, python3, make, g++ and git)?
#
# It bootstraps a clean Debian 12 root (debootstrap, minbase, from this machine's apt sources; cached between
# runs), copies in this machine's Node.js/npm and its apt/npm/CA configuration, puts a clone of the committed
# HEAD in it, and runs `scripts/demo.sh` and `scripts/test.sh` there: in private mount and PID namespaces whose
# root is the new root (pivot_root, with /proc, /sys and its cgroups, /dev and a tmpfs /run), sharing only the
# network with this machine. When it ends, every process it started dies with its PID namespace, every mount
# with its mount namespace, and the copy of the root is removed. Uncommitted changes are not part of the check.
#
#   scripts/fresh-check.sh [--only demo|test] [--keep] [--rebuild-base]
#
# Environment: INCLAVARE_FRESH_CACHE (default /var/cache/inclavare/fresh-check) holds the cached base;
# INCLAVARE_FRESH_WORK (default /var/tmp) gets the per-run copy; INCLAVARE_FRESH_TIMEOUT (seconds, default
# 3600) bounds the whole run inside the new root.
set -euo pipefail

REPO=$(cd "$(dirname "$0")/.." && pwd)
CACHE=${INCLAVARE_FRESH_CACHE:-/var/cache/inclavare/fresh-check}
WORK_PARENT=${INCLAVARE_FRESH_WORK:-/var/tmp}
TIMEOUT=${INCLAVARE_FRESH_TIMEOUT:-3600}
SUITE=bookworm
# What a new machine of this kind has besides Node.js and npm (copied from this machine below).
BASE_PACKAGES=python3,make,g++,git,ca-certificates
BASE_FORMAT=1 # bump when the way the base is made changes

say() { printf 'fresh-check: %s\n' "$*"; }
fail() { printf 'fresh-check: %s\n' "$*" >&2; exit 2; }
usage() { sed -n '2,17p' "$0" | sed 's/^# \{0,1\}//'; }

only=both keep=0 rebuild=0
while [ $# -gt 0 ]; do
  case $1 in
    --only) [ $# -ge 2 ] || fail "--only needs demo or test"; only=$2; shift 2 ;;
    --only=*) only=${1#--only=}; shift ;;
    --keep) keep=1; shift ;;
    --rebuild-base) rebuild=1; shift ;;
    -h|--help) usage; exit 0 ;;
    *) fail "unknown argument '$1' (see --help)" ;;
  esac
done
case $only in demo|test|both) ;; *) fail "--only takes demo or test, not '$only'" ;; esac

# --- Prerequisites on this machine -------------------------------------------------------------------------
[ "$(id -u)" -eq 0 ] || fail "run me as root: debootstrap, mount namespaces and pivot_root need it."
[ -r /etc/os-release ] && . /etc/os-release
[ "${ID:-}" = debian ] || fail "this check builds a Debian root with this machine's apt sources; it runs on Debian 12, not ${PRETTY_NAME:-this system}."
command -v node >/dev/null && command -v npm >/dev/null || fail "Node.js and npm must be on PATH: they are copied into the new root as a new machine has them."
if ! command -v debootstrap >/dev/null; then
  say "installing debootstrap (apt-get) to build the clean root"
  apt-get update -q >/dev/null
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends debootstrap >/dev/null
fi
for tool in unshare pivot_root git; do command -v "$tool" >/dev/null || fail "'$tool' is missing on this machine"; done

# The Debian mirror this machine's apt uses (deb822 sources or one-line sources.list).
mirror=$( { grep -hs '^URIs:' /etc/apt/sources.list.d/*.sources | awk '{print $2}'
            grep -hs '^deb ' /etc/apt/sources.list /etc/apt/sources.list.d/*.list | awk '{print $2}'; } |
          grep -v -- '-security' | grep -m1 -E '/debian/?$' || true)
[ -n "$mirror" ] || fail "no Debian mirror found in /etc/apt/sources.list(.d): the clean root is bootstrapped from it."

node_bin=$(readlink -f "$(command -v node)")
npm_dir=$(npm root -g)/npm
node_version=$(node --version)
npm_version=$(npm --version)

# --- The cached base: debootstrap + what a new machine of this kind has -------------------------------------
key=$(printf '%s\n' "$BASE_FORMAT" "$SUITE" "$mirror" "$BASE_PACKAGES" "$node_version" "$npm_version" \
  "$(cat /etc/apt/sources.list /etc/apt/sources.list.d/*.sources /etc/apt/sources.list.d/*.list 2>/dev/null)" |
  sha256sum | cut -c1-16)
base=$CACHE/base-$key
if [ "$rebuild" = 1 ]; then rm -rf "$base"; fi
if [ ! -f "$base/.inclavare-base-complete" ]; then
  say "building the clean Debian 12 base (once; cached as $base): debootstrap --variant=minbase $SUITE from $mirror"
  started=$SECONDS
  mkdir -p "$CACHE"
  rm -rf "$base.partial"
  debootstrap --variant=minbase --include="$BASE_PACKAGES" "$SUITE" "$base.partial" "$mirror" >"$CACHE/debootstrap.log" 2>&1 || {
    tail -n 20 "$CACHE/debootstrap.log" >&2
    fail "debootstrap failed (log above, whole log in $CACHE/debootstrap.log)"
  }
  # This machine's apt sources and apt settings (a new machine of this kind has them), and its name service.
  rm -f "$base.partial/etc/apt/sources.list"
  cp -a /etc/apt/sources.list "$base.partial/etc/apt/" 2>/dev/null || true
  for f in /etc/apt/sources.list.d/*.sources /etc/apt/sources.list.d/*.list; do
    [ -f "$f" ] && cp -a "$f" "$base.partial/etc/apt/sources.list.d/"
  done
  cp -a /etc/apt/apt.conf.d/. "$base.partial/etc/apt/apt.conf.d/"
  cp -aL /etc/resolv.conf /etc/hosts "$base.partial/etc/"
  # Certificate authorities this machine adds (the package registries are reached through them).
  if [ -d /usr/local/share/ca-certificates ]; then
    mkdir -p "$base.partial/usr/local/share/ca-certificates"
    cp -a /usr/local/share/ca-certificates/. "$base.partial/usr/local/share/ca-certificates/"
  fi
  cp -aL /etc/ssl/certs/ca-certificates.crt "$base.partial/etc/ssl/certs/ca-certificates.crt"
  # Node.js and npm as this machine kind ships them, with npm's configuration and node's headers.
  mkdir -p "$base.partial/usr/bin" "$base.partial/usr/lib/node_modules"
  cp -a "$node_bin" "$base.partial/usr/bin/node"
  cp -a "$npm_dir" "$base.partial/usr/lib/node_modules/npm"
  ln -sfn ../lib/node_modules/npm/bin/npm-cli.js "$base.partial/usr/bin/npm"
  ln -sfn ../lib/node_modules/npm/bin/npx-cli.js "$base.partial/usr/bin/npx"
  [ -d /usr/include/node ] && mkdir -p "$base.partial/usr/include" && cp -a /usr/include/node "$base.partial/usr/include/node"
  globalrc=$(npm config get globalconfig) userrc=$(npm config get userconfig)
  if [ -f "$globalrc" ]; then mkdir -p "$base.partial$(dirname "$globalrc")"; cp -a "$globalrc" "$base.partial$globalrc"; fi
  if [ -f "$userrc" ]; then mkdir -p "$base.partial$(dirname "$userrc")"; cp -a "$userrc" "$base.partial$userrc"; fi
  chroot "$base.partial" apt-get clean
  chroot "$base.partial" /usr/bin/node --version >/dev/null || fail "the copied Node.js does not run in the new root"
  touch "$base.partial/.inclavare-base-complete"
  find "$CACHE" -maxdepth 1 -name 'base-*' ! -name "base-$key*" -exec rm -rf {} +
  mv "$base.partial" "$base"
  say "base ready in $((SECONDS - started)) s ($(du -sh "$base" | cut -f1))"
else
  say "using the cached clean base $base"
fi

# --- A fresh copy of the base with a clone of the committed HEAD --------------------------------------------
head=$(git -C "$REPO" rev-parse HEAD)
if [ -n "$(git -C "$REPO" status --porcelain --untracked-files=no)" ]; then
  say "note: uncommitted changes in $REPO are not part of this check; it checks the committed HEAD ${head:0:12}"
fi
run=$(mktemp -d "$WORK_PARENT/inclavare-fresh.XXXXXX")
root=$run/root
inner_pid=
cgroups_before=$run/cgroups-before

cleanup() {
  local status=$?
  trap - EXIT INT TERM
  if [ -n "$inner_pid" ] && kill -0 "$inner_pid" 2>/dev/null; then
    say "stopping the run in the new root"
    # unshare's forked child is PID 1 of the new PID namespace: when unshare dies, --kill-child kills it, and
    # with it the kernel kills every process in the namespace.
    pkill -KILL -P "$inner_pid" -x unshare 2>/dev/null || true
    kill -KILL "$inner_pid" 2>/dev/null || true
    wait "$inner_pid" 2>/dev/null || true
  fi
  # Cgroups the containers inside made (their processes died with the PID namespace): remove the empty ones.
  if [ -f "$cgroups_before" ]; then
    find /sys/fs/cgroup -mindepth 1 -type d 2>/dev/null | sort >"$run/cgroups-after" || true
    comm -13 "$cgroups_before" "$run/cgroups-after" | sort -r | while read -r dir; do rmdir "$dir" 2>/dev/null || true; done
  fi
  if grep -q " $run" /proc/self/mountinfo; then
    say "warning: mounts under $run are still there:"; grep " $run" /proc/self/mountinfo >&2
  elif [ "$keep" = 1 ]; then
    say "kept the new root in $root"
  else
    rm -rf "$run"
  fi
  exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

say "copying the base to $root"
cp -a "$base" "$root"
rm -f "$root/.inclavare-base-complete"
git clone -q --no-hardlinks "$REPO" "$root/root/inclavare"
git -C "$root/root/inclavare" checkout -q --detach "$head"
find /sys/fs/cgroup -mindepth 1 -type d 2>/dev/null | sort >"$cgroups_before" || true

case $only in
  demo) commands=(scripts/demo.sh) ;;
  test) commands=(scripts/test.sh) ;;
  both) commands=(scripts/demo.sh scripts/test.sh) ;;
esac
mkdir -p "$root/var/log/fresh-check"

# Runs inside the new namespaces, as PID 1 of the new PID namespace; $1 = the new root.
inner=$(cat <<'INNER'
set -euo pipefail
new=$1; shift
mount --make-rprivate /
mount --bind "$new" "$new"              # podman needs / to be a mount point
mount -t proc proc "$new/proc"           # this PID namespace's /proc
mount --rbind /sys "$new/sys"            # with the cgroup hierarchies under /sys/fs/cgroup
mount --rbind /dev "$new/dev"            # with /dev/pts, /dev/shm, /dev/mqueue
mount -t tmpfs -o mode=0755 tmpfs "$new/run"
mkdir -p "$new/.host"
cd "$new"
pivot_root . .host
cd /
umount -l /.host
rmdir /.host
export HOME=/root PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin LANG=C.UTF-8
cd /root/inclavare
status=0
for cmd in "$@"; do
  log=/var/log/fresh-check/$(basename "$cmd" .sh).log
  printf '\n===== fresh root: %s =====\n' "$cmd"
  start=$(date +%s)
  set +e
  "./$cmd" </dev/null 2>&1 | tee "$log"
  code=${PIPESTATUS[0]}
  set -e
  echo "$cmd $code $(( $(date +%s) - start ))" >>/var/log/fresh-check/results
  [ "$code" -eq 0 ] || status=1
done
exit "$status"
INNER
)

say "running ${commands[*]} in the fresh root (HEAD ${head:0:12}; Node.js $node_version, npm $npm_version)"
started=$SECONDS
set +e
env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin TERM="${TERM:-dumb}" CI="${CI:-}" \
  ${NODE_EXTRA_CA_CERTS:+NODE_EXTRA_CA_CERTS="$NODE_EXTRA_CA_CERTS"} \
  timeout --signal=TERM --kill-after=30 "$TIMEOUT" \
  unshare --mount --pid --fork --kill-child=SIGKILL bash -c "$inner" fresh-check "$root" "${commands[@]}" &
inner_pid=$!
wait "$inner_pid"
status=$?
set -e
inner_pid=
elapsed=$((SECONDS - started))

# The lines of a command's output that say what went wrong: setup's errors, the demo's failed step, the test
# runner's failed tests with their error lines, podman's and apt's errors; else its last lines.
what_broke() {
  local found
  found=$(awk '
    /^setup: / && !/\[[0-9]\/[0-9]\]|setup: done/ { print; err = 3; next }
    /^The demo FAILED/ || /^Error: / || /^E: / { print; next }
    /^ *not ok .*# (TODO|SKIP)/ { todo = 1; next }
    /^ *(not )?ok / { todo = 0 }
    todo { next }
    /^ *not ok / { print; next }
    /^ *error: / { print; err = 3; next }
    err > 0 { print; err--; next }
  ' "$1" | tail -n 25)
  if [ -n "$found" ]; then printf '%s\n' "$found"; else tail -n 15 "$1"; fi
}

# --- Report ---------------------------------------------------------------------------------------------------
echo
say "results on a fresh Debian 12 root (total ${elapsed} s):"
failed=0
for cmd in "${commands[@]}"; do
  line=$(grep -s "^$cmd " "$root/var/log/fresh-check/results" || true)
  if [ -z "$line" ]; then
    say "  $cmd: did not finish (timeout after ${TIMEOUT} s or the run was stopped)"; failed=1; continue
  fi
  read -r _ code secs <<<"$line"
  if [ "$code" -eq 0 ]; then
    say "  $cmd: passed in ${secs} s"
  else
    failed=1
    say "  $cmd: FAILED (exit status $code after ${secs} s). What broke, from its output:"
    log=$root/var/log/fresh-check/$(basename "$cmd" .sh).log
    what_broke "$root/var/log/fresh-check/$(basename "$cmd" .sh).log" | sed 's/^/      /'
  fi
done
[ "$status" -eq 124 ] && { say "the run hit INCLAVARE_FRESH_TIMEOUT (${TIMEOUT} s)"; failed=1; }
if [ "$failed" -ne 0 ]; then
  say "FAILED: a command that works on this machine fails on a new one: a dependency the project's files do not install?"
  say "(keep the root for a look: --keep; its logs are in var/log/fresh-check/)"
  exit 1
fi
say "passed: both README commands work on a new machine"
