//! The parachain template: a runtime built from `tessera-runtime` modules, compiled natively
//! for the collator and to Wasm as the validation function.
//!
//! Empty until the parachains issue fills it.
