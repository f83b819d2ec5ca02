//! Warp proofs: the chain of authority set changes from the genesis set to the current one,
//! each change block with the justification of the set before it, and last the latest block
//! the current set finalized (Substrate's `WarpSyncProof`). A node or a light client that
//! knows only the genesis validators checks one and learns the current set and a finalized
//! block without executing any block.

use super::authorities::{AuthoritySet, AuthoritySetError};
use super::justification::{verify_justification, Justification, JustificationError};
use super::message::Target;
use parity_scale_codec::{Decode, Encode};
use tessera_runtime::consensus::ScheduledChange;
use tessera_runtime::{BlockNumber, Header};

/// Most fragments one proof holds: set changes, and the latest finalized block.
pub const MAX_WARP_FRAGMENTS: usize = 4_096;

/// A block finalized directly by the set in force, with its justification.
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode)]
pub struct WarpFragment {
    /// The block: one that signals a change (enacted at once), or the last fragment's.
    pub header: Header,
    /// The precommits of the set in force that finalized it.
    pub justification: Justification,
}

/// The set changes since genesis, in order, each justified by the set before it.
#[derive(Clone, Debug, Default, PartialEq, Eq, Encode, Decode)]
pub struct WarpProof {
    /// One fragment per set change, then the latest block finalized (if it is no change).
    pub fragments: Vec<WarpFragment>,
}

/// What a checked proof establishes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Warped {
    /// The last block it proves final.
    pub header: Header,
    /// The authority set in force above it.
    pub set: AuthoritySet,
}

/// Why a warp proof does not hold.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum WarpProofError {
    /// It has no fragment.
    #[error("the proof has no fragment")]
    Empty,
    /// It has more fragments than any proof holds.
    #[error("{0} fragments, at most {MAX_WARP_FRAGMENTS}")]
    TooLong(usize),
    /// A fragment's block is not above the one before it.
    #[error("block #{number} does not come after #{previous}")]
    NotAscending {
        /// The fragment's block number.
        number: BlockNumber,
        /// The previous fragment's.
        previous: BlockNumber,
    },
    /// A fragment's justification is not the set in force's for its block.
    #[error("block #{number}: {source}")]
    Justification {
        /// The fragment's block number.
        number: BlockNumber,
        /// Why the justification does not hold.
        source: JustificationError,
    },
    /// A fragment before the last signals no set change.
    #[error("block #{0} signals no set change, and only the last fragment may")]
    NoChange(BlockNumber),
    /// A fragment's change log is malformed, delayed, or names no valid set.
    #[error("block #{number}: bad set change: {reason}")]
    BadChange {
        /// The fragment's block number.
        number: BlockNumber,
        /// What is wrong with it.
        reason: String,
    },
}

