//! What became of the candidates a collator sent, and how long it gives itself to build the
//! next block.
//!
//! A candidate made on relay block R must be backed by the block after R, or never: the
//! inclusion inherent only takes candidates whose relay parent is its parent. So collating,
//! sending, validating (in Wasm, by each backer) and gossiping statements must all fit in one
//! relay slot. The collator cannot know the backers' load, so it watches the outcome instead:
//! a candidate the next relay block did not back (or that timed out waiting for availability)
//! halves the time budget of the next build; a backed one lets it grow again by a two-hundredth
//! of the slot. Under load, blocks shrink until they make it, and the rest of the pool waits.
//! Growing additively and halving on a miss (as TCP does with its window) keeps misses rare
//! near the limit: after a halving from a budget of a quarter of the slot, 25 backed blocks
//! pass before the next try at it. One parent that is slow to become available halves the
//! budget once, however many of its successors it costs.

use std::time::Duration;
use tessera_runtime::Hash;

/// Why a candidate this collator made will never be included.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum DropReason {
    /// The relay block after its relay parent did not back it: it was too late (collation,
    /// validation and statements took longer than the slot), or its backers refused it.
    Late,
    /// It built on a candidate pending availability that the next relay block did not
    /// include (still unavailable, or timed out), so it could not be backed.
    ParentNotIncluded,
    /// Backed, but not available to enough validators before the availability timeout.
    TimedOut,
    /// Its relay parent, or the block that backed it, left the best relay chain.
    Reorged,
    /// Its PoV is over the relay chain's size limit: never sent.
    PovTooLarge,
    /// The relay block after its relay parent backed another collator's candidate instead.
    Superseded,
}

impl DropReason {
    /// A short label (metrics and logs).
    pub fn label(self) -> &'static str {
        match self {
            DropReason::Late => "late",
            DropReason::ParentNotIncluded => "parent_not_included",
            DropReason::TimedOut => "timed_out",
            DropReason::Reorged => "reorged",
            DropReason::PovTooLarge => "pov_too_large",
            DropReason::Superseded => "superseded",
        }
    }

    /// Whether the pipeline could not keep up (the next block should be smaller): all but a
    /// reorg and another collator's win, which say nothing about size. A parent not included
    /// in time means its chunks did not reach enough validators within the slot: a smaller
    /// block spreads faster.
    fn means_too_big(self) -> bool {
        !matches!(self, DropReason::Reorged | DropReason::Superseded)
    }
}

impl std::fmt::Display for DropReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            DropReason::Late => {
                "not backed by the relay block after its relay parent (too late, or refused)"
            }
            DropReason::ParentNotIncluded => {
                "the pending candidate it built on was not included in the next relay block"
            }
            DropReason::TimedOut => "backed, but not available before the availability timeout",
            DropReason::Reorged => "its relay parent or backing block left the best relay chain",
            DropReason::PovTooLarge => "its PoV is over the relay chain's size limit",
            DropReason::Superseded => "another collator's candidate was backed instead",
        })
    }
}

/// A candidate sent and not yet included or dropped.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SentCandidate {
    /// The candidate's hash.
    pub candidate: Hash,
    /// Its relay parent.
    pub relay_parent: Hash,
    /// The relay parent's number.
    pub relay_parent_number: u32,
    /// Hash of the para head it builds on (head data hash).
    pub parent_head: Hash,
    /// Hash of its own head (head data hash).
    pub head: Hash,
    /// Its para block number.
    pub number: u32,
    /// The relay block that backed it, once one did.
    pub backed_in: Option<Hash>,
}

/// What the best relay chain says about a para, as a tracker needs it.
pub trait RelayView {
    /// The best chain's block at `number`, and its parent, if the chain is that long.
    fn block_at(&self, number: u32) -> Option<(Hash, Hash)>;
    /// The best block's number.
    fn best_number(&self) -> u32;
    /// At relay block `at`: the hash of the para's included head and of the candidate pending
    /// availability, if any.
    fn para_at(&self, at: &Hash) -> Option<(Hash, Option<Hash>)>;
}

/// What happened to one tracked candidate.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// The block after its relay parent backed it.
    Backed(SentCandidate),
    /// It was included.
    Included(SentCandidate),
    /// It will never be included.
    Dropped(SentCandidate, DropReason),
}

/// The candidates a collator sent and its build time budget.
#[derive(Debug)]
pub struct Tracker {
    sent: Vec<SentCandidate>,
    budget: Duration,
    min: Duration,
    max: Duration,
    step: Duration,
    /// The parent head whose unavailability last halved the budget.
    halved_for: Option<Hash>,
}

/// Most relay blocks looked at to resolve a backed candidate (more than the availability
/// timeout, after which it is resolved either way).
const MAX_WALK: u32 = 64;

/// Most candidates tracked at once (one per relay block; they resolve within the
/// availability timeout).
const MAX_TRACKED: usize = 32;

