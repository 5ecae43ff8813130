#!/usr/bin/env bash
# Installs what the Kotlin/JVM test needs, idempotently, outside the repository: the JVM
# Kotlin compiler from the npm package `kotlin-compiler` (cached in
# ~/.cache/gridsync/kotlin), JNA from Debian's libjna-java and kotlinx.coroutines (the
# async exports' suspend functions need it, with the atomicfu it runs on) from
# libkotlinx-coroutines-java and libkotlinx-atomicfu-java, and ZXing's core from
# libzxing-core-java (the Android demo reads the enrolment QR code with it). Prints the
# kotlinc path.
set -euo pipefail
cache="${GRIDSYNC_CACHE:-$HOME/.cache/gridsync}/kotlin"
kotlinc="$cache/node_modules/kotlin-compiler/bin/kotlinc"
if [ ! -x "$kotlinc" ]; then
  mkdir -p "$cache"
  (cd "$cache" && npm install --silent --no-audit --no-fund kotlin-compiler@2.4 >&2)
fi
if [ ! -f /usr/share/java/jna.jar ] || [ ! -f /usr/share/java/kotlinx-coroutines-core.jar ] ||
  [ ! -f /usr/share/java/atomicfu.jar ] || [ ! -f /usr/share/maven-repo/com/google/zxing/core/debian/core-debian.jar ]; then
  sudo_cmd=""
  [ "$(id -u)" -eq 0 ] || sudo_cmd="sudo"
  $sudo_cmd apt-get update -qq >&2
  DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq libjna-java libkotlinx-coroutines-java libkotlinx-atomicfu-java \
    libzxing-core-java >&2
fi
command -v java >/dev/null || { echo "setup-kotlin: a JDK (java) is required" >&2; exit 1; }
echo "$kotlinc"
