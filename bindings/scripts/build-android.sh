#!/usr/bin/env bash
# Builds gridsync for Android: libgridsync_ffi.so for arm64-v8a, armeabi-v7a and x86_64
# (cargo-ndk; SQLCipher with OpenSSL built from source), the generated Kotlin bindings,
# and an Android library module in target/android/gridsync that an app includes:
#
#   settings.gradle.kts:  include(":gridsync"); project(":gridsync").projectDir = file("<repo>/target/android/gridsync")
#   app/build.gradle.kts: implementation(project(":gridsync"))
#
# Needs: ANDROID_NDK_HOME (NDK r26 or newer), rustup, cargo-ndk (installed if missing).
# Usage: bindings/scripts/build-android.sh [--debug]
set -euo pipefail
cd "$(dirname "$0")/../.."

: "${ANDROID_NDK_HOME:?set ANDROID_NDK_HOME to an Android NDK (r26 or newer)}"
profile=release
cargo_profile=(--release)
if [ "${1:-}" = "--debug" ]; then profile=debug; cargo_profile=(); fi

rustup target add aarch64-linux-android armv7-linux-androideabi x86_64-linux-android
command -v cargo-ndk >/dev/null || cargo install cargo-ndk --locked

module=target/android/gridsync
rm -rf "$module"
mkdir -p "$module/src/main/jniLibs" "$module/src/main/kotlin"
cargo ndk --platform 24 -t arm64-v8a -t armeabi-v7a -t x86_64 -o "$module/src/main/jniLibs" \
  build -p gridsync-ffi --features vendored-openssl "${cargo_profile[@]}"

# Library mode reads the interface from any one of the built libraries.
cargo run -q -p gridsync-ffi --bin uniffi-bindgen -- generate \
  --library "target/aarch64-linux-android/$profile/libgridsync_ffi.so" \
  --language kotlin --out-dir "$module/src/main/kotlin"
# The Flow adapters ship with the library (bindings/kotlin/).
cp bindings/kotlin/*.kt "$module/src/main/kotlin/uniffi/gridsync_ffi/"

cat > "$module/build.gradle.kts" <<'GRADLE'
plugins {
    id("com.android.library")
    id("org.jetbrains.kotlin.android")
}

android {
    namespace = "uniffi.gridsync_ffi"
    compileSdk = 35
    defaultConfig { minSdk = 24 }
    compileOptions {
        sourceCompatibility = JavaVersion.VERSION_17
        targetCompatibility = JavaVersion.VERSION_17
    }
}

kotlin { jvmToolchain(17) }

dependencies {
    // uniffi's Kotlin bindings call the library through JNA.
    api("net.java.dev.jna:jna:5.14.0@aar")
}
GRADLE
cat > "$module/src/main/AndroidManifest.xml" <<'XML'
<manifest />
XML
echo "Android library module: $module"
