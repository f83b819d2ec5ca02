//! Tessera's state-transition framework.
//!
//! Everything a chain's logic needs, and nothing that does I/O, so the same code runs natively in
//! a node and as a Wasm validation function (`#![no_std]` + `alloc` without the `std` feature):
//!
//! - [`hashing`]: blake2b-256 [`Hash`] and the trie hasher;
//! - [`crypto`]: sr25519 [`AccountId`]s with SS58 text, signatures, batch verification, and
//!   (with `std`) Substrate-compatible key pairs from BIP39 phrases and `//hard/soft` paths;
//! - [`header`], [`block`], [`extrinsic`]: the chain's data, SCALE-encoded;
//! - [`trie`]: a Merkle-Patricia trie in Substrate's V1 node format on `trie-db`;
//! - [`state`]: state reads and writes over a trie with a nested-transaction overlay, proof
//!   recording, and proof-only re-execution;
//! - [`dispatch`], [`modules`], [`executive`]: the module model (calls, storage, events, origins,
//!   weights and fees), the shared `system`, `balances` and `sudo` modules, and block execution;
//! - [`parachain`]: para ids, heads, validation code, the validation function's parameters and
//!   result, candidate descriptors, commitments and receipts;
//! - [`metadata`], [`payment`]: what Substrate clients ask a runtime (its metadata, a
//!   transaction's fee);
//! - [`wasm`]: the ABI of Wasm validation functions (exports, host functions) and, in Wasm, its
//!   guest side.
//!
//! ```
//! use tessera_runtime::crypto::{AccountId, Ss58};
//! let alice: AccountId = "5GrwvaEF5zXb26Fz9rcQpDWS57CtERHpNehXCPcNoHGKutQY".parse().unwrap();
//! assert_eq!(alice.to_ss58(Ss58::DEFAULT_PREFIX), "5GrwvaEF5zXb26Fz9rcQpDWS57CtERHpNehXCPcNoHGKutQY");
//! ```
#![cfg_attr(not(feature = "std"), no_std)]
#![cfg_attr(
    not(test),
    deny(
        clippy::unwrap_used,
        clippy::expect_used,
        clippy::panic,
        clippy::indexing_slicing,
        clippy::arithmetic_side_effects
    )
)]

extern crate alloc;

pub mod block;
mod compose;
pub mod consensus;
pub mod crypto;
pub mod dispatch;
mod error;
pub mod executive;
pub mod extrinsic;
pub mod hashing;
pub mod header;
pub mod logging;
pub mod messaging;
pub mod metadata;
pub mod modules;
pub mod parachain;
pub mod payment;
pub mod state;
pub mod storage;
pub mod transaction_validity;
pub mod trie;
pub mod wasm;

pub use block::{Block, OpaqueExtrinsic};
pub use crypto::{AccountId, Signature};
pub use error::{Error, Result};
pub use hashing::Hash;
pub use header::{BlockNumber, Digest, DigestItem, Header};

/// Balance of an account, in the chain's smallest unit.
pub type Balance = u128;

/// Transaction counter of an account. 64 bits: an account starts at a number that grows with
/// the block where it was created ([`modules::system::initial_nonce`]).
pub type Nonce = u64;

/// Identifies a runtime's logic and encoding: signed payloads include `spec_version` and
/// `transaction_version`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, parity_scale_codec::Encode, scale_info::TypeInfo)]
pub struct RuntimeVersion {
    /// Name of the runtime, e.g. `tessera-relay`.
    pub spec_name: &'static str,
    /// Bumped whenever logic or encoding changes.
    pub spec_version: u32,
    /// Bumped whenever the encoding of calls or signed extensions changes, so that wallets
    /// holding transactions signed for the old one learn they are void (Substrate's).
    pub transaction_version: u32,
}
