//! The parachain validity protocol as sans-io state machines: a para's backing group vouches
//! for a candidate, validators hold its chunks until it is available, and after a relay block
//! includes it, secretly and randomly assigned validators re-check it; the block counts as
//! approved only once enough of them did.
//!
//! - [`backing`]: backers' statements and validators' availability bitfields, checked and
//!   bounded, and which candidates a block author may propose;
//! - [`assignment`]: who checks what, and when: relay-VRF-modulo assignments in tranche 0 and
//!   delay assignments in later tranches, computed from a validator's own VRF key and the
//!   including block's VRF story, and checked from the public key alone;
//! - [`tranches`]: when a candidate is approved, tranche by tranche, with no-shows covered by
//!   later checkers;
//! - [`engine`]: one validator's approval voting: blocks, assignments and approvals in; what to
//!   check and send, what was found invalid, and which blocks are approved, out;
//! - [`disputes`]: once a validator says a candidate is invalid, everyone checks and votes, and
//!   more than two thirds conclude it; bounded per validator;
//! - [`recovery`]: rebuilding a candidate's available data from its backers or from chunks,
//!   judging every answer against the erasure root;
//! - `sim` (feature `simulator`): a seeded network of hundreds of validators running the engine,
//!   with message delay and loss, no-shows and byzantine checkers.
//!
//! Like `tessera-consensus`, nothing here does I/O: an engine has
//! `fn handle(&mut self, input: Input) -> Vec<Output>`, and time arrives as `Input::Tick`.
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

pub mod assignment;
pub mod backing;
pub mod disputes;
pub mod engine;
pub mod recovery;
#[cfg(feature = "simulator")]
pub mod sim;
pub mod tranches;

pub use tessera_relay_chain::ApprovalConfig;

use parity_scale_codec::{Decode, Encode};

/// A validator's position in the session's validator list.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Encode, Decode)]
pub struct ValidatorIndex(pub u32);

/// An availability core (one para's slot for a candidate in a relay block).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Encode, Decode)]
pub struct CoreIndex(pub u32);

/// A delay tranche: tranche `t` of a block starts `t` tranche lengths after the block's slot.
pub type DelayTranche = u32;
