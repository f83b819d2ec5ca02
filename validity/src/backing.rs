//! Backing and availability: a para's backing group vouches for a candidate before a relay
//! block may include it, and every validator says which candidates pending availability it
//! holds its chunk of.
//!
//! - [`Statements`]: the backers' signed statements per candidate, each checked against the
//!   candidate's backing group and the signer's key, and bounded per validator and relay
//!   parent; which candidates on a relay parent have enough of them to go in the next block
//!   ([`Statements::backable`]).
//! - [`Bitfields`]: validators' signed availability bitfields per relay parent, one per
//!   validator.
//!
//! What a backer checks before it signs (the candidate, run with the para's code) and what the
//! tables are checked against (the backing group, the validator keys and the cores at the
//! relay parent) come from relay state, which the node reads and passes in. The relay
//! runtime checks a backed candidate again when a block includes it
//! (`tessera_relay_chain::inclusion::check_backed`); these tables only keep a node from
//! keeping, forwarding or proposing what the runtime would refuse.

use parity_scale_codec::{Decode, Encode};
use std::collections::{BTreeMap, BTreeSet, HashMap};
use tessera_consensus::AuthorityKey;
use tessera_relay_chain::inclusion::{
    backing_threshold, bitfield_payload, statement_payload, BackedCandidate, SignedBitfield,
    ValidityVote,
};
use tessera_runtime::parachain::{CommittedCandidateReceipt, ParaId};
use tessera_runtime::{AccountId, Hash};

/// Most candidates on one relay parent a validator's statements are kept for: an honest one
/// signs one per valid collation it receives for its para, a few per relay parent at the
/// collation rate limit, so a group member signing thousands of fake candidates cannot fill
/// another node's memory.
pub const MAX_STATEMENTS_PER_VALIDATOR: usize = 16;

/// A backer's signed statement with the candidate it is about.
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode)]
pub struct Statement {
    /// The candidate.
    pub candidate: CommittedCandidateReceipt,
    /// The backer's vote.
    pub vote: ValidityVote,
}

impl Statement {
    /// `key`'s statement, as validator `me`, that `candidate` is valid.
    pub fn sign(key: &AuthorityKey, me: u32, candidate: CommittedCandidateReceipt) -> Self {
        let signature = key.sign(&statement_payload(&candidate.hash()));
        Statement {
            candidate,
            vote: ValidityVote {
                validator: me,
                signature,
            },
        }
    }
}

/// Why a statement or a bitfield is refused.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum BackingError {
    /// The signer is not a validator, or not in the candidate's backing group.
    #[error("validator {0} may not sign this")]
    NotAllowed(u32),
    /// The signature does not verify.
    #[error("bad signature from validator {0}")]
    BadSignature(u32),
    /// The validator's statements on this relay parent are at their limit.
    #[error("validator {0} has signed more statements on this relay parent than are kept")]
    TooManyStatements(u32),
    /// A bitfield whose length is not the number of cores.
    #[error("bitfield of {got} bits, but there are {expected} cores")]
    BadBitfield {
        /// Its length.
        got: usize,
        /// The cores at its relay parent.
        expected: usize,
    },
}

/// One candidate's statements.
struct Votes {
    candidate: CommittedCandidateReceipt,
    relay_parent_number: u32,
    /// Statements it needs to be backed (from its group's size).
    threshold: usize,
    votes: BTreeMap<u32, ValidityVote>,
}

/// The statements a validator knows of, per candidate, on recent relay parents.
#[derive(Default)]
pub struct Statements {
    candidates: HashMap<Hash, Votes>,
}

impl Statements {
    /// Whether `validator` signed a statement about `candidate_hash` (a backer that did does not
    /// check it again).
    pub fn has_signed(&self, candidate_hash: &Hash, validator: u32) -> bool {
        self.candidates
            .get(candidate_hash)
            .is_some_and(|v| v.votes.contains_key(&validator))
    }

