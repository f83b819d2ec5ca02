//! The votes of one phase of one round over the block tree: a vote for a block supports all of
//! its ancestors, each voter's weight counted once per block (equivocators on both branches).

use super::message::SignedTarget;
use crate::block_tree::BlockTree;
use std::collections::BTreeMap;
use tessera_runtime::{AccountId, Hash};

/// What one voter said in a phase.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum VoterVotes {
    /// One vote.
    Single(SignedTarget),
    /// Two different votes: an equivocation (any further votes are ignored).
    Equivocated(SignedTarget, SignedTarget),
}

/// How adding a vote went.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Added {
    /// A first vote from this voter.
    New,
    /// The same vote again, or a third one after an equivocation.
    Duplicate,
    /// A second, different vote: the first one is returned.
    Equivocation(SignedTarget),
}

/// The votes of one phase.
#[derive(Clone, Debug, Default)]
pub(crate) struct PhaseVotes {
    votes: BTreeMap<AccountId, VoterVotes>,
    support: BTreeMap<Hash, u64>,
    seen_weight: u64,
    equivocation_weight: u64,
}

impl PhaseVotes {
    /// Whether exactly this vote is already held (so it needs no signature check).
    pub(crate) fn holds(&self, vote: &SignedTarget) -> bool {
        match self.votes.get(&vote.id) {
            Some(VoterVotes::Single(first)) => first == vote,
            Some(VoterVotes::Equivocated(first, second)) => first == vote || second == vote,
            None => false,
        }
    }

    /// Whether `id` has cast two different votes already (further votes change nothing).
    pub(crate) fn is_equivocator(&self, id: &AccountId) -> bool {
        matches!(self.votes.get(id), Some(VoterVotes::Equivocated(..)))
    }

    /// Adds a vote whose target is in `tree`, by a voter of weight `weight`.
    pub(crate) fn add(&mut self, tree: &BlockTree, vote: SignedTarget, weight: u64) -> Added {
        match self.votes.get(&vote.id).copied() {
            None => {
                self.add_support(tree, &vote.target.hash, weight, None);
                self.seen_weight = self.seen_weight.saturating_add(weight);
                self.votes.insert(vote.id, VoterVotes::Single(vote));
                Added::New
            }
            Some(VoterVotes::Single(first)) if first.target == vote.target => Added::Duplicate,
            Some(VoterVotes::Single(first)) => {
                self.add_support(tree, &vote.target.hash, weight, Some(&first.target.hash));
                self.equivocation_weight = self.equivocation_weight.saturating_add(weight);
                self.votes
                    .insert(vote.id, VoterVotes::Equivocated(first, vote));
                Added::Equivocation(first)
            }
            Some(VoterVotes::Equivocated(..)) => Added::Duplicate,
        }
    }

    /// Adds `weight` to `target` and its ancestors in the tree, stopping below the blocks the
    /// voter already supports (ancestors of `already`).
    fn add_support(
        &mut self,
        tree: &BlockTree,
        target: &Hash,
        weight: u64,
        already: Option<&Hash>,
    ) {
        let mut current = Some(*target);
        while let Some(hash) = current {
            if let Some(first) = already {
                if tree.is_descendant_or_equal(first, &hash) {
                    break;
                }
            }
            let entry = self.support.entry(hash).or_default();
            *entry = entry.saturating_add(weight);
            current = tree.parent(&hash);
        }
    }

    /// The weight of distinct voters supporting `hash`.
    pub(crate) fn support(&self, hash: &Hash) -> u64 {
        self.support.get(hash).copied().unwrap_or_default()
    }

    /// The weight of distinct voters seen.
    pub(crate) fn seen_weight(&self) -> u64 {
        self.seen_weight
    }

    /// The weight of voters seen equivocating.
    pub(crate) fn equivocation_weight(&self) -> u64 {
        self.equivocation_weight
    }

    /// The deepest block with at least `threshold` support, following the heaviest child.
    pub(crate) fn ghost(&self, tree: &BlockTree, threshold: u64) -> Option<Hash> {
        let mut current = tree.root();
        if self.support(&current) < threshold {
            return None;
        }
        loop {
            let next = tree
                .children(&current)
                .iter()
                .map(|child| (self.support(child), *child))
                .filter(|(support, _)| *support >= threshold)
                .max_by(|a, b| a.0.cmp(&b.0).then(b.1.cmp(&a.1)));
            match next {
                Some((_, child)) => current = child,
                None => return Some(current),
            }
        }
    }

    /// Every vote held (both votes of an equivocator), in voter order.
    pub(crate) fn all(&self) -> Vec<SignedTarget> {
        let mut out = Vec::with_capacity(self.votes.len());
        for votes in self.votes.values() {
            match votes {
                VoterVotes::Single(v) => out.push(*v),
                VoterVotes::Equivocated(a, b) => {
                    out.push(*a);
                    out.push(*b);
                }
            }
        }
        out
    }

    /// Forgets support for blocks no longer in `tree` (after pruning).
    pub(crate) fn prune(&mut self, tree: &BlockTree) {
        self.support.retain(|hash, _| tree.contains(hash));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::finality::message::Target;
    use tessera_runtime::{Digest, Header, Signature};

    use crate::test_headers::child as header;

    fn vote(id: u8, h: &Header) -> SignedTarget {
        SignedTarget {
            target: Target {
                hash: h.hash(),
                number: h.number,
            },
            id: AccountId([id; 32]),
            signature: Signature([0; 64]),
        }
    }

    #[test]
    fn support_flows_to_ancestors_and_equivocators_count_once_per_block() {
        let g = header(
            &Header {
                parent_hash: Hash::ZERO,
                number: 0,
                state_root: Hash::ZERO,
                extrinsics_root: Hash::ZERO,
                digest: Digest::default(),
            },
            0,
        );
        let mut tree = BlockTree::new(g.clone());
        let a = header(&g, 1);
        let a2 = header(&a, 2);
        let b = header(&g, 3);
        for h in [&a, &a2, &b] {
            tree.insert(h.clone()).unwrap();
        }
        let mut votes = PhaseVotes::default();
        assert_eq!(votes.add(&tree, vote(1, &a2), 1), Added::New);
        assert_eq!(votes.add(&tree, vote(2, &a), 1), Added::New);
        assert_eq!(votes.add(&tree, vote(3, &a2), 1), Added::New);
        assert_eq!(votes.add(&tree, vote(3, &a2), 1), Added::Duplicate);
        assert_eq!(votes.ghost(&tree, 3), Some(a.hash()));
        assert_eq!(votes.ghost(&tree, 2), Some(a2.hash()));
        assert!(matches!(
            votes.add(&tree, vote(1, &b), 1),
            Added::Equivocation(_)
        ));
        assert_eq!(votes.support(&g.hash()), 3);
        assert_eq!(votes.support(&b.hash()), 1);
        assert_eq!(votes.support(&a2.hash()), 2);
        assert_eq!(votes.seen_weight(), 3);
        assert_eq!(votes.equivocation_weight(), 1);
        assert_eq!(votes.all().len(), 4);
        assert_eq!(votes.ghost(&tree, 4), None);
    }
}