/// Checks `proof` from the genesis authority set `genesis`: each fragment must be justified by
/// the set in force, and each but the last must signal the change to the next set.
pub fn verify_warp_proof(
    genesis: AuthoritySet,
    proof: &WarpProof,
) -> Result<Warped, WarpProofError> {
    let count = proof.fragments.len();
    if count > MAX_WARP_FRAGMENTS {
        return Err(WarpProofError::TooLong(count));
    }
    let mut set = genesis;
    let mut previous: Option<BlockNumber> = None;
    for (index, fragment) in proof.fragments.iter().enumerate() {
        let header = &fragment.header;
        let number = header.number;
        if let Some(previous) = previous.filter(|&previous| number <= previous) {
            return Err(WarpProofError::NotAscending { number, previous });
        }
        previous = Some(number);
        let target = Target {
            hash: header.hash(),
            number,
        };
        verify_justification(&set, target, &fragment.justification)
            .map_err(|source| WarpProofError::Justification { number, source })?;
        let bad = |reason: String| WarpProofError::BadChange { number, reason };
        match ScheduledChange::from_header(header).map_err(|e| bad(e.to_string()))? {
            Some(change) if change.delay != 0 => {
                return Err(bad(format!("enacted {} blocks later", change.delay)))
            }
            Some(change) => {
                let next = set.set_id().saturating_add(1);
                set = AuthoritySet::new(next, change.next_authorities)
                    .map_err(|e: AuthoritySetError| bad(e.to_string()))?;
            }
            None if index.saturating_add(1) == count => {}
            None => return Err(WarpProofError::NoChange(number)),
        }
    }
    let last = proof.fragments.last().ok_or(WarpProofError::Empty)?;
    Ok(Warped {
        header: last.header.clone(),
        set,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::finality::message::{vote_payload, SignedTarget, Vote};
    use crate::test_headers::{child, genesis, signalling};
    use crate::AuthorityKey;

    fn target(header: &Header) -> Target {
        Target {
            hash: header.hash(),
            number: header.number,
        }
    }

    /// `header` justified by `voters` (set `set_id`), each precommitting for it in round 1.
    fn fragment(header: Header, voters: &[&AuthorityKey], set_id: u64) -> WarpFragment {
        let block = target(&header);
        let precommits = voters
            .iter()
            .map(|key| SignedTarget {
                target: block,
                id: key.public(),
                signature: key.sign(&vote_payload(&Vote::Precommit(block), 1, set_id)),
            })
            .collect();
        WarpFragment {
            header,
            justification: Justification {
                round: 1,
                target: block,
                precommits,
                ancestry: Vec::new(),
            },
        }
    }

    #[test]
    fn a_proof_leads_from_the_genesis_set_through_each_change_and_nothing_else_does() {
        let keys: Vec<AuthorityKey> = (0..6).map(AuthorityKey::from_index).collect();
        let k: Vec<&AuthorityKey> = keys.iter().collect();
        let genesis_set = AuthoritySet::equal(0, keys[..4].iter().map(|k| k.public())).unwrap();
        let genesis = genesis();
        // Set 0 (0..4) hands over to set 1 (2..6) at #1; set 1 finalizes #3.
        let change = signalling(&genesis, 1, k[2..6].iter().map(|k| k.public()));
        let later = child(&child(&change, 2), 3);
        let proof = WarpProof {
            fragments: vec![
                fragment(change.clone(), &k[0..3], 0),
                fragment(later.clone(), &k[2..5], 1),
            ],
        };
        let warped = verify_warp_proof(genesis_set.clone(), &proof).unwrap();
        assert_eq!(warped.header, later);
        assert_eq!(warped.set.set_id(), 1);
        let expected: Vec<_> = keys[2..6].iter().map(|k| (k.public(), 1)).collect();
        assert_eq!(warped.set.authorities(), &expected[..]);
        // Encoded and decoded, it holds the same.
        let decoded = WarpProof::decode(&mut &proof.encode()[..]).unwrap();
        assert_eq!(verify_warp_proof(genesis_set.clone(), &decoded), Ok(warped));

        // The later block justified by the old set after the change: not its set's. (Alone,
        // with no change before it, the proof would hold: an honest old set never votes past
        // the block that hands over, so only two thirds of it lying could sign that.)
        let stale = WarpProof {
            fragments: vec![
                fragment(change.clone(), &k[0..3], 0),
                fragment(later.clone(), &k[0..3], 0),
            ],
        };
        assert!(matches!(
            verify_warp_proof(genesis_set.clone(), &stale),
            Err(WarpProofError::Justification { number: 3, .. })
        ));
        // Too few of the set.
        let thin = WarpProof {
            fragments: vec![fragment(change.clone(), &k[0..2], 0)],
        };
        assert!(matches!(
            verify_warp_proof(genesis_set.clone(), &thin),
            Err(WarpProofError::Justification { number: 1, .. })
        ));
        // A fragment that changes nothing, before the last.
        let plain = WarpProof {
            fragments: vec![
                fragment(child(&genesis, 9), &k[0..3], 0),
                fragment(later.clone(), &k[0..3], 0),
            ],
        };
        assert_eq!(
            verify_warp_proof(genesis_set.clone(), &plain),
            Err(WarpProofError::NoChange(1))
        );
        // Out of order.
        let backwards = WarpProof {
            fragments: vec![
                fragment(change.clone(), &k[0..3], 0),
                fragment(change, &k[2..5], 1),
            ],
        };
        assert_eq!(
            verify_warp_proof(genesis_set.clone(), &backwards),
            Err(WarpProofError::NotAscending {
                number: 1,
                previous: 1
            })
        );
        assert_eq!(
            verify_warp_proof(genesis_set, &WarpProof::default()),
            Err(WarpProofError::Empty)
        );
    }
}
