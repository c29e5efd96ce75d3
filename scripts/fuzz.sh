#!/bin/sh
# Fuzzes the parsers of untrusted bytes (docs/security.md, "Fuzzing"). Usage: scripts/fuzz.sh --help
# Long runs share the machine: run them under `nice -n 19`.
set -e
cd "$(dirname "$0")/.."
exec node --expose-gc --max-old-space-size=2048 --import tsx scripts/fuzz.ts "$@"
