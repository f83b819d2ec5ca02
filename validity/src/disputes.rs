//! Disputes: once a validator says a candidate is invalid, every validator checks it and votes,
//! and the dispute concludes when more than two thirds of the session agree.
//!
//! A dispute opens with an invalid vote (an approval checker's, a backer's, or one made because
//! recovery rebuilt data that does not match the erasure root). Everyone that hears of it checks
//! the candidate and votes. On conclusion:
//! - invalid: the blocks from the one that included it are to be reverted, and the validators
//!   who said it was valid are offenders (its backers by their backing statements, which
//!   [`Concluded::statement_set`] adds: [`Concluded::offenders`] counts votes only);
//! - valid: the validators who said it was invalid are (lesser) offenders.
//!
//! A validator may have opened at most [`MAX_OPENED`] disputes about unfinalized candidates, so
//! a byzantine one cannot make everyone check without end. The count falls only when finality
//! releases a candidate ([`Disputes::finalized`]), not at each node's own conclusion, which
//! would differ between nodes. Nodes can still disagree on who opened a dispute (the first
//! invalid vote each heard): a node that refused an opening takes the dispute once another
//! validator's vote comes with it, on that voter's count, so every node joins what the others
//! hold open. A concluded dispute's votes go on chain ([`Concluded`]).

use crate::assignment::Crypto;
use crate::ValidatorIndex;
use parity_scale_codec::{Decode, Encode};
use std::collections::{BTreeMap, HashMap};
use tessera_runtime::{Hash, Signature};

/// Most disputes about unfinalized candidates one validator may have opened.
pub const MAX_OPENED: u32 = 8;

/// Most disputes tracked at once (every validator's [`MAX_OPENED`] in a session of 1,024
/// validators); past it, new ones are refused.
pub const MAX_ACTIVE: usize = 8_192;

/// A validator's signed vote in a dispute.
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode)]
pub struct DisputeVote {
    /// The candidate.
    pub candidate: Hash,
    /// The session it is judged in.
    pub session: u32,
    /// Whether the validator found it valid.
    pub valid: bool,
    /// The validator.
    pub validator: ValidatorIndex,
    /// Its signature over [`dispute_payload`].
    pub signature: Signature,
}

/// A vote as sent: with the invalid vote that opened its dispute, so a validator that hears
/// this vote before the opening one (they come from different senders) can still count it.
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode)]
pub struct DisputeMessage {
    /// The vote that opened the dispute.
    pub opening: DisputeVote,
    /// Another validator's vote in it, if this is not the opening one itself.
    pub vote: Option<DisputeVote>,
}

/// What a validator signs to vote in a dispute (the relay runtime checks the same bytes).
pub fn dispute_payload(candidate: &Hash, session: u32, valid: bool) -> Vec<u8> {
    tessera_relay_chain::disputes::dispute_payload(candidate, session, valid)
}

/// A concluded dispute, with the votes that decided it: what goes on chain.
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode)]
pub struct Concluded {
    /// The candidate.
    pub candidate: Hash,
    /// The session.
    pub session: u32,
    /// The outcome.
    pub valid: bool,
    /// Every vote, both sides.
    pub votes: Vec<DisputeVote>,
}

impl Concluded {
    /// The set the parachains inherent carries to record it on chain, with `backing`, the
    /// statements that backed the candidate (the chain names its backers by them, voters or
    /// not); votes in validator and kind order, as the runtime requires.
    pub fn statement_set(
        &self,
        backing: &[tessera_relay_chain::inclusion::ValidityVote],
    ) -> tessera_relay_chain::disputes::DisputeStatementSet {
        use tessera_relay_chain::disputes::{DisputeVote as OnChain, VoteKind};
        let explicit = self.votes.iter().map(|vote| OnChain {
            candidate: vote.candidate,
            session: vote.session,
            valid: vote.valid,
            validator: vote.validator.0,
            kind: VoteKind::Explicit,
            signature: vote.signature,
        });
        let backed = backing.iter().map(|vote| OnChain {
            candidate: self.candidate,
            session: self.session,
            valid: true,
            validator: vote.validator,
            kind: VoteKind::Backing,
            signature: vote.signature,
        });
        let mut votes: Vec<OnChain> = explicit.chain(backed).collect();
        votes.sort_by_key(|vote| (vote.validator, vote.kind));
        votes.dedup_by_key(|vote| (vote.validator, vote.kind));
        tessera_relay_chain::disputes::DisputeStatementSet {
            candidate: self.candidate,
            session: self.session,
            valid: self.valid,
            votes,
        }
    }

