#!/usr/bin/env bash
# Compiles the generated Kotlin bindings with the Kotlin scenario on the JVM (JNA) and
# runs it against the host library and a real center on loopback.
set -euo pipefail
cd "$(dirname "$0")/../.."
kotlinc=$(bindings/scripts/setup-kotlin.sh)
out=$(bindings/scripts/generate.sh) # also builds gridsync-center
build=target/kotlin-test
rm -rf "$build" && mkdir -p "$build"
# The bindings' scenario, and the Android demo's plain-Kotlin layer (no Android API).
# ZXing core: the demo reads the console's enrolment QR code with it.
libs=/usr/share/java/jna.jar:/usr/share/java/kotlinx-coroutines-core.jar:/usr/share/java/atomicfu.jar
libs=$libs:/usr/share/maven-repo/com/google/zxing/core/debian/core-debian.jar
"$kotlinc" -nowarn -cp "$libs" -d "$build/scenario.jar" \
  $(find "$out/kotlin" -name '*.kt') bindings/tests/kotlin/*.kt \
  android-demo/app/src/main/kotlin/cn/gridsync/demo/logic/*.kt android-demo/logic-test/*.kt \
  2>&1 | grep -v '^warning' >&2 || true
[ -f "$build/scenario.jar" ] || { echo "kotlin compilation failed" >&2; exit 1; }
runtime=$(dirname "$kotlinc")/../lib/kotlin-stdlib.jar
for main in ScenarioKt cn.gridsync.demo.test.LogicTestKt; do
  GRIDSYNC_CENTER_BIN="$PWD/target/debug/gridsync-center" \
    java -Djna.library.path="$PWD/$out/kotlin" -cp "$build/scenario.jar:$runtime:$libs" "$main"
done
