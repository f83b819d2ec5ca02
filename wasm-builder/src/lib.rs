//! Builds a para runtime crate into its Wasm validation function, from the crate's `build.rs`
//! (whose `main` calls [`build_validation_function`]) and, in the crate, with the `std` feature:
//!
//! ```ignore
//! pub const WASM_BINARY: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/validation.wasm"));
//! ```
//!
//! The crate is compiled again, without default features, for `wasm32-unknown-unknown` as a
//! `cdylib` by `scripts/build-wasm.sh` (rustup's target where installed, else Debian's
//! `rustc-web` with `-Zbuild-std`), optimized and without debug info, in `<target>/wasm`.

use std::env;
use std::path::{Path, PathBuf};
use std::process::Command;

/// File name of the blob in `OUT_DIR`.
pub const OUTPUT_FILE: &str = "validation.wasm";

/// Builds the calling crate's Wasm blob into `$OUT_DIR/validation.wasm`; panics (failing the
/// build with the reason) if it cannot.
pub fn build_validation_function() {
    // The nested Wasm build runs this build script too; there it has nothing to do.
    if env::var("CARGO_CFG_TARGET_ARCH").as_deref() == Ok("wasm32") {
        return;
    }
    let crate_dir = PathBuf::from(required_var("CARGO_MANIFEST_DIR"));
    let out_dir = PathBuf::from(required_var("OUT_DIR"));
    build_runtime(&crate_dir, &[], &out_dir.join(OUTPUT_FILE));
}

/// Builds the runtime crate at `crate_dir` (a workspace member) with `features` into its Wasm
/// blob at `output`, from any build script: how a binary carries a runtime as data without
/// linking its code. Panics (failing the build with the reason) if it cannot.
pub fn build_runtime(crate_dir: &Path, features: &[&str], output: &Path) {
    let crate_name = cargo_package_name(crate_dir).replace('-', "_");
    let repo_root = workspace_root(crate_dir);
    let script = repo_root.join("scripts/build-wasm.sh");
    let target_dir = env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo_root.join("target"))
        .join("wasm");

    // Builds of one crate with other features write the same file: build and copy under a
    // lock, so a concurrent build script cannot swap the blob in between.
    std::fs::create_dir_all(&target_dir)
        .unwrap_or_else(|err| panic!("cannot create {}: {err}", target_dir.display()));
    let lock_path = target_dir.join(".tessera-wasm-builder.lock");
    let lock = std::fs::File::create(&lock_path)
        .unwrap_or_else(|err| panic!("cannot create {}: {err}", lock_path.display()));
    lock.lock()
        .unwrap_or_else(|err| panic!("cannot lock {}: {err}", lock_path.display()));

    let mut command = Command::new("bash");
    command
        .arg(&script)
        .arg(crate_dir)
        .args(["--release", "--no-default-features", "--lib"]);
    if !features.is_empty() {
        command.args(["--features", &features.join(",")]);
    }
    let status = command
        .args(["--crate-type", "cdylib"])
        // Small, fast code: no debug info in the blob, whole-program optimization.
        .args(["--config", "profile.release.debug=false"])
        .args(["--config", "profile.release.strip=\"debuginfo\""])
        .args(["--config", "profile.release.lto=true"])
        .args(["--config", "profile.release.codegen-units=1"])
        .env("WASM_TARGET_DIR", &target_dir)
        .status()
        .unwrap_or_else(|err| panic!("cannot run {}: {err}", script.display()));
    if !status.success() {
        panic!(
            "building {crate_name} for wasm32-unknown-unknown failed ({status}); see the \
             messages above"
        );
    }
    let blob = target_dir.join(format!("wasm32-unknown-unknown/release/{crate_name}.wasm"));
    std::fs::copy(&blob, output)
        .unwrap_or_else(|err| panic!("cannot copy {}: {err}", blob.display()));
    drop(lock);

    // The blob is rebuilt when the runtime crate or any of our no_std crates it builds on
    // changes; a crate missing here leaves a stale blob that disagrees with native execution.
    for path in [
        crate_dir.to_path_buf(),
        repo_root.join("runtime"),
        repo_root.join("xcm"),
        script,
    ] {
        println!("cargo:rerun-if-changed={}", path.display());
    }
    println!(
        "cargo:rerun-if-changed={}",
        repo_root.join("Cargo.lock").display()
    );
}

/// The checkout `crate_dir` belongs to: the nearest directory above it with
/// `scripts/build-wasm.sh`. Found from the crate, not from where this library was compiled:
/// one target directory may serve several checkouts, and Cargo would reuse this library
/// across them.
fn workspace_root(crate_dir: &Path) -> PathBuf {
    crate_dir
        .ancestors()
        .find(|dir| dir.join("scripts/build-wasm.sh").is_file())
        .map(Path::to_path_buf)
        .unwrap_or_else(|| panic!("no scripts/build-wasm.sh above {}", crate_dir.display()))
}

fn required_var(name: &str) -> String {
    env::var(name).unwrap_or_else(|_| panic!("{name} is not set: call this from a build script"))
}

/// The `name` of the package whose manifest is in `crate_dir`.
fn cargo_package_name(crate_dir: &Path) -> String {
    let manifest = crate_dir.join("Cargo.toml");
    let text = std::fs::read_to_string(&manifest)
        .unwrap_or_else(|err| panic!("cannot read {}: {err}", manifest.display()));
    text.lines()
        .skip_while(|line| line.trim() != "[package]")
        .find_map(|line| {
            let (key, value) = line.split_once('=')?;
            (key.trim() == "name").then(|| value.trim().trim_matches('"').to_string())
        })
        .unwrap_or_else(|| panic!("no package name in {}", manifest.display()))
}
