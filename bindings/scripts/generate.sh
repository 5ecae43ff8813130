#!/usr/bin/env bash
# Builds gridsync-ffi for this host and generates its Kotlin, Swift and Python bindings
# in library mode: target/bindings/{kotlin,swift,python}. The Python and Kotlin folders
# get a copy of the host library so tests can load it.
# Usage: bindings/scripts/generate.sh [--release]
set -euo pipefail
cd "$(dirname "$0")/../.."

profile=debug
if [ "${1:-}" = "--release" ]; then profile=release; fi
cargo build -q -p gridsync-ffi $([ "$profile" = release ] && echo --release)
case "$(uname -s)" in
  Darwin) lib="target/$profile/libgridsync_ffi.dylib" ;;
  *) lib="target/$profile/libgridsync_ffi.so" ;;
esac
out=target/bindings
rm -rf "$out"
for language in kotlin swift python; do
  cargo run -q -p gridsync-ffi --bin uniffi-bindgen -- \
    generate --library "$lib" --language "$language" --out-dir "$out/$language" >/dev/null
done
cp "$lib" "$out/python/"
cp "$lib" "$out/kotlin/"
echo "$out"