    /// Checks that `statement` is signed by its validator among `validators` (one known here
    /// with the same signature is not verified again): what a node checks before anything
    /// costlier, such as asking the runtime for the candidate's backing group.
    pub fn check_signature(
        &self,
        statement: &Statement,
        validators: &[AccountId],
    ) -> Result<(), BackingError> {
        let validator = statement.vote.validator;
        let signer = validators
            .get(validator as usize)
            .ok_or(BackingError::NotAllowed(validator))?;
        let candidate_hash = statement.candidate.hash();
        let known = self
            .candidates
            .get(&candidate_hash)
            .and_then(|v| v.votes.get(&validator))
            .is_some_and(|known| known.signature == statement.vote.signature);
        if known
            || signer.verify(
                &statement_payload(&candidate_hash),
                &statement.vote.signature,
            )
        {
            Ok(())
        } else {
            Err(BackingError::BadSignature(validator))
        }
    }

    /// Checks `statement` against its candidate's backing `group` (at the relay parent, whose
    /// number is `relay_parent_number`) and the signer's key among `validators`, and keeps it.
    /// Returns whether it was new (one known already is checked too before it is called so:
    /// its sender may have altered it).
    pub fn import(
        &mut self,
        statement: Statement,
        relay_parent_number: u32,
        group: &[u32],
        validators: &[AccountId],
    ) -> Result<bool, BackingError> {
        let validator = statement.vote.validator;
        let signer = validators
            .get(validator as usize)
            .filter(|_| group.contains(&validator))
            .ok_or(BackingError::NotAllowed(validator))?;
        let candidate_hash = statement.candidate.hash();
        let payload = statement_payload(&candidate_hash);
        if let Some(known) = self
            .candidates
            .get(&candidate_hash)
            .and_then(|v| v.votes.get(&validator))
        {
            if known.signature == statement.vote.signature
                || signer.verify(&payload, &statement.vote.signature)
            {
                return Ok(false);
            }
            return Err(BackingError::BadSignature(validator));
        }
        let relay_parent = statement.candidate.descriptor.relay_parent;
        let signed_on_parent = self
            .candidates
            .values()
            .filter(|v| {
                v.candidate.descriptor.relay_parent == relay_parent
                    && v.votes.contains_key(&validator)
            })
            .count();
        if signed_on_parent >= MAX_STATEMENTS_PER_VALIDATOR {
            return Err(BackingError::TooManyStatements(validator));
        }
        if !signer.verify(&payload, &statement.vote.signature) {
            return Err(BackingError::BadSignature(validator));
        }
        self.candidates
            .entry(candidate_hash)
            .or_insert_with(|| Votes {
                candidate: statement.candidate,
                relay_parent_number,
                threshold: backing_threshold(group.len()),
                votes: BTreeMap::new(),
            })
            .votes
            .insert(validator, statement.vote);
        Ok(true)
    }

    /// Candidates on `relay_parent` with enough statements from their group and none from a
    /// validator in `offenders` (one seen losing a dispute, whose on-chain disabling may sit on
    /// a fork being reverted), in the order a block author should try them: by para, then the
    /// most statements first, then by hash.
    pub fn backable(&self, relay_parent: &Hash, offenders: &BTreeSet<u32>) -> Vec<BackedCandidate> {
        let mut backable: Vec<(ParaId, std::cmp::Reverse<usize>, Hash, &Votes)> = self
            .candidates
            .iter()
            .filter(|(_, v)| {
                v.candidate.descriptor.relay_parent == *relay_parent
                    && v.votes.len() >= v.threshold
                    && !v
                        .votes
                        .keys()
                        .any(|validator| offenders.contains(validator))
            })
            .map(|(hash, v)| {
                let para = v.candidate.descriptor.para_id;
                (para, std::cmp::Reverse(v.votes.len()), *hash, v)
            })
            .collect();
        backable.sort_unstable_by_key(|(para, votes, hash, _)| (*para, *votes, *hash));
        backable
            .into_iter()
            .map(|(_, _, _, v)| BackedCandidate {
                candidate: v.candidate.clone(),
                votes: v.votes.values().cloned().collect(),
            })
            .collect()
    }

