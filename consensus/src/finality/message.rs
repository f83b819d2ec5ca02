//! Finality messages on the wire: signed votes, commits and catch-up, SCALE-encoded.

use super::justification::Justification;
use crate::codec::{check_len, decode_bounded, CodecError};
use crate::verify::SignatureCheck;
use crate::AuthorityKey;
use parity_scale_codec::{Decode, Encode};
use tessera_runtime::{AccountId, Signature};

pub use tessera_runtime::consensus::{vote_payload, Phase, Target, Vote};

/// Largest encoded finality message accepted (a 1,000-authority catch-up is about 300 KiB).
pub const MAX_MESSAGE_BYTES: usize = 4 * 1024 * 1024;
/// Most votes in one list of a commit or catch-up message.
pub const MAX_VOTES: usize = 10_000;
/// Most headers in a justification's ancestry.
pub const MAX_ANCESTRY: usize = 10_000;

/// A vote with its round, set id, signer and signature, as gossiped.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Encode, Decode)]
pub struct SignedVote {
    /// The vote.
    pub vote: Vote,
    /// The round it belongs to.
    pub round: u64,
    /// The authority set it belongs to.
    pub set_id: u64,
    /// The voter.
    pub id: AccountId,
    /// The voter's signature over [`vote_payload`].
    pub signature: Signature,
}

impl SignedVote {
    /// Signs `vote` for `round` of set `set_id` with `key`.
    pub fn sign(key: &AuthorityKey, vote: Vote, round: u64, set_id: u64) -> Self {
        SignedVote {
            vote,
            round,
            set_id,
            id: key.public(),
            signature: key.sign(&vote_payload(&vote, round, set_id)),
        }
    }

    /// The signature check this vote needs.
    pub fn check(&self) -> SignatureCheck {
        SignatureCheck {
            signer: self.id,
            message: vote_payload(&self.vote, self.round, self.set_id),
            signature: self.signature,
        }
    }

    /// The compact form, without round and set id.
    pub fn compact(&self) -> SignedTarget {
        SignedTarget {
            target: self.vote.target(),
            id: self.id,
            signature: self.signature,
        }
    }
}

/// A prevote or precommit whose phase, round and set id are given by its container.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Encode, Decode)]
pub struct SignedTarget {
    /// The block voted for.
    pub target: Target,
    /// The voter.
    pub id: AccountId,
    /// The voter's signature over [`vote_payload`].
    pub signature: Signature,
}

impl SignedTarget {
    /// The full vote, given the container's phase, round and set id.
    pub fn expand(&self, phase: Phase, round: u64, set_id: u64) -> SignedVote {
        SignedVote {
            vote: Vote::of_phase(phase, self.target),
            round,
            set_id,
            id: self.id,
            signature: self.signature,
        }
    }
}

/// A completed round's votes, sent to a peer that fell behind.
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode)]
pub struct CatchUp {
    /// The authority set.
    pub set_id: u64,
    /// The completed round.
    pub round: u64,
    /// Its prevotes (supermajority weight).
    pub prevotes: Vec<SignedTarget>,
    /// Its precommits (supermajority weight).
    pub precommits: Vec<SignedTarget>,
}

/// Every message the finality engine sends or receives.
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode)]
pub enum FinalityMessage {
    /// A signed vote or primary proposal.
    #[codec(index = 0)]
    Vote(SignedVote),
    /// A finalized block with its justification.
    #[codec(index = 1)]
    Commit {
        /// The set whose authorities signed it.
        set_id: u64,
        /// The proof.
        justification: Justification,
    },
    /// "I am in this round of this set; send me a completed later round."
    #[codec(index = 2)]
    CatchUpRequest {
        /// The requester's set id.
        set_id: u64,
        /// The requester's current round.
        round: u64,
    },
    /// An answer to a catch-up request.
    #[codec(index = 3)]
    CatchUp(CatchUp),
}

impl FinalityMessage {
    /// Decodes a message from the network, checking its size and list bounds.
    pub fn decode_bounded(bytes: &[u8]) -> Result<Self, CodecError> {
        let message: FinalityMessage = decode_bounded(bytes, MAX_MESSAGE_BYTES)?;
        match &message {
            FinalityMessage::Vote(_) | FinalityMessage::CatchUpRequest { .. } => {}
            FinalityMessage::Commit { justification, .. } => {
                check_len("precommits", justification.precommits.len(), MAX_VOTES)?;
                check_len("ancestry", justification.ancestry.len(), MAX_ANCESTRY)?;
            }
            FinalityMessage::CatchUp(catch_up) => {
                check_len("prevotes", catch_up.prevotes.len(), MAX_VOTES)?;
                check_len("precommits", catch_up.precommits.len(), MAX_VOTES)?;
            }
        }
        Ok(message)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use tessera_runtime::Hash;

    fn arb_vote() -> impl Strategy<Value = SignedVote> {
        (
            any::<[u8; 32]>(),
            any::<u32>(),
            0u8..3,
            any::<u64>(),
            any::<u64>(),
            any::<[u8; 32]>(),
        )
            .prop_map(|(hash, number, kind, round, set_id, id)| {
                let target = Target {
                    hash: Hash(hash),
                    number,
                };
                let vote = match kind {
                    0 => Vote::Prevote(target),
                    1 => Vote::Precommit(target),
                    _ => Vote::PrimaryPropose(target),
                };
                SignedVote {
                    vote,
                    round,
                    set_id,
                    id: AccountId(id),
                    signature: Signature([7; 64]),
                }
            })
    }

    proptest! {
        #[test]
        fn messages_round_trip(votes in proptest::collection::vec(arb_vote(), 0..20), req in any::<(u64, u64)>()) {
            let catch_up = FinalityMessage::CatchUp(CatchUp {
                set_id: req.0,
                round: req.1,
                prevotes: votes.iter().map(SignedVote::compact).collect(),
                precommits: votes.iter().rev().map(SignedVote::compact).collect(),
            });
            let mut all = vec![catch_up, FinalityMessage::CatchUpRequest { set_id: req.0, round: req.1 }];
            all.extend(votes.into_iter().map(FinalityMessage::Vote));
            for message in all {
                let bytes = message.encode();
                prop_assert_eq!(FinalityMessage::decode_bounded(&bytes).unwrap(), message);
                let mut longer = bytes.clone();
                longer.push(0);
                prop_assert!(FinalityMessage::decode_bounded(&longer).is_err());
            }
        }

        #[test]
        fn garbage_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
            let _ = FinalityMessage::decode_bounded(&bytes);
        }
    }

    #[test]
    fn oversized_messages_are_rejected_before_decoding() {
        let bytes = vec![0u8; MAX_MESSAGE_BYTES + 1];
        assert!(matches!(
            FinalityMessage::decode_bounded(&bytes),
            Err(CodecError::TooLarge { .. })
        ));
    }
}