    /// The validators on the losing side.
    pub fn offenders(&self) -> Vec<ValidatorIndex> {
        self.votes
            .iter()
            .filter(|vote| vote.valid != self.valid)
            .map(|vote| vote.validator)
            .collect()
    }
}

/// What the dispute machine asks of the node.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DisputeOutput {
    /// Send this vote to every validator.
    Send(DisputeMessage),
    /// Recover and validate this candidate, then report with [`Disputes::checked`].
    Check(Hash),
    /// The dispute concluded.
    Concluded(Concluded),
}

/// Why a dispute vote was refused.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum DisputeError {
    /// Its validator is not in the session.
    #[error("validator {0} is not in the session")]
    UnknownValidator(u32),
    /// It is for another session.
    #[error("vote for session {got}, this is session {expected}")]
    WrongSession {
        /// The vote's.
        got: u32,
        /// Ours.
        expected: u32,
    },
    /// Its signature does not verify.
    #[error("bad signature")]
    BadSignature,
    /// A valid vote for a candidate nobody disputes.
    #[error("no dispute about candidate {0}")]
    NotDisputed(Hash),
    /// Its validator already voted so.
    #[error("already known")]
    Duplicate,
    /// Its validator already voted the other way.
    #[error("validator {0} already voted the other way")]
    Conflicting(u32),
    /// The vote said to open a dispute says the candidate is valid.
    #[error("a dispute opens with an invalid vote")]
    ValidOpening,
    /// A vote sent with an opening of another candidate or session.
    #[error("the vote is not about the dispute it came with")]
    NotSameDispute,
    /// Its validator opened [`MAX_OPENED`] disputes about unfinalized candidates already.
    #[error("validator {0} has opened too many disputes")]
    TooManyOpened(u32),
    /// Too many disputes at once.
    #[error("too many disputes are active")]
    TooManyActive,
    /// Its opener is disabled (an offender this session): disputes it opens are ignored.
    #[error("validator {0} is disabled: disputes it opens are ignored")]
    DisabledOpener(u32),
}

#[derive(Debug)]
struct Active {
    votes: BTreeMap<ValidatorIndex, DisputeVote>,
    opening: DisputeVote,
    valid: usize,
    checking: bool,
}

/// One validator's view of the session's disputes.
#[derive(Debug)]
pub struct Disputes<C> {
    crypto: C,
    me: Option<ValidatorIndex>,
    session: u32,
    n_validators: u32,
    active: HashMap<Hash, Active>,
    opened: HashMap<ValidatorIndex, u32>,
    /// Who opened each dispute (until finality releases the candidate).
    opener: HashMap<Hash, ValidatorIndex>,
    concluded: HashMap<Hash, bool>,
}

impl<C: Crypto> Disputes<C> {
    /// The disputes of `session`, as validator `me` (none on a node that only follows).
    pub fn new(crypto: C, me: Option<ValidatorIndex>, session: u32, n_validators: u32) -> Self {
        Disputes {
            crypto,
            me,
            session,
            n_validators,
            active: HashMap::new(),
            opened: HashMap::new(),
            opener: HashMap::new(),
            concluded: HashMap::new(),
        }
    }

    /// The relay chain finalized the blocks that included `candidates`: their disputes no
    /// longer count against their openers (concluded ones keep their outcome until then).
    pub fn finalized(&mut self, candidates: &[Hash]) {
        for candidate in candidates {
            self.active.remove(candidate);
            self.concluded.remove(candidate);
            if let Some(opener) = self.opener.remove(candidate) {
                if let Some(opened) = self.opened.get_mut(&opener) {
                    *opened = opened.saturating_sub(1);
                }
            }
        }
        self.opened.retain(|_, opened| *opened > 0);
    }

