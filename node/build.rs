//! Builds the two dev paras' Wasm (the parachain template and the example para) into
//! `OUT_DIR`, so `tessera dev` carries them as data: the node links no para's code and runs
//! these paras from their Wasm as it runs any other.
use std::path::{Path, PathBuf};

fn main() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let out_dir = PathBuf::from(std::env::var("OUT_DIR").expect("cargo sets OUT_DIR"));
    for (crate_dir, blob) in [
        ("parachain-template/runtime", "template.wasm"),
        ("example-parachain/runtime", "example.wasm"),
    ] {
        tessera_wasm_builder::build_runtime(&root.join(crate_dir), &out_dir.join(blob));
    }
}