    /// Forgets the statements on relay parents numbered below `keep_from`.
    pub fn prune(&mut self, keep_from: u32) {
        self.candidates
            .retain(|_, v| v.relay_parent_number >= keep_from);
    }
}

/// `key`'s availability bitfield, as validator `me`, on `relay_parent`: bit `i` set if it holds
/// its chunk of the candidate pending on core `i`.
pub fn sign_bitfield(
    key: &AuthorityKey,
    me: u32,
    relay_parent: &Hash,
    bits: Vec<bool>,
) -> SignedBitfield {
    let signature = key.sign(&bitfield_payload(relay_parent, &bits));
    SignedBitfield {
        validator: me,
        bits,
        signature,
    }
}

/// The availability bitfields a validator knows of, per relay parent: at most one per
/// validator, replaced only by one that sets every bit it set (a validator's chunks only
/// accumulate, so an older bitfield replayed cannot undo a newer one).
#[derive(Default)]
pub struct Bitfields {
    by_parent: HashMap<Hash, (u32, BTreeMap<u32, SignedBitfield>)>,
}

impl Bitfields {
    /// Checks `bitfield`, signed on `relay_parent` (numbered `number`, with `cores` cores),
    /// against its signer's key among `validators`, and keeps it unless the one kept of that
    /// validator has a bit it lacks. Returns whether it was kept.
    pub fn import(
        &mut self,
        relay_parent: Hash,
        number: u32,
        cores: usize,
        validators: &[AccountId],
        bitfield: SignedBitfield,
    ) -> Result<bool, BackingError> {
        if bitfield.bits.len() != cores {
            return Err(BackingError::BadBitfield {
                got: bitfield.bits.len(),
                expected: cores,
            });
        }
        let signer = validators
            .get(bitfield.validator as usize)
            .ok_or(BackingError::NotAllowed(bitfield.validator))?;
        if !signer.verify(
            &bitfield_payload(&relay_parent, &bitfield.bits),
            &bitfield.signature,
        ) {
            return Err(BackingError::BadSignature(bitfield.validator));
        }
        let by_validator = &mut self
            .by_parent
            .entry(relay_parent)
            .or_insert_with(|| (number, BTreeMap::new()))
            .1;
        let covers = |known: &SignedBitfield| {
            known
                .bits
                .iter()
                .zip(&bitfield.bits)
                .all(|(had, has)| *has || !*had)
        };
        if by_validator
            .get(&bitfield.validator)
            .is_some_and(|known| *known == bitfield || !covers(known))
        {
            return Ok(false);
        }
        by_validator.insert(bitfield.validator, bitfield);
        Ok(true)
    }

