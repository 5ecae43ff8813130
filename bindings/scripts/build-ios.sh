#!/usr/bin/env bash
# Builds gridsync for iOS on a Mac: static libraries for devices (arm64) and the
# simulator (arm64 + x86_64), an XCFramework, the generated Swift bindings, and a Swift
# package in target/ios/GridsyncFFI that an app adds with "Add Local Package…".
# SQLCipher uses CommonCrypto on Apple targets (no OpenSSL).
#
# Needs: macOS with Xcode (xcodebuild, lipo), rustup.
# Usage: bindings/scripts/build-ios.sh
set -euo pipefail
cd "$(dirname "$0")/../.."
[ "$(uname -s)" = Darwin ] || { echo "build-ios.sh runs on macOS with Xcode" >&2; exit 1; }

targets=(aarch64-apple-ios aarch64-apple-ios-sim x86_64-apple-ios)
rustup target add "${targets[@]}"
for target in "${targets[@]}"; do
  cargo build -p gridsync-ffi --release --target "$target"
done

package=target/ios/GridsyncFFI
rm -rf "$package"
mkdir -p "$package/Sources/GridsyncFFI" "$package/include" target/ios/simulator
lipo -create \
  target/aarch64-apple-ios-sim/release/libgridsync_ffi.a \
  target/x86_64-apple-ios/release/libgridsync_ffi.a \
  -output target/ios/simulator/libgridsync_ffi.a

cargo run -q -p gridsync-ffi --bin uniffi-bindgen -- generate \
  --library target/aarch64-apple-ios/release/libgridsync_ffi.a \
  --language swift --out-dir target/ios/generated
mv target/ios/generated/*.swift "$package/Sources/GridsyncFFI/"
# The AsyncStream adapters ship with the package (bindings/swift/).
cp bindings/swift/*.swift "$package/Sources/GridsyncFFI/"
cp target/ios/generated/*.h "$package/include/"
# The XCFramework's headers need a module map named module.modulemap.
cp target/ios/generated/gridsync_ffiFFI.modulemap "$package/include/module.modulemap"

xcodebuild -create-xcframework \
  -library target/aarch64-apple-ios/release/libgridsync_ffi.a -headers "$package/include" \
  -library target/ios/simulator/libgridsync_ffi.a -headers "$package/include" \
  -output "$package/gridsync_ffiFFI.xcframework"
rm -rf "$package/include"

cat > "$package/Package.swift" <<'SWIFT'
// swift-tools-version:5.9
import PackageDescription

let package = Package(
    name: "GridsyncFFI",
    platforms: [.iOS(.v15)],
    products: [.library(name: "GridsyncFFI", targets: ["GridsyncFFI"])],
    targets: [
        .binaryTarget(name: "gridsync_ffiFFI", path: "gridsync_ffiFFI.xcframework"),
        .target(
            name: "GridsyncFFI",
            dependencies: ["gridsync_ffiFFI"],
            path: "Sources/GridsyncFFI",
            linkerSettings: [.linkedFramework("Security")]
        ),
    ]
)
SWIFT
echo "Swift package: $package"
