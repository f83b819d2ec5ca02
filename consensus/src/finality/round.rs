//! One voting round: its prevotes and precommits, and what they imply (prevote GHOST, estimate,
//! completability, finalized block), following GRANDPA's rules.

use super::authorities::AuthoritySet;
use super::message::{Phase, SignedTarget, SignedVote, Target};
use super::votes::{Added, PhaseVotes};
use crate::block_tree::BlockTree;
use tessera_runtime::Hash;

/// What a round's votes imply at the moment.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct RoundState {
    /// The deepest block with supermajority prevote support.
    pub(crate) prevote_ghost: Option<Hash>,
    /// The deepest ancestor of the prevote GHOST that could still get supermajority precommits.
    pub(crate) estimate: Option<Hash>,
    /// Whether no block beyond the estimate can be finalized in this round any more.
    pub(crate) completable: bool,
    /// The deepest block with supermajority precommit support.
    pub(crate) finalized: Option<Hash>,
}

/// A round's votes and this voter's progress in it.
#[derive(Clone, Debug)]
pub(crate) struct Round {
    pub(crate) number: u64,
    pub(crate) started_at: u64,
    pub(crate) prevotes: PhaseVotes,
    pub(crate) precommits: PhaseVotes,
    pub(crate) proposal: Option<Target>,
    pub(crate) proposed: bool,
    pub(crate) prevoted: bool,
    pub(crate) precommitted: bool,
    /// A base fixed when the round started (the finalized block, after a later round's commit
    /// passed the previous round); otherwise the previous round's estimate is the base.
    pub(crate) base: Option<Hash>,
    /// This voter's own signed messages in the round, rebroadcast until the round ends.
    pub(crate) own: Vec<SignedVote>,
}

impl Round {
    /// A fresh round starting at `now`.
    pub(crate) fn new(number: u64, now: u64) -> Self {
        Round {
            number,
            started_at: now,
            prevotes: PhaseVotes::default(),
            precommits: PhaseVotes::default(),
            proposal: None,
            proposed: false,
            prevoted: false,
            precommitted: false,
            base: None,
            own: Vec::new(),
        }
    }

    /// The votes of `phase`.
    pub(crate) fn phase_mut(&mut self, phase: Phase) -> &mut PhaseVotes {
        match phase {
            Phase::Prevote => &mut self.prevotes,
            Phase::Precommit => &mut self.precommits,
        }
    }

    /// The votes of `phase`.
    pub(crate) fn phase(&self, phase: Phase) -> &PhaseVotes {
        match phase {
            Phase::Prevote => &self.prevotes,
            Phase::Precommit => &self.precommits,
        }
    }

    /// Adds a vote (target known to be in `tree`).
    pub(crate) fn add(
        &mut self,
        tree: &BlockTree,
        phase: Phase,
        vote: SignedTarget,
        weight: u64,
    ) -> Added {
        self.phase_mut(phase).add(tree, vote, weight)
    }

    /// The round's state over `tree` for `set`.
    pub(crate) fn state(&self, tree: &BlockTree, set: &AuthoritySet) -> RoundState {
        let threshold = set.threshold();
        let finalized = self.precommits.ghost(tree, threshold);
        let Some(ghost) = self.prevotes.ghost(tree, threshold) else {
            return RoundState {
                finalized,
                ..RoundState::default()
            };
        };
        let current = self.precommits.seen_weight();
        if current < threshold {
            return RoundState {
                prevote_ghost: Some(ghost),
                estimate: Some(ghost),
                completable: false,
                finalized,
            };
        }
        let remaining = set.total_weight().saturating_sub(current);
        let additional_equivocations = set
            .faulty_weight()
            .saturating_sub(self.precommits.equivocation_weight());
        // Whether `hash` could still reach supermajority precommits: every unseen voter votes
        // for it and voters already seen elsewhere equivocate, up to the tolerated weight.
        let possible = |hash: &Hash| {
            let for_block = self.precommits.support(hash);
            let equivocations = current
                .saturating_sub(for_block)
                .min(additional_equivocations);
            for_block
                .saturating_add(remaining)
                .saturating_add(equivocations)
                >= threshold
        };
        let mut estimate = ghost;
        while !possible(&estimate) {
            match tree.parent(&estimate) {
                Some(parent) => estimate = parent,
                None => break,
            }
        }
        let completable = estimate != ghost || !tree.children(&ghost).iter().any(possible);
        RoundState {
            prevote_ghost: Some(ghost),
            estimate: Some(estimate),
            completable,
            finalized,
        }
    }
}