impl Tracker {
    /// A tracker for a relay chain with slots of `slot`: the build budget starts at a quarter
    /// of the slot and stays between a fortieth and a third of it (the rest of the slot is for
    /// backers to validate in Wasm and gossip their statements).
    pub fn new(slot: Duration) -> Self {
        Tracker {
            sent: Vec::new(),
            budget: slot / 4,
            min: slot / 40,
            max: slot / 3,
            step: slot / 200,
            halved_for: None,
        }
    }

    /// How long the next block may take to build.
    pub fn budget(&self) -> Duration {
        self.budget
    }

    /// Candidates not yet resolved.
    pub fn in_flight(&self) -> &[SentCandidate] {
        &self.sent
    }

    /// Starts tracking a candidate just sent.
    pub fn sent(&mut self, candidate: SentCandidate) {
        if self.sent.len() >= MAX_TRACKED {
            self.sent.remove(0);
        }
        self.sent.push(candidate);
    }

    /// Notes a candidate dropped before it was sent.
    pub fn dropped_unsent(&mut self, reason: DropReason) {
        self.adapt(reason);
    }

    /// Resolves what the best relay chain in `relay` decides, adapting the budget; what
    /// happened, in order.
    pub fn resolve(&mut self, relay: &dyn RelayView) -> Vec<Outcome> {
        let mut outcomes = Vec::new();
        for sent in std::mem::take(&mut self.sent) {
            match Self::resolve_one(&sent, relay) {
                None => self.sent.push(sent),
                Some(Outcome::Backed(backed)) => {
                    self.grow();
                    self.sent.push(backed.clone());
                    outcomes.push(Outcome::Backed(backed));
                }
                Some(outcome) => {
                    if let Outcome::Dropped(dropped, reason) = &outcome {
                        // One slow parent costs each of its successors, but halves once.
                        let again = *reason == DropReason::ParentNotIncluded
                            && self.halved_for == Some(dropped.parent_head);
                        if !again {
                            self.adapt(*reason);
                        }
                        if *reason == DropReason::ParentNotIncluded {
                            self.halved_for = Some(dropped.parent_head);
                        }
                    }
                    outcomes.push(outcome);
                }
            }
        }
        outcomes
    }

    fn resolve_one(sent: &SentCandidate, relay: &dyn RelayView) -> Option<Outcome> {
        let next = sent.relay_parent_number.checked_add(1)?;
        let (child, parent) = relay.block_at(next)?;
        if parent != sent.relay_parent {
            return Some(Outcome::Dropped(sent.clone(), DropReason::Reorged));
        }
        match sent.backed_in {
            None => {
                let (included, pending) = relay.para_at(&child)?;
                if pending == Some(sent.candidate) {
                    let backed = SentCandidate {
                        backed_in: Some(child),
                        ..sent.clone()
                    };
                    return Some(Outcome::Backed(backed));
                }
                let reason = if included != sent.parent_head {
                    DropReason::ParentNotIncluded
                } else if pending.is_some() {
                    DropReason::Superseded
                } else {
                    DropReason::Late
                };
                Some(Outcome::Dropped(sent.clone(), reason))
            }
            Some(backed_in) => {
                if child != backed_in {
                    return Some(Outcome::Dropped(sent.clone(), DropReason::Reorged));
                }
                // Each block since: included in one (perhaps with a successor backed and
                // included since, if this collator missed a relay block), or pending until
                // one where it is neither (timed out).
                let best = relay.best_number();
                for number in next.saturating_add(1)..=best.min(next.saturating_add(MAX_WALK)) {
                    let (block, _) = relay.block_at(number)?;
                    let (included, pending) = relay.para_at(&block)?;
                    if included == sent.head {
                        return Some(Outcome::Included(sent.clone()));
                    }
                    if pending != Some(sent.candidate) {
                        return Some(Outcome::Dropped(sent.clone(), DropReason::TimedOut));
                    }
                }
                None
            }
        }
    }

    fn adapt(&mut self, reason: DropReason) {
        if reason.means_too_big() {
            self.budget = (self.budget / 2).max(self.min);
        }
    }

