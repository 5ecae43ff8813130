#!/usr/bin/env bash
# Builds gridsync-ffi for this host and generates its Kotlin, Swift and Python bindings
# in library mode: target/bindings/{kotlin,swift,python}. The Python and Kotlin folders
# get a copy of the host library so tests can load it.
# Usage: bindings/scripts/generate.sh [--release]
set -euo pipefail
cd "$(dirname "$0")/../.."

profile=debug
if [ "${1:-}" = "--release" ]; then profile=release; fi
# The whole workspace in one build (library, uniffi-bindgen, gridsync-center for the
# tests): building crates one by one resolves features anew and compiles twice.
cargo build -q --workspace --locked $([ "$profile" = release ] && echo --release)
case "$(uname -s)" in
  Darwin) lib="target/$profile/libgridsync_ffi.dylib" ;;
  *) lib="target/$profile/libgridsync_ffi.so" ;;
esac
out=target/bindings
rm -rf "$out"
for language in kotlin swift python; do
  "target/$profile/uniffi-bindgen" generate --library "$lib" --language "$language" --out-dir "$out/$language" >/dev/null
done
cp "$lib" "$out/python/"
cp "$lib" "$out/kotlin/"
echo "$out"
