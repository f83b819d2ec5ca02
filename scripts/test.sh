#!/usr/bin/env bash
# Runs the whole test suite in one build and ends with one line totalling every test binary.
set -euo pipefail
log=$(mktemp)
trap 'rm -f "$log"' EXIT
cargo test --workspace 2>&1 | tee "$log"
awk '/^test result:/ { passed += $4; failed += $6 }
     END { printf "Total: %d passed, %d failed\n", passed, failed }' "$log"
