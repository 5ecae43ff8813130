#!/usr/bin/env bash
# Builds gridsync for iOS on a Mac: static libraries for devices (arm64) and the
# simulator (arm64 + x86_64) with the `mobile` profile (LTO, size, stripped), an
# XCFramework, the generated Swift bindings with the AsyncStream adapters, and a Swift
# package in target/ios/GridsyncFFI that an app adds with "Add Local Package…". It also
# zips the XCFramework with its SwiftPM checksum for a binary target
# (target/ios/release/), to publish at a URL of the team's choosing.
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
  cargo build -p gridsync-ffi --profile mobile --target "$target"
done

package=target/ios/GridsyncFFI
rm -rf "$package"
mkdir -p "$package/Sources/GridsyncFFI" "$package/include" target/ios/simulator
lipo -create \
  target/aarch64-apple-ios-sim/mobile/libgridsync_ffi.a \
  target/x86_64-apple-ios/mobile/libgridsync_ffi.a \
  -output target/ios/simulator/libgridsync_ffi.a

cargo run -q -p gridsync-ffi --bin uniffi-bindgen -- generate \
  --library target/aarch64-apple-ios/mobile/libgridsync_ffi.a \
  --language swift --out-dir target/ios/generated
mv target/ios/generated/*.swift "$package/Sources/GridsyncFFI/"
# The AsyncStream adapters ship with the package (bindings/swift/).
cp bindings/swift/*.swift "$package/Sources/GridsyncFFI/"
cp target/ios/generated/*.h "$package/include/"
# The XCFramework's headers need a module map named module.modulemap.
cp target/ios/generated/gridsync_ffiFFI.modulemap "$package/include/module.modulemap"

xcodebuild -create-xcframework \
  -library target/aarch64-apple-ios/mobile/libgridsync_ffi.a -headers "$package/include" \
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

# For a release: the XCFramework zipped, with the checksum SwiftPM verifies, and the
# binary target to paste into a published Package.swift (the URL is where the team
# uploads the zip).
version=$(sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -1)
release=target/ios/release
rm -rf "$release" && mkdir -p "$release"
(cd "$package" && zip -qry "../release/gridsync_ffiFFI-$version.xcframework.zip" gridsync_ffiFFI.xcframework)
checksum=$(swift package compute-checksum "$release/gridsync_ffiFFI-$version.xcframework.zip")
cat > "$release/binaryTarget.swift" <<SWIFT
.binaryTarget(
    name: "gridsync_ffiFFI",
    url: "https://<your release host>/gridsync_ffiFFI-$version.xcframework.zip",
    checksum: "$checksum"
),
SWIFT
echo "XCFramework zip: $release/gridsync_ffiFFI-$version.xcframework.zip (checksum $checksum)"
ls -l target/aarch64-apple-ios/mobile/libgridsync_ffi.a
