//! Justifications: the signed precommits and linking headers that prove a block final, and the
//! stand-alone check of one.

use super::authorities::AuthoritySet;
use super::message::{vote_payload, SignedTarget, Target, Vote, MAX_ANCESTRY};
use crate::block_tree::BlockTree;
use crate::verify::{BatchVerifier, SignatureCheck, SignatureVerifier};
use parity_scale_codec::{Decode, Encode};
use std::collections::{BTreeMap, BTreeSet};
use tessera_runtime::{AccountId, Hash, Header};

/// Proof that `target` is final: precommits for it or its descendants with more than 2/3 of
/// the weight of one authority set, and the headers linking each precommit to `target`.
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode)]
pub struct Justification {
    /// The round the precommits were cast in.
    pub round: u64,
    /// The block proven final.
    pub target: Target,
    /// One signed precommit per voter, each for `target` or a descendant.
    pub precommits: Vec<SignedTarget>,
    /// The headers between `target` (exclusive) and every precommit target (inclusive).
    pub ancestry: Vec<Header>,
}

/// Why a justification does not prove its block final.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum JustificationError {
    /// It is about another block.
    #[error("justification targets {got:?}, expected {expected:?}")]
    WrongTarget {
        /// The block asked about.
        expected: Target,
        /// The block it proves.
        got: Target,
    },
    /// A precommit by someone outside the authority set.
    #[error("precommit by {0}, who is not in the authority set")]
    UnknownVoter(AccountId),
    /// Two precommits by one voter.
    #[error("two precommits by {0}")]
    DuplicateVoter(AccountId),
    /// A precommit whose target is not linked to the justified block by the ancestry.
    #[error("precommit for {0:?} does not descend from the target through the ancestry")]
    NotDescendant(Target),
    /// Ancestry headers that no precommit needs.
    #[error("{0} ancestry headers are not used by any precommit")]
    UnusedAncestry(usize),
    /// Valid precommits with too little weight.
    #[error("precommit weight {got} is below the threshold {needed}")]
    InsufficientWeight {
        /// Weight of the valid precommits.
        got: u64,
        /// Weight required.
        needed: u64,
    },
    /// A signature that does not verify (for example made under another set id or round).
    #[error("precommit signature by {0} does not verify")]
    BadSignature(AccountId),
    /// More precommits than the set has voters, or more ancestry headers than allowed.
    #[error("{what}: {len} entries, at most {max} allowed")]
    TooLarge {
        /// The list.
        what: &'static str,
        /// Its length.
        len: usize,
        /// The bound.
        max: usize,
    },
    /// The same ancestry header twice.
    #[error("the ancestry lists {0} headers more than once")]
    DuplicateAncestry(usize),
}

/// Checks `justification` for `block` under `set`, on its own (sizes first, signatures last, in
/// one batch).
pub fn verify_justification(
    set: &AuthoritySet,
    block: Target,
    justification: &Justification,
) -> Result<(), JustificationError> {
    verify_justification_with(set, block, justification, &mut BatchVerifier::default())
}

/// [`verify_justification`] with a given signature verifier.
pub fn verify_justification_with(
    set: &AuthoritySet,
    block: Target,
    justification: &Justification,
    verifier: &mut dyn SignatureVerifier,
) -> Result<(), JustificationError> {
    if justification.target != block {
        return Err(JustificationError::WrongTarget {
            expected: block,
            got: justification.target,
        });
    }
    check_size("precommits", justification.precommits.len(), set.len())?;
    check_size("ancestry", justification.ancestry.len(), MAX_ANCESTRY)?;
    let ancestry: BTreeMap<Hash, &Header> = justification
        .ancestry
        .iter()
        .map(|header| (header.hash(), header))
        .collect();
    let duplicates = justification.ancestry.len().saturating_sub(ancestry.len());
    if duplicates > 0 {
        return Err(JustificationError::DuplicateAncestry(duplicates));
    }
    let mut used = BTreeSet::new();
    let mut voters = BTreeSet::new();
    let mut weight: u64 = 0;
    for precommit in &justification.precommits {
        let voter_weight = set
            .weight(&precommit.id)
            .ok_or(JustificationError::UnknownVoter(precommit.id))?;
        if !voters.insert(precommit.id) {
            return Err(JustificationError::DuplicateVoter(precommit.id));
        }
        link(&ancestry, block, precommit.target, &mut used)?;
        weight = weight.saturating_add(voter_weight);
    }
    let unused = ancestry.len().saturating_sub(used.len());
    if unused > 0 {
        return Err(JustificationError::UnusedAncestry(unused));
    }
    if weight < set.threshold() {
        return Err(JustificationError::InsufficientWeight {
            got: weight,
            needed: set.threshold(),
        });
    }
    let checks: Vec<SignatureCheck> = justification
        .precommits
        .iter()
        .map(|p| SignatureCheck {
            signer: p.id,
            message: vote_payload(
                &Vote::Precommit(p.target),
                justification.round,
                set.set_id(),
            ),
            signature: p.signature,
        })
        .collect();
    let valid = verifier.verify(&checks);
    for (precommit, ok) in justification.precommits.iter().zip(valid) {
        if !ok {
            return Err(JustificationError::BadSignature(precommit.id));
        }
    }
    Ok(())
}

fn check_size(what: &'static str, len: usize, max: usize) -> Result<(), JustificationError> {
    if len > max {
        return Err(JustificationError::TooLarge { what, len, max });
    }
    Ok(())
}

/// Follows parent links from `vote` down to `base` through `ancestry`, marking headers used.
fn link(
    ancestry: &BTreeMap<Hash, &Header>,
    base: Target,
    vote: Target,
    used: &mut BTreeSet<Hash>,
) -> Result<(), JustificationError> {
    let mut hash = vote.hash;
    let mut number = vote.number;
    while number > base.number {
        let header = ancestry
            .get(&hash)
            .ok_or(JustificationError::NotDescendant(vote))?;
        if header.number != number {
            return Err(JustificationError::NotDescendant(vote));
        }
        if !used.insert(hash) {
            // An earlier precommit's walk went through this header and reached `base`.
            return Ok(());
        }
        hash = header.parent_hash;
        number = number.saturating_sub(1);
    }
    if hash == base.hash && number == base.number {
        Ok(())
    } else {
        Err(JustificationError::NotDescendant(vote))
    }
}

impl Justification {
    /// Builds the justification of `target` from a round's precommits, taking per voter the
    /// precommit that descends from `target` and the headers from `tree` that link them.
    pub fn build(
        round: u64,
        target: Target,
        precommits: impl IntoIterator<Item = SignedTarget>,
        tree: &BlockTree,
    ) -> Justification {
        let mut chosen: BTreeMap<AccountId, SignedTarget> = BTreeMap::new();
        let mut ancestry: BTreeMap<Hash, Header> = BTreeMap::new();
        for precommit in precommits {
            if chosen.contains_key(&precommit.id) {
                continue;
            }
            let Some(route) = tree.route(&target.hash, &precommit.target.hash) else {
                continue;
            };
            for header in route {
                ancestry.entry(header.hash()).or_insert(header);
            }
            chosen.insert(precommit.id, precommit);
        }
        Justification {
            round,
            target,
            precommits: chosen.into_values().collect(),
            ancestry: ancestry.into_values().collect(),
        }
    }
}
