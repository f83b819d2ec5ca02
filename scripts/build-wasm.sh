#!/usr/bin/env bash
# Builds a no_std crate for wasm32-unknown-unknown:
#   scripts/build-wasm.sh CRATE_DIR [cargo rustc args]
# CRATE_DIR is absolute or relative to the repository root. Para runtimes call it from their build
# scripts through tessera-wasm-builder; `make wasm` calls it to check that the runtime is no_std.
#
# Route 1: a rustup toolchain with the wasm32-unknown-unknown target.
# Route 2: Debian's rustc-web/cargo-web/rust-web-src (installed by scripts/setup.sh), building
#          core and alloc from source with -Zbuild-std (see shared DESIGN.md, "Wasm build").
set -euo pipefail
crate_dir=${1:?usage: build-wasm.sh CRATE_DIR [cargo args]}
shift
root=$(cd "$(dirname "$0")/.." && pwd)
target_dir=${WASM_TARGET_DIR:-${CARGO_TARGET_DIR:-$root/target}/wasm}
manifest=$crate_dir/Cargo.toml
[[ $crate_dir == /* ]] || manifest=$root/$crate_dir/Cargo.toml

# A nested build (from a build script) must not see the outer cargo's variables, or it rebuilds
# with the wrong compiler and flags every time.
unset $(env | awk -F= '/^(CARGO_|RUSTC|RUSTFLAGS|RUSTDOC)/ && $1 != "CARGO_HOME" {print $1}') 2>/dev/null || true

if rustup target list --installed 2>/dev/null | grep -qx wasm32-unknown-unknown; then
  exec cargo rustc --manifest-path "$manifest" --target wasm32-unknown-unknown \
    --target-dir "$target_dir" "$@"
fi

if [ -x /usr/bin/cargo ] && [ -x /usr/bin/rustc ] && [ -d /usr/lib/rustlib/src/rust/library ]; then
  export RUSTC=/usr/bin/rustc RUSTC_BOOTSTRAP=1
  # Debian's rustc has no rust-lld; lld's wasm-ld links the same way.
  exec /usr/bin/cargo rustc --manifest-path "$manifest" \
    -Zbuild-std=core,alloc --target wasm32-unknown-unknown --target-dir "$target_dir" \
    --config 'target.wasm32-unknown-unknown.linker="wasm-ld"' "$@"
fi

cat >&2 <<MSG
error: cannot build for wasm32-unknown-unknown.
  Either add the target to your rustup toolchain:   rustup target add wasm32-unknown-unknown
  or install Debian's Rust with its library source: apt-get install rustc-web cargo-web rust-web-src lld
  (scripts/setup.sh does the latter).
MSG
exit 1