    fn grow(&mut self) {
        self.budget = (self.budget + self.step).min(self.max);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    /// A best relay chain of blocks `Hash([n; 32])`, with each block's para state.
    #[derive(Default)]
    struct Chain {
        best: u32,
        paras: HashMap<Hash, (Hash, Option<Hash>)>,
        fork_at: Option<u32>,
    }

    fn block(n: u32) -> Hash {
        Hash([n as u8; 32])
    }

    impl RelayView for Chain {
        fn block_at(&self, number: u32) -> Option<(Hash, Hash)> {
            if number > self.best {
                return None;
            }
            let parent = if Some(number) == self.fork_at {
                Hash([0xff; 32])
            } else {
                block(number.saturating_sub(1))
            };
            Some((block(number), parent))
        }
        fn best_number(&self) -> u32 {
            self.best
        }
        fn para_at(&self, at: &Hash) -> Option<(Hash, Option<Hash>)> {
            self.paras.get(at).copied()
        }
    }

    fn sent(relay_parent_number: u32) -> SentCandidate {
        SentCandidate {
            candidate: Hash([0xc0; 32]),
            relay_parent: block(relay_parent_number),
            relay_parent_number,
            parent_head: Hash([0xa0; 32]),
            head: Hash([0xa1; 32]),
            number: 1,
            backed_in: None,
        }
    }

    #[test]
    fn a_candidate_the_next_block_did_not_back_is_late_and_halves_the_budget() {
        let slot = Duration::from_millis(1000);
        let mut tracker = Tracker::new(slot);
        tracker.sent(sent(5));
        let mut chain = Chain {
            best: 5,
            ..Chain::default()
        };
        assert!(
            tracker.resolve(&chain).is_empty(),
            "undecided until block 6"
        );
        chain.best = 6;
        chain.paras.insert(block(6), (Hash([0xa0; 32]), None));
        let outcomes = tracker.resolve(&chain);
        assert_eq!(outcomes, vec![Outcome::Dropped(sent(5), DropReason::Late)]);
        assert_eq!(tracker.budget(), slot / 8);
        assert!(tracker.in_flight().is_empty());
        for _ in 0..10 {
            tracker.dropped_unsent(DropReason::PovTooLarge);
        }
        assert_eq!(tracker.budget(), slot / 40, "never below the floor");
    }

    #[test]
    fn a_backed_candidate_grows_the_budget_and_is_followed_to_inclusion() {
        let slot = Duration::from_millis(1000);
        let mut tracker = Tracker::new(slot);
        tracker.sent(sent(5));
        let mut chain = Chain {
            best: 6,
            ..Chain::default()
        };
        chain
            .paras
            .insert(block(6), (Hash([0xa0; 32]), Some(Hash([0xc0; 32]))));
        let outcomes = tracker.resolve(&chain);
        assert!(matches!(&outcomes[..], [Outcome::Backed(c)] if c.backed_in == Some(block(6))));
        assert_eq!(tracker.budget(), slot / 4 + slot / 200);
        chain.best = 7;
        chain.paras.insert(block(7), (Hash([0xa1; 32]), None));
        let outcomes = tracker.resolve(&chain);
        assert!(matches!(&outcomes[..], [Outcome::Included(_)]));
        assert!(tracker.in_flight().is_empty());
        for _ in 0..40 {
            tracker.grow();
        }
        assert_eq!(tracker.budget(), slot / 3, "never above the ceiling");
    }

    #[test]
    fn timeouts_missing_parents_rivals_and_forks_are_told_apart() {
        let slot = Duration::from_millis(600);
        let mut tracker = Tracker::new(slot);
        let backed = SentCandidate {
            backed_in: Some(block(6)),
            ..sent(5)
        };
        let mut chain = Chain {
            best: 9,
            ..Chain::default()
        };
        // Pending in 7, gone in 8 without being included: timed out.
        chain
            .paras
            .insert(block(7), (Hash([0xa0; 32]), Some(Hash([0xc0; 32]))));
        chain.paras.insert(block(8), (Hash([0xa0; 32]), None));
        chain.paras.insert(block(9), (Hash([0xa0; 32]), None));
        tracker.sent(backed.clone());
        let outcomes = tracker.resolve(&chain);
        assert!(matches!(
            &outcomes[..],
            [Outcome::Dropped(_, DropReason::TimedOut)]
        ));
        // Included in 8 and a successor included by 9 (this node missed block 8): included.
        chain.paras.insert(block(8), (Hash([0xa1; 32]), None));
        chain.paras.insert(block(9), (Hash([0xa2; 32]), None));
        tracker.sent(backed);
        let outcomes = tracker.resolve(&chain);
        assert!(matches!(&outcomes[..], [Outcome::Included(_)]));

        // The parent not included in 6: every successor on it is dropped, the budget halves
        // once.
        let before = tracker.budget();
        chain.paras.insert(block(6), (Hash([0x99; 32]), None));
        for _ in 0..3 {
            tracker.sent(sent(5));
            let outcomes = tracker.resolve(&chain);
            assert!(matches!(
                &outcomes[..],
                [Outcome::Dropped(_, DropReason::ParentNotIncluded)]
            ));
        }
        assert_eq!(tracker.budget(), before / 2);

        // Another collator's candidate backed instead: no change to the budget.
        chain
            .paras
            .insert(block(6), (Hash([0xa0; 32]), Some(Hash([0xee; 32]))));
        tracker.sent(sent(5));
        let outcomes = tracker.resolve(&chain);
        assert!(matches!(
            &outcomes[..],
            [Outcome::Dropped(_, DropReason::Superseded)]
        ));
        assert_eq!(tracker.budget(), before / 2);

        tracker.sent(sent(5));
        chain.fork_at = Some(6);
        let outcomes = tracker.resolve(&chain);
        assert!(matches!(
            &outcomes[..],
            [Outcome::Dropped(_, DropReason::Reorged)]
        ));
    }
}
