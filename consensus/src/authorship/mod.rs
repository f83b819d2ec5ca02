//! BABE-like block authorship.
//!
//! Time is cut into slots and slots into epochs. In each slot every authority evaluates the
//! schnorrkel VRF on (epoch randomness, slot, epoch index); it is a *primary* author when the
//! output is below a threshold set by `c` (default 1/4) and its weight, using BABE's
//! `p = 1 - (1 - c)^(weight / total)`. Otherwise one *secondary* author, picked round-robin by
//! `blake2(randomness ++ slot) mod n`, keeps the slot from going empty. The engine outputs
//! [`Output::AuthorBlock`] with the pre-digest; the node builds, seals ([`seal_header`]) and
//! imports the block. Import checks the slot (not in the future, after the parent's), the VRF
//! proof and threshold or the secondary assignment, and the seal. The first block of each epoch
//! carries the next epoch's authorities and randomness (a `NextEpochData` consensus log, which
//! the runtime deposits and execution checks), so the authority set follows the chain. Fork choice prefers the chain
//! with the most primary blocks, then the longest, and never leaves the finalized chain. Two
//! headers by one author in one slot are reported as an [`AuthorEquivocation`].

mod config;
mod digest;
mod engine;
mod epoch;
mod error;
mod vrf;

pub use config::{primary_threshold, AuthorshipConfig};
pub use digest::{pre_seal_hash, seal_header, split_seal, PreDigest, ENGINE_ID};
pub use engine::{
    AuthorEquivocation, AuthorshipEngine, AuthorshipStats, BlockData, CheckedHeader, Input, Output,
};
pub use epoch::{EpochAuthorities, EpochData};
pub use error::ImportError;
pub use vrf::{claim_primary, secondary_author, verify_primary, vrf_transcript, VrfResult};
