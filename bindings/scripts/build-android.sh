#!/usr/bin/env bash
# Builds gridsync for Android: libgridsync_ffi.so for arm64-v8a, armeabi-v7a and x86_64
# (cargo-ndk; SQLCipher with OpenSSL built from source; the `mobile` profile: LTO, size,
# stripped; 16 KB page-aligned for Android 15+), the generated Kotlin bindings with the
# Flow adapters, and an Android library module in target/android/gridsync, with consumer
# R8 rules for JNA and a Maven publication. An app either includes the module:
#
#   settings.gradle.kts:  include(":gridsync"); project(":gridsync").projectDir = file("<repo>/target/android/gridsync")
#   app/build.gradle.kts: implementation(project(":gridsync"))
#
# or publishes the AAR to a Maven repository folder and depends on it by coordinates:
#
#   ./gradlew :gridsync:publishReleasePublicationToGridsyncRepository   # → <repo>/target/maven
#   repositories { maven { url = uri("<repo>/target/maven") } }
#   implementation("cn.gridsync:gridsync-android:<version>")
#
# Needs: ANDROID_NDK_HOME (NDK r26 or newer), rustup, cargo-ndk (installed if missing).
# Usage: bindings/scripts/build-android.sh [--debug]
set -euo pipefail
cd "$(dirname "$0")/../.."

: "${ANDROID_NDK_HOME:?set ANDROID_NDK_HOME to an Android NDK (r26 or newer)}"
profile=mobile
cargo_profile=(--profile mobile)
if [ "${1:-}" = "--debug" ]; then profile=debug; cargo_profile=(); fi
version=$(sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -1)
# Android 15 devices may use 16 KB pages: every LOAD segment aligned to 16 KB.
export RUSTFLAGS="${RUSTFLAGS:-} -C link-arg=-Wl,-z,max-page-size=16384"

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
    id("maven-publish")
}

android {
    namespace = "uniffi.gridsync_ffi"
    compileSdk = 35
    defaultConfig {
        minSdk = 24
        // Apps that minify keep what JNA and the bindings reach by reflection.
        consumerProguardFiles("consumer-rules.pro")
    }
    publishing { singleVariant("release") }
    compileOptions {
        sourceCompatibility = JavaVersion.VERSION_17
        targetCompatibility = JavaVersion.VERSION_17
    }
}

kotlin { jvmToolchain(17) }

dependencies {
    // uniffi's Kotlin bindings call the library through JNA.
    api("net.java.dev.jna:jna:5.14.0@aar")
    // The Flow adapters (GridsyncFlows.kt) and the suspend functions.
    api("org.jetbrains.kotlinx:kotlinx-coroutines-core:1.9.0")
}

publishing {
    publications {
        register<MavenPublication>("release") {
            groupId = "cn.gridsync"
            artifactId = "gridsync-android"
            version = "@VERSION@"
            afterEvaluate { from(components["release"]) }
        }
    }
    repositories { maven { name = "gridsync"; url = uri("@REPO@/target/maven") } }
}
GRADLE
sed -i "s|@VERSION@|$version|; s|@REPO@|$PWD|" "$module/build.gradle.kts"
cat > "$module/consumer-rules.pro" <<'PRO'
# JNA looks its classes and native callbacks up by name; R8 must not rename or remove them.
-keep class com.sun.jna.** { *; }
-keepclassmembers class * extends com.sun.jna.** { public *; }
# The uniffi bindings: structures and callback interfaces JNA reflects on.
-keep class uniffi.gridsync_ffi.** { *; }
-dontwarn java.awt.**
PRO
cat > "$module/src/main/AndroidManifest.xml" <<'XML'
<manifest />
XML
echo "Android library module: $module (version $version)"
for abi in arm64-v8a armeabi-v7a x86_64; do
  printf '%-12s %s bytes\n' "$abi" "$(stat -c %s "$module/src/main/jniLibs/$abi/libgridsync_ffi.so")"
done
