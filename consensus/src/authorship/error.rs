//! Why a header was not imported.

use tessera_runtime::{BlockNumber, Hash};

/// A header that fails the authorship import checks.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ImportError {
    /// The parent is not imported (or was pruned as a dead fork).
    #[error("unknown parent {0}")]
    UnknownParent(Hash),
    /// At or below the finalized height: it can never become best.
    #[error("block number {0} is not above the finalized block")]
    BelowFinalized(BlockNumber),
    /// No (well-formed) BABE pre-digest.
    #[error("missing or malformed pre-digest")]
    MissingPreDigest,
    /// No BABE seal as the last digest item.
    #[error("missing or malformed seal")]
    MissingSeal,
    /// The seal signature does not verify under the author's key.
    #[error("bad seal signature")]
    BadSeal,
    /// The slot is later than the current slot.
    #[error("slot {slot} is in the future (now {now})")]
    FutureSlot {
        /// The header's slot.
        slot: u64,
        /// The current slot.
        now: u64,
    },
    /// The slot is not after the parent's slot.
    #[error("slot {slot} does not follow the parent's slot {parent}")]
    SlotNotIncreasing {
        /// The header's slot.
        slot: u64,
        /// The parent's slot.
        parent: u64,
    },
    /// The number is not the parent's plus one.
    #[error("bad block number")]
    BadNumber,
    /// No authority with this index.
    #[error("no authority at index {0}")]
    UnknownAuthority(u32),
    /// The first block of an epoch without the next epoch's descriptor.
    #[error("the first block of epoch {0} does not announce the next epoch")]
    MissingEpochDescriptor(u64),
    /// A next-epoch descriptor in a block that does not start an epoch.
    #[error("a next-epoch descriptor in a block that starts no epoch")]
    UnexpectedEpochDescriptor,
    /// A next-epoch descriptor without authorities.
    #[error("the next epoch is announced without authorities")]
    NoNextAuthorities,
    /// A consensus log that does not decode, or is repeated.
    #[error(transparent)]
    Digest(#[from] tessera_runtime::consensus::DigestError),
    /// The VRF proof does not verify.
    #[error("bad VRF proof")]
    BadVrf,
    /// The VRF output is not below the author's threshold.
    #[error("VRF output above the threshold")]
    AboveThreshold,
    /// A secondary claim by someone who is not the slot's secondary author.
    #[error("authority {got} is not the secondary author {expected:?} of the slot")]
    NotSecondaryAuthor {
        /// The claimed author.
        got: u32,
        /// The slot's secondary author.
        expected: Option<u32>,
    },
    /// More blocks above the finalized one than slots have passed since it.
    #[error("block number {number} is impossible by slot {slot} (at most {max})")]
    ImpossibleNumber {
        /// The header's number.
        number: BlockNumber,
        /// The header's slot.
        slot: u64,
        /// The highest number that slot allows.
        max: BlockNumber,
    },
}
