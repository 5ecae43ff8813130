#!/usr/bin/env bash
# Installs what the Kotlin/JVM test needs, idempotently, outside the repository: the JVM
# Kotlin compiler from the npm package `kotlin-compiler` (cached in
# ~/.cache/gridsync/kotlin) and JNA from Debian's libjna-java. Prints the kotlinc path.
set -euo pipefail
cache="${GRIDSYNC_CACHE:-$HOME/.cache/gridsync}/kotlin"
kotlinc="$cache/node_modules/kotlin-compiler/bin/kotlinc"
if [ ! -x "$kotlinc" ]; then
  mkdir -p "$cache"
  (cd "$cache" && npm install --silent --no-audit --no-fund kotlin-compiler@2.4 >&2)
fi
if [ ! -f /usr/share/java/jna.jar ]; then
  sudo_cmd=""
  [ "$(id -u)" -eq 0 ] || sudo_cmd="sudo"
  $sudo_cmd apt-get update -qq >&2
  DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq libjna-java >&2
fi
command -v java >/dev/null || { echo "setup-kotlin: a JDK (java) is required" >&2; exit 1; }
echo "$kotlinc"