    /// Drops the active disputes in which every invalid vote is from a `disabled` validator:
    /// an offender's word alone holds nothing back (others ignore what it opens after its
    /// disabling, so such a dispute might never conclude). The candidates released.
    pub fn drop_disabled_only(&mut self, disabled: &[ValidatorIndex]) -> Vec<Hash> {
        if disabled.is_empty() {
            return Vec::new();
        }
        let dropped: Vec<Hash> = self
            .active
            .iter()
            .filter(|(_, active)| {
                active
                    .votes
                    .values()
                    .filter(|vote| !vote.valid)
                    .all(|vote| disabled.contains(&vote.validator))
            })
            .map(|(candidate, _)| *candidate)
            .collect();
        for candidate in &dropped {
            self.active.remove(candidate);
        }
        dropped
    }

    /// How `candidate`'s dispute concluded (valid or not), if it did.
    pub fn outcome(&self, candidate: &Hash) -> Option<bool> {
        self.concluded.get(candidate).copied()
    }

    /// Whether `candidate` is under a dispute that has not concluded.
    pub fn is_active(&self, candidate: &Hash) -> bool {
        self.active.contains_key(candidate)
    }

    /// Disputes not yet concluded.
    pub fn active(&self) -> usize {
        self.active.len()
    }

    /// What this validator holds of the disputes not concluded yet, as the messages that
    /// carried it (`limit` at most): each opening, then each other vote with its opening. For
    /// a validator that connects (it may have restarted or been cut off while they were
    /// gossiped): a dispute needs more than two thirds of the session, so one that missed them
    /// can hold it open.
    pub fn known_messages(&self, limit: usize) -> Vec<DisputeMessage> {
        self.active
            .values()
            .flat_map(|active| {
                let opening = &active.opening;
                std::iter::once(None)
                    .chain(
                        active
                            .votes
                            .values()
                            .filter(move |vote| vote.validator != opening.validator)
                            .map(Some),
                    )
                    .map(move |vote| DisputeMessage {
                        opening: opening.clone(),
                        vote: vote.cloned(),
                    })
            })
            .take(limit)
            .collect()
    }

    /// Votes needed to conclude: more than two thirds of the session.
    pub fn supermajority(&self) -> usize {
        ((self.n_validators as usize).saturating_mul(2) / 3).saturating_add(1)
    }

    /// This validator found `candidate` valid or not: votes, opening a dispute if invalid.
    pub fn checked(&mut self, candidate: Hash, valid: bool) -> Vec<DisputeOutput> {
        let Some(me) = self.me else {
            return Vec::new();
        };
        let payload = dispute_payload(&candidate, self.session, valid);
        let Some(signature) = self.crypto.sign(&payload) else {
            return Vec::new();
        };
        let vote = DisputeVote {
            candidate,
            session: self.session,
            valid,
            validator: me,
            signature,
        };
        let opening = self
            .active
            .get(&candidate)
            .map(|active| active.opening.clone());
        match self.vote(vote.clone()) {
            Ok(mut outputs) => {
                let message = match opening {
                    Some(opening) => DisputeMessage {
                        opening,
                        vote: Some(vote),
                    },
                    None => DisputeMessage {
                        opening: vote,
                        vote: None,
                    },
                };
                outputs.insert(0, DisputeOutput::Send(message));
                outputs
            }
            Err(_) => Vec::new(),
        }
    }

    /// A peer's message: its opening vote (new here or not), then its vote. Both are checked in
    /// full (validator, session, signatures, that the vote is about the same dispute and does
    /// not contradict one known) before anything changes.
    pub fn message(&mut self, message: DisputeMessage) -> Result<Vec<DisputeOutput>, DisputeError> {
        let DisputeMessage { opening, vote } = message;
        if opening.valid {
            return Err(DisputeError::ValidOpening);
        }
        let opening_new = self.precheck(&opening)?;
        let vote_new = match &vote {
            Some(vote) => {
                if vote.candidate != opening.candidate || vote.session != opening.session {
                    return Err(DisputeError::NotSameDispute);
                }
                if vote.validator == opening.validator {
                    return Err(DisputeError::Duplicate);
                }
                self.precheck(vote)?
            }
            None => false,
        };
        if !opening_new && !vote_new {
            return Err(DisputeError::Duplicate);
        }
        let mut outputs = Vec::new();
        if opening_new {
            // Over its opener's count, the opening is still taken when another validator's
            // (checked) vote comes with it: nodes that took the opening hold the dispute open,
            // and this node must join what they conclude. It then counts against the voter, so
            // colluders can each open only so many.
            let opener = opening.validator;
            let charged = match &vote {
                _ if self.opened_by(opener) < MAX_OPENED => opener,
                Some(vote) if self.opened_by(vote.validator) < MAX_OPENED => vote.validator,
                _ => return Err(DisputeError::TooManyOpened(opener.0)),
            };
            outputs.extend(self.vote_charging(opening, charged, true)?);
        }
        if let (true, Some(vote)) = (vote_new, vote) {
            let validator = vote.validator;
            outputs.extend(self.vote_charging(vote, validator, true)?);
        }
        Ok(outputs)
    }

