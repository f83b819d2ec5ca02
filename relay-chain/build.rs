//! Builds the relay runtime's Wasm blob, which relay genesis puts under `:code` (see
//! tessera-wasm-builder).
fn main() {
    tessera_wasm_builder::build_validation_function();
}
