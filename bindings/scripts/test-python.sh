#!/usr/bin/env bash
# Runs the Python scenario against the host library and a real center on loopback.
set -euo pipefail
cd "$(dirname "$0")/../.."
out=$(bindings/scripts/generate.sh) # also builds gridsync-center
GRIDSYNC_PYTHON_BINDINGS="$PWD/$out/python" GRIDSYNC_CENTER_BIN="$PWD/target/debug/gridsync-center" \
  python3 bindings/tests/python/test_scenario.py
