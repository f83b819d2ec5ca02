//! Builds the two dev paras' Wasm (the parachain template and the example para) into
//! `OUT_DIR`, so `tessera dev` carries them as data: the node links no para's code and runs
//! these paras from their Wasm as it runs any other. Also builds the template's next version
//! (feature `next-version`) for the upgrade tests, whose path is `TEMPLATE_NEXT_WASM`, and the
//! relay runtime's (`RELAY_NEXT_WASM`).
use std::path::{Path, PathBuf};

fn main() {
    // Read when the script runs, not when it was compiled: one target directory may serve
    // several checkouts (Cargo hashes workspace paths relative to the workspace), and a
    // compile-time path would build another checkout's runtimes.
    let manifest_dir = std::env::var("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR");
    let root = Path::new(&manifest_dir).join("..");
    let out_dir = PathBuf::from(std::env::var("OUT_DIR").expect("cargo sets OUT_DIR"));
    let template = root.join("parachain-template/runtime");
    let build = tessera_wasm_builder::build_runtime;
    build(&template, &[], &out_dir.join("template.wasm"));
    build(
        &root.join("example-parachain/runtime"),
        &[],
        &out_dir.join("example.wasm"),
    );
    let next = out_dir.join("template-next.wasm");
    build(&template, &["next-version"], &next);
    println!("cargo:rustc-env=TEMPLATE_NEXT_WASM={}", next.display());
    let relay_next = out_dir.join("relay-next.wasm");
    build(&root.join("relay-chain"), &["next-version"], &relay_next);
    println!("cargo:rustc-env=RELAY_NEXT_WASM={}", relay_next.display());
}