    /// Disputes `validator` opened that count against it.
    fn opened_by(&self, validator: ValidatorIndex) -> u32 {
        self.opened.get(&validator).copied().unwrap_or(0)
    }

    /// Checks a peer's vote without changing anything: whether it is new here. A vote of a
    /// concluded dispute, or one already known, is not new; one contradicting a known vote of
    /// its validator, or badly signed, is refused.
    fn precheck(&self, vote: &DisputeVote) -> Result<bool, DisputeError> {
        self.check_voter(vote)?;
        if self.concluded.contains_key(&vote.candidate) {
            return Ok(false);
        }
        if let Some(known) = self
            .active
            .get(&vote.candidate)
            .and_then(|active| active.votes.get(&vote.validator))
        {
            return if known.valid == vote.valid {
                Ok(false)
            } else {
                Err(DisputeError::Conflicting(vote.validator.0))
            };
        }
        let payload = dispute_payload(&vote.candidate, vote.session, vote.valid);
        if !self
            .crypto
            .verify(vote.validator, &payload, &vote.signature)
        {
            return Err(DisputeError::BadSignature);
        }
        Ok(true)
    }

    /// That `vote` is for this session, by one of its validators (the session first: a vote
    /// of another session may name a validator this one does not have).
    fn check_voter(&self, vote: &DisputeVote) -> Result<(), DisputeError> {
        if vote.session != self.session {
            return Err(DisputeError::WrongSession {
                got: vote.session,
                expected: self.session,
            });
        }
        if vote.validator.0 >= self.n_validators {
            return Err(DisputeError::UnknownValidator(vote.validator.0));
        }
        Ok(())
    }

    /// A vote (a peer's, through [`Self::message`], or this validator's own); one that opens
    /// a dispute counts against its validator.
    fn vote(&mut self, vote: DisputeVote) -> Result<Vec<DisputeOutput>, DisputeError> {
        let validator = vote.validator;
        self.vote_charging(vote, validator, false)
    }

