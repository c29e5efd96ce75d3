#!/usr/bin/env bash
# The main job on a fresh machine: installs what is needed, then runs containers through rune under podman.
set -euo pipefail
cd "$(dirname "$0")/.."
[ "$(id -u)" -eq 0 ] || { echo "demo: podman and rune need root here; run it as root" >&2; exit 2; }
scripts/setup.sh
exec node --import tsx scripts/demo.ts
