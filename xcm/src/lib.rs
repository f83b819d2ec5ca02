//! Tessera's cross-consensus messages: the XCM v5 data model, wire-compatible with Polkadot,
//! and its executor.
//!
//! Empty until the XCM issue fills it; the crate exists so the workspace map in `docs/layout.md`
//! holds from the first commit and dependencies can point at it.
#![no_std]