    /// [`Self::vote`], counting an opening against `charged`.
    fn vote_charging(
        &mut self,
        vote: DisputeVote,
        charged: ValidatorIndex,
        verified: bool,
    ) -> Result<Vec<DisputeOutput>, DisputeError> {
        self.check_voter(&vote)?;
        if self.concluded.contains_key(&vote.candidate) {
            return Err(DisputeError::Duplicate);
        }
        if let Some(active) = self.active.get(&vote.candidate) {
            match active.votes.get(&vote.validator) {
                Some(known) if known.valid == vote.valid => return Err(DisputeError::Duplicate),
                Some(_) => return Err(DisputeError::Conflicting(vote.validator.0)),
                None => {}
            }
        } else {
            if vote.valid {
                return Err(DisputeError::NotDisputed(vote.candidate));
            }
            if self.opened.get(&charged).copied().unwrap_or(0) >= MAX_OPENED {
                return Err(DisputeError::TooManyOpened(charged.0));
            }
            if self.active.len() >= MAX_ACTIVE {
                return Err(DisputeError::TooManyActive);
            }
        }
        let payload = dispute_payload(&vote.candidate, vote.session, vote.valid);
        if !verified
            && !self
                .crypto
                .verify(vote.validator, &payload, &vote.signature)
        {
            return Err(DisputeError::BadSignature);
        }
        let mut outputs = Vec::new();
        let candidate = vote.candidate;
        let mine = Some(vote.validator) == self.me;
        let active = match self.active.entry(candidate) {
            std::collections::hash_map::Entry::Occupied(entry) => entry.into_mut(),
            std::collections::hash_map::Entry::Vacant(entry) => {
                let opened = self.opened.entry(charged).or_insert(0);
                *opened = opened.saturating_add(1);
                self.opener.insert(candidate, charged);
                entry.insert(Active {
                    votes: BTreeMap::new(),
                    opening: vote.clone(),
                    valid: 0,
                    checking: false,
                })
            }
        };
        if vote.valid {
            active.valid = active.valid.saturating_add(1);
        }
        active.votes.insert(vote.validator, vote);
        let voted = self.me.is_some_and(|me| active.votes.contains_key(&me));
        if self.me.is_some() && !voted && !active.checking && !mine {
            active.checking = true;
            outputs.push(DisputeOutput::Check(candidate));
        }
        let valid = active.valid;
        let invalid = active.votes.len().saturating_sub(valid);
        let supermajority = self.supermajority();
        if valid >= supermajority || invalid >= supermajority {
            if let Some(active) = self.active.remove(&candidate) {
                let outcome = valid >= supermajority;
                if !outcome {
                    // Its block is reverted and never finalized: the opener was right, and its
                    // slot is free again.
                    if let Some(opener) = self.opener.remove(&candidate) {
                        if let Some(opened) = self.opened.get_mut(&opener) {
                            *opened = opened.saturating_sub(1);
                        }
                    }
                }
                self.concluded.insert(candidate, outcome);
                outputs.push(DisputeOutput::Concluded(Concluded {
                    candidate,
                    session: self.session,
                    valid: outcome,
                    votes: active.votes.into_values().collect(),
                }));
            }
        }
        Ok(outputs)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::assignment::ValidatorKeys;
    use std::sync::Arc;
    use tessera_consensus::AuthorityKey;
    use tessera_runtime::AccountId;

    const N: u32 = 7;

    fn keys(i: u32) -> ValidatorKeys {
        let publics: Arc<[AccountId]> = (0..u64::from(N))
            .map(|i| AuthorityKey::from_index(i).public())
            .collect();
        ValidatorKeys::new(Some(AuthorityKey::from_index(u64::from(i))), publics)
    }

    fn vote(i: u32, candidate: Hash, valid: bool) -> DisputeVote {
        let signature = keys(i)
            .sign(&dispute_payload(&candidate, 1, valid))
            .unwrap();
        DisputeVote {
            candidate,
            session: 1,
            valid,
            validator: ValidatorIndex(i),
            signature,
        }
    }

    #[test]
    fn an_invalid_vote_opens_a_dispute_everyone_checks_and_two_thirds_conclude_it() {
        let candidate = Hash([1; 32]);
        let mut disputes = Disputes::new(keys(6), Some(ValidatorIndex(6)), 1, N);
        assert_eq!(
            disputes.vote(vote(0, candidate, true)),
            Err(DisputeError::NotDisputed(candidate)),
            "a valid vote opens nothing"
        );
        let outputs = disputes.vote(vote(0, candidate, false)).unwrap();
        assert_eq!(outputs, [DisputeOutput::Check(candidate)]);
        assert!(disputes.is_active(&candidate));
        // Four valid votes from others and ours make five of seven: concluded valid.
        for i in 1..=4 {
            let outputs = disputes.vote(vote(i, candidate, true)).unwrap();
            assert!(outputs.is_empty(), "{outputs:?}");
        }
        let outputs = disputes.checked(candidate, true);
        let [DisputeOutput::Send(ours), DisputeOutput::Concluded(concluded)] = &outputs[..] else {
            panic!("{outputs:?}")
        };
        assert!(ours.vote.as_ref().unwrap().valid);
        assert!(concluded.valid);
        assert_eq!(concluded.offenders(), [ValidatorIndex(0)]);
        assert_eq!(disputes.outcome(&candidate), Some(true));
        assert!(!disputes.is_active(&candidate));
    }

    #[test]
    fn a_validator_that_missed_a_dispute_takes_it_whole_from_a_peers_known_messages() {
        let candidate = Hash([3; 32]);
        let mut peer = Disputes::new(keys(5), Some(ValidatorIndex(5)), 1, N);
        peer.vote(vote(0, candidate, false)).unwrap();
        for i in 1..=3 {
            peer.vote(vote(i, candidate, true)).unwrap();
        }
        // Validator 6 voted before it restarted; the peer holds its vote too.
        peer.vote(vote(6, candidate, true)).unwrap();
        let known = peer.known_messages(usize::MAX);
        assert_eq!(known.len(), 5, "the opening and four other votes");
        assert_eq!(peer.known_messages(2)[..], known[..2], "at most the limit");
        let mut restarted = Disputes::new(keys(6), Some(ValidatorIndex(6)), 1, N);
        let mut outputs = Vec::new();
        for message in known {
            outputs.extend(restarted.message(message).unwrap());
        }
        // Its own vote came back with them: it signs nothing (a check it asks for before the
        // vote arrives finds the vote there when it ends).
        assert!(
            outputs.iter().all(|o| !matches!(o, DisputeOutput::Send(_))),
            "{outputs:?}"
        );
        assert_eq!(restarted.known_messages(usize::MAX).len(), 5);
        // The peer's own valid vote then concludes it at five of seven, as it does there.
        let outputs = peer.checked(candidate, true);
        let [DisputeOutput::Send(last), DisputeOutput::Concluded(_)] = &outputs[..] else {
            panic!("{outputs:?}")
        };
        let outputs = restarted.message(last.clone()).unwrap();
        assert!(matches!(&outputs[..], [.., DisputeOutput::Concluded(c)] if c.valid));
        assert!(restarted.known_messages(usize::MAX).is_empty());
    }

    #[test]
    fn a_dispute_only_disabled_validators_stand_behind_is_dropped() {
        let (alone, joined) = (Hash([1; 32]), Hash([2; 32]));
        let mut disputes = Disputes::new(keys(6), Some(ValidatorIndex(6)), 1, N);
        disputes.vote(vote(0, alone, false)).unwrap();
        disputes.vote(vote(0, joined, false)).unwrap();
        disputes.vote(vote(1, joined, false)).unwrap();
        assert!(disputes.drop_disabled_only(&[]).is_empty());
        // Validator 0 is disabled: its dispute alone goes; one validator 1 joined stays.
        assert_eq!(disputes.drop_disabled_only(&[ValidatorIndex(0)]), [alone]);
        assert!(!disputes.is_active(&alone));
        assert!(disputes.is_active(&joined));
    }

    #[test]
    fn a_vote_heard_before_the_opening_one_counts_for_it_comes_along() {
        let candidate = Hash([4; 32]);
        let mut disputes = Disputes::new(keys(6), Some(ValidatorIndex(6)), 1, N);
        let message = DisputeMessage {
            opening: vote(0, candidate, false),
            vote: Some(vote(1, candidate, true)),
        };
        let outputs = disputes.message(message.clone()).unwrap();
        assert_eq!(outputs, [DisputeOutput::Check(candidate)]);
        // The opening again, with another vote: counted once, the new vote added.
        let again = DisputeMessage {
            vote: Some(vote(2, candidate, true)),
            ..message
        };
        assert!(disputes.message(again).unwrap().is_empty());
        assert_eq!(
            disputes.message(DisputeMessage {
                opening: vote(3, candidate, true),
                vote: None
            }),
            Err(DisputeError::ValidOpening)
        );
    }

    #[test]
    fn an_opening_over_its_openers_count_needs_a_genuine_vote_of_the_same_dispute_to_come_in() {
        let mut disputes = Disputes::new(keys(6), Some(ValidatorIndex(6)), 1, N);
        for c in 0..MAX_OPENED as u8 {
            disputes.vote(vote(0, Hash([c; 32]), false)).unwrap();
        }
        let next = Hash([100; 32]);
        let mut forged = vote(1, next, true);
        forged.signature = vote(1, Hash([0; 32]), true).signature;
        let with = |vote| DisputeMessage {
            opening: super::tests::vote(0, next, false),
            vote: Some(vote),
        };
        assert_eq!(
            disputes.message(with(forged)),
            Err(DisputeError::BadSignature)
        );
        assert_eq!(
            disputes.message(with(vote(1, Hash([0; 32]), true))),
            Err(DisputeError::NotSameDispute)
        );
        assert!(!disputes.is_active(&next), "nothing changed");
        // A genuine vote brings it in, on the voter's count.
        let outputs = disputes.message(with(vote(1, next, true))).unwrap();
        assert_eq!(outputs, [DisputeOutput::Check(next)]);
        assert_eq!(disputes.opened_by(ValidatorIndex(1)), 1);
    }

    #[test]
    fn a_bad_vote_with_a_good_opening_changes_nothing() {
        let candidate = Hash([5; 32]);
        let mut disputes = Disputes::new(keys(6), Some(ValidatorIndex(6)), 1, N);
        disputes.vote(vote(2, candidate, true)).unwrap_err();
        let conflicting = DisputeMessage {
            opening: vote(0, candidate, false),
            vote: Some(vote(0, candidate, true)),
        };
        assert_eq!(disputes.message(conflicting), Err(DisputeError::Duplicate));
        let mut bad = vote(1, candidate, true);
        bad.signature = Signature([3; 64]);
        let message = DisputeMessage {
            opening: vote(0, candidate, false),
            vote: Some(bad),
        };
        assert_eq!(disputes.message(message), Err(DisputeError::BadSignature));
        assert!(!disputes.is_active(&candidate));
        // The opening alone then opens it, and asks this node to check.
        let opening = DisputeMessage {
            opening: vote(0, candidate, false),
            vote: None,
        };
        assert_eq!(
            disputes.message(opening).unwrap(),
            [DisputeOutput::Check(candidate)]
        );
    }

    #[test]
    fn forged_repeated_and_conflicting_votes_are_refused() {
        let candidate = Hash([2; 32]);
        let mut disputes = Disputes::new(keys(6), Some(ValidatorIndex(6)), 1, N);
        let mut forged = vote(0, candidate, false);
        forged.validator = ValidatorIndex(1);
        assert_eq!(disputes.vote(forged), Err(DisputeError::BadSignature));
        assert!(!disputes.is_active(&candidate), "nothing changed");
        disputes.vote(vote(0, candidate, false)).unwrap();
        assert_eq!(
            disputes.vote(vote(0, candidate, false)),
            Err(DisputeError::Duplicate)
        );
        assert_eq!(
            disputes.vote(vote(0, candidate, true)),
            Err(DisputeError::Conflicting(0))
        );
        let mut other_session = vote(1, candidate, true);
        other_session.session = 2;
        assert!(matches!(
            disputes.vote(other_session),
            Err(DisputeError::WrongSession { got: 2, .. })
        ));
        assert_eq!(
            disputes.vote(vote(N, candidate, true)),
            Err(DisputeError::UnknownValidator(N))
        );
    }

    #[test]
    fn a_validator_opens_only_so_many_disputes_until_finality_releases_them() {
        let mut disputes = Disputes::new(keys(6), Some(ValidatorIndex(6)), 1, N);
        for c in 0..MAX_OPENED as u8 {
            disputes.vote(vote(0, Hash([c; 32]), false)).unwrap();
        }
        let next = Hash([200; 32]);
        assert_eq!(
            disputes.vote(vote(0, next, false)),
            Err(DisputeError::TooManyOpened(0))
        );
        // One concludes (valid): that alone does not free a slot, finality does.
        for i in 1..=5 {
            disputes.vote(vote(i, Hash([0; 32]), true)).unwrap();
        }
        assert_eq!(disputes.outcome(&Hash([0; 32])), Some(true));
        assert_eq!(
            disputes.vote(vote(0, next, false)),
            Err(DisputeError::TooManyOpened(0))
        );
        disputes.finalized(&[Hash([0; 32])]);
        assert!(disputes.vote(vote(0, next, false)).is_ok());
    }

    #[test]
    fn a_supermajority_against_concludes_invalid_and_names_the_other_side() {
        let candidate = Hash([3; 32]);
        let mut disputes = Disputes::new(keys(6), None, 1, N);
        // Backers 0 and 1 said valid in the dispute; five others say invalid.
        disputes.vote(vote(2, candidate, false)).unwrap();
        disputes.vote(vote(0, candidate, true)).unwrap();
        disputes.vote(vote(1, candidate, true)).unwrap();
        let mut last = Vec::new();
        for i in 3..=6 {
            last = disputes.vote(vote(i, candidate, false)).unwrap();
        }
        let [DisputeOutput::Concluded(concluded)] = &last[..] else {
            panic!("{last:?}")
        };
        assert!(!concluded.valid);
        assert_eq!(
            concluded.offenders(),
            [ValidatorIndex(0), ValidatorIndex(1)]
        );
    }
}
