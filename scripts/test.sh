#!/usr/bin/env bash
# The whole test suite on a fresh machine: installs what is needed, then type-check, lint, build and every
# test (unit, integration with runc, end-to-end with podman, containerd and CRI).
set -euo pipefail
cd "$(dirname "$0")/.."
[ "$(id -u)" -eq 0 ] || { echo "test: the end-to-end tests drive runc, podman and containerd and must run as root" >&2; exit 2; }
scripts/setup.sh
npm test
