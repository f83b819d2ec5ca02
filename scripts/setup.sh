#!/usr/bin/env bash
# Installs what Tessera needs from Debian, once: safe to run any number of times.
#   librocksdb-dev  RocksDB 7.8, linked instead of building the bundled C++ (docs/adr/001-rocksdb.md)
#   libclang-dev    bindgen, for RocksDB's C API bindings
#   rustc-web cargo-web rust-web-src lld
#                   a toolchain with the standard library's source, to build no_std crates for
#                   wasm32-unknown-unknown with -Zbuild-std (shared DESIGN.md, "Wasm build")
set -euo pipefail

packages=(librocksdb-dev libclang-dev rustc-web cargo-web rust-web-src lld)
missing=()
for package in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" \
    || missing+=("$package")
done

if ! command -v cargo >/dev/null; then
  echo "error: cargo not found: install Rust (https://rustup.rs) first." >&2
  exit 1
fi

if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi

source "$(dirname "$0")/apt-install.sh"
apt_install "${missing[@]}"
