//! Why a finality message from a peer was rejected (a reason to lower its reputation).

use super::justification::JustificationError;
use tessera_runtime::{AccountId, BlockNumber, Hash};

/// A finality message that breaks the protocol.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum MessageError {
    /// A vote by someone outside the authority set.
    #[error("vote by {0}, who is not an authority of this set")]
    UnknownVoter(AccountId),
    /// A vote whose signature does not verify.
    #[error("vote signature by {0} does not verify")]
    BadSignature(AccountId),
    /// A vote naming a known block with the wrong number.
    #[error("vote for {hash} claims number {claimed}, the block has {actual}")]
    WrongNumber {
        /// The block.
        hash: Hash,
        /// The number in the vote.
        claimed: BlockNumber,
        /// The block's real number.
        actual: BlockNumber,
    },
    /// A commit whose justification does not verify.
    #[error("invalid commit: {0}")]
    BadCommit(#[from] JustificationError),
    /// A catch-up answer that does not show a completable round.
    #[error("invalid catch-up: {0}")]
    BadCatchUp(&'static str),
}
