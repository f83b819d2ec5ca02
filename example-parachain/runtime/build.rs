//! Builds this runtime's Wasm validation function (see tessera-wasm-builder).
fn main() {
    tessera_wasm_builder::build_validation_function();
}