    /// The bitfields signed on `relay_parent` with one bit per core of its `cores`, by validator.
    pub fn signed_on(&self, relay_parent: &Hash, cores: usize) -> Vec<SignedBitfield> {
        self.by_parent
            .get(relay_parent)
            .map(|(_, by)| {
                by.values()
                    .filter(|b| b.bits.len() == cores)
                    .cloned()
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Forgets the bitfields on relay parents numbered below `keep_from`.
    pub fn prune(&mut self, keep_from: u32) {
        self.by_parent.retain(|_, (number, _)| *number >= keep_from);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tessera_runtime::parachain::{CandidateCommitments, CandidateDescriptor};
    use tessera_runtime::Signature;

    fn keys(n: u64) -> (Vec<AuthorityKey>, Vec<AccountId>) {
        let keys: Vec<_> = (0..n).map(AuthorityKey::from_index).collect();
        let publics = keys.iter().map(AuthorityKey::public).collect();
        (keys, publics)
    }

    fn candidate(para: u32, relay_parent: Hash, head: u8) -> CommittedCandidateReceipt {
        CommittedCandidateReceipt {
            descriptor: CandidateDescriptor {
                para_id: ParaId(para),
                relay_parent,
                collator: AccountId([0; 32]),
                persisted_validation_data_hash: Hash([0; 32]),
                pov_hash: Hash([0; 32]),
                erasure_root: Hash([0; 32]),
                signature: Signature([0; 64]),
                para_head: Hash([head; 32]),
                validation_code_hash: Hash([0; 32]),
            },
            commitments: CandidateCommitments::default(),
        }
    }

    const PARENT: Hash = Hash([7; 32]);

    #[test]
    fn a_candidate_is_backable_once_enough_of_its_group_signed_it() {
        let (keys, publics) = keys(6);
        let group = [0, 1, 2];
        let mut table = Statements::default();
        let c = candidate(1000, PARENT, 1);
        let first = Statement::sign(&keys[0], 0, c.clone());
        assert_eq!(table.import(first.clone(), 5, &group, &publics), Ok(true));
        assert_eq!(table.import(first, 5, &group, &publics), Ok(false));
        assert!(table.backable(&PARENT, &BTreeSet::new()).is_empty());
        let second = Statement::sign(&keys[2], 2, c.clone());
        assert_eq!(table.import(second, 5, &group, &publics), Ok(true));
        let backed = table.backable(&PARENT, &BTreeSet::new());
        assert_eq!(backed.len(), 1);
        assert_eq!(backed[0].candidate, c);
        assert_eq!(
            backed[0]
                .votes
                .iter()
                .map(|v| v.validator)
                .collect::<Vec<_>>(),
            [0, 2]
        );
        assert!(table.backable(&Hash([8; 32]), &BTreeSet::new()).is_empty());
        assert!(table.has_signed(&c.hash(), 2) && !table.has_signed(&c.hash(), 1));
    }

    #[test]
    fn a_group_of_one_backs_alone() {
        let (keys, publics) = keys(1);
        let mut table = Statements::default();
        let statement = Statement::sign(&keys[0], 0, candidate(1000, PARENT, 1));
        table.import(statement, 5, &[0], &publics).unwrap();
        assert_eq!(table.backable(&PARENT, &BTreeSet::new()).len(), 1);
    }

    #[test]
    fn statements_from_outside_the_group_or_badly_signed_are_refused_and_not_kept() {
        let (keys, publics) = keys(6);
        let group = [0, 1, 2];
        let mut table = Statements::default();
        let c = candidate(1000, PARENT, 1);
        let outsider = Statement::sign(&keys[4], 4, c.clone());
        assert_eq!(
            table.import(outsider, 5, &group, &publics),
            Err(BackingError::NotAllowed(4))
        );
        let unknown = Statement::sign(&keys[4], 9, c.clone());
        assert_eq!(
            table.import(unknown, 5, &[9], &publics),
            Err(BackingError::NotAllowed(9))
        );
        let forged = Statement::sign(&keys[0], 1, c.clone());
        assert_eq!(
            table.import(forged.clone(), 5, &group, &publics),
            Err(BackingError::BadSignature(1))
        );
        assert!(!table.has_signed(&c.hash(), 1));
        assert!(table.candidates.is_empty());
        // A known statement with its signature altered is refused too, not taken as known.
        let real = Statement::sign(&keys[1], 1, c.clone());
        assert_eq!(table.import(real.clone(), 5, &group, &publics), Ok(true));
        let altered = Statement {
            vote: ValidityVote {
                signature: forged.vote.signature,
                ..real.vote.clone()
            },
            ..real
        };
        assert_eq!(
            table.import(altered, 5, &group, &publics),
            Err(BackingError::BadSignature(1))
        );
    }

    #[test]
    fn a_validator_signing_many_candidates_on_one_relay_parent_is_capped_there_only() {
        let (keys, publics) = keys(3);
        let group = [0, 1, 2];
        let mut table = Statements::default();
        for head in 0..MAX_STATEMENTS_PER_VALIDATOR as u8 {
            let statement = Statement::sign(&keys[0], 0, candidate(1000, PARENT, head));
            assert_eq!(table.import(statement, 5, &group, &publics), Ok(true));
        }
        let over = Statement::sign(&keys[0], 0, candidate(1000, PARENT, 200));
        assert_eq!(
            table.import(over, 5, &group, &publics),
            Err(BackingError::TooManyStatements(0))
        );
        // Others still sign there, and the same validator on another relay parent.
        let other = Statement::sign(&keys[1], 1, candidate(1000, PARENT, 200));
        assert_eq!(table.import(other, 5, &group, &publics), Ok(true));
        let elsewhere = Statement::sign(&keys[0], 0, candidate(1000, Hash([8; 32]), 200));
        assert_eq!(table.import(elsewhere, 6, &group, &publics), Ok(true));
    }

    #[test]
    fn candidates_backed_by_an_offender_are_left_out_and_the_best_backed_comes_first() {
        let (keys, publics) = keys(6);
        let group = [0, 1, 2];
        let mut table = Statements::default();
        let fully = candidate(1000, PARENT, 1);
        let barely = candidate(1000, PARENT, 2);
        let other_para = candidate(1001, PARENT, 3);
        for (candidate, signers) in [
            (&barely, &[0, 1][..]),
            (&fully, &[0, 1, 2][..]),
            (&other_para, &[1, 2][..]),
        ] {
            for &v in signers {
                let statement = Statement::sign(&keys[v as usize], v, candidate.clone());
                table.import(statement, 5, &group, &publics).unwrap();
            }
        }
        let order: Vec<_> = table
            .backable(&PARENT, &BTreeSet::new())
            .into_iter()
            .map(|b| b.candidate)
            .collect();
        assert_eq!(order, [fully, barely, other_para.clone()]);
        let without_0: Vec<_> = table
            .backable(&PARENT, &BTreeSet::from([0]))
            .into_iter()
            .map(|b| b.candidate)
            .collect();
        assert_eq!(without_0, [other_para]);
        table.prune(6);
        assert!(table.backable(&PARENT, &BTreeSet::new()).is_empty());
    }

    #[test]
    fn bitfields_are_checked_kept_one_per_validator_and_pruned() {
        let (keys, publics) = keys(3);
        let mut bitfields = Bitfields::default();
        let short = sign_bitfield(&keys[0], 0, &PARENT, vec![true]);
        assert_eq!(
            bitfields.import(PARENT, 5, 2, &publics, short),
            Err(BackingError::BadBitfield {
                got: 1,
                expected: 2
            })
        );
        let forged = SignedBitfield {
            validator: 1,
            ..sign_bitfield(&keys[0], 0, &PARENT, vec![true, false])
        };
        assert_eq!(
            bitfields.import(PARENT, 5, 2, &publics, forged),
            Err(BackingError::BadSignature(1))
        );
        let stranger = sign_bitfield(&keys[0], 7, &PARENT, vec![true, false]);
        assert_eq!(
            bitfields.import(PARENT, 5, 2, &publics, stranger),
            Err(BackingError::NotAllowed(7))
        );
        let on_other_parent = sign_bitfield(&keys[0], 0, &Hash([8; 32]), vec![true, false]);
        assert_eq!(
            bitfields.import(PARENT, 5, 2, &publics, on_other_parent),
            Err(BackingError::BadSignature(0))
        );
        let older = sign_bitfield(&keys[0], 0, &PARENT, vec![false, false]);
        let newer = sign_bitfield(&keys[0], 0, &PARENT, vec![true, false]);
        let two = sign_bitfield(&keys[2], 2, &PARENT, vec![true, true]);
        for bitfield in [older.clone(), newer.clone(), two.clone()] {
            assert_eq!(bitfields.import(PARENT, 5, 2, &publics, bitfield), Ok(true));
        }
        // The older one replayed does not undo the newer; the same one again is not news.
        assert_eq!(bitfields.import(PARENT, 5, 2, &publics, older), Ok(false));
        assert_eq!(
            bitfields.import(PARENT, 5, 2, &publics, newer.clone()),
            Ok(false)
        );
        assert_eq!(bitfields.signed_on(&PARENT, 2), [newer, two]);
        assert!(bitfields.signed_on(&PARENT, 3).is_empty());
        bitfields.prune(6);
        assert!(bitfields.signed_on(&PARENT, 2).is_empty());
    }
}
