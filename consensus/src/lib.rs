//! Block authorship (BABE-like VRF slots) and finality (GRANDPA-like) as sans-io state
//! machines: ticks, imported headers and messages in; actions out.
//!
//! - [`authorship`]: who may author in each slot (VRF lottery or round-robin secondary),
//!   header pre-digests and seals, import checks, epoch randomness, fork choice, and author
//!   equivocation reports;
//! - [`finality`]: rounds of prevotes and precommits over the block tree, justifications that
//!   verify on their own, catch-up, voter equivocation reports, and a voting-rule hook;
//! - [`BlockTree`], [`AuthorityKey`], [`SignatureVerifier`]: what both engines share;
//! - `sim` (feature `simulator`): a seeded, deterministic network of nodes running both
//!   engines, with latency, loss, partitions and byzantine behaviours.
//!
//! Engines own no I/O: each has `fn handle(&mut self, input: Input) -> Vec<Output>`, and time
//! arrives as `Input::Tick`.
//!
//! ```
//! use tessera_consensus::finality::{verify_justification, AuthoritySet};
//! use tessera_consensus::AuthorityKey;
//! let keys: Vec<_> = (0..4).map(AuthorityKey::from_index).collect();
//! let set = AuthoritySet::equal(0, keys.iter().map(|k| k.public())).unwrap();
//! assert_eq!(set.threshold(), 3);
//! ```
#![forbid(unsafe_code)]
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

pub mod authorship;
mod block_tree;
pub mod codec;
pub mod finality;
mod keys;
#[cfg(feature = "simulator")]
pub mod sim;
#[cfg(any(test, feature = "simulator"))]
pub mod test_headers;
mod verify;

pub use block_tree::{BlockTree, TreeError};
pub use keys::AuthorityKey;
pub use verify::{verify_checks, BatchVerifier, SignatureCheck, SignatureVerifier};

/// A peer on the network, as the node numbers them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct PeerId(pub u64);
