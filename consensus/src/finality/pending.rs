//! Verified votes waiting for their block or their round.
//!
//! An honest voter casts one vote per round and kind, so at most [`MAX_PER_VOTER`] are kept per
//! (round, kind, voter): a byzantine voter signing votes for invented blocks fills its own two
//! places, never the store. Votes are indexed by the block they wait for, so an import only
//! looks at the votes naming that block.

use super::message::{SignedVote, Vote};
use crate::PeerId;
use std::collections::{BTreeMap, BTreeSet};
use tessera_runtime::{AccountId, Hash};

/// Most pending votes kept per round, kind and voter (two already prove an equivocation).
pub(crate) const MAX_PER_VOTER: usize = 2;

/// Round, voter and kind of a vote (prevote, precommit, primary proposal).
pub(crate) type PendingKey = (u64, AccountId, u8);

/// The key of `vote`.
pub(crate) fn pending_key(vote: &SignedVote) -> PendingKey {
    let kind = match vote.vote {
        Vote::Prevote(_) => 0,
        Vote::Precommit(_) => 1,
        Vote::PrimaryPropose(_) => 2,
    };
    (vote.round, vote.id, kind)
}

/// The store of waiting votes.
#[derive(Debug, Default)]
pub(crate) struct PendingVotes {
    votes: BTreeMap<PendingKey, Vec<(PeerId, SignedVote)>>,
    by_block: BTreeMap<Hash, BTreeSet<PendingKey>>,
    len: usize,
}

impl PendingVotes {
    /// How many votes wait.
    pub(crate) fn len(&self) -> usize {
        self.len
    }

    /// Whether a vote with the same content as `vote` waits already.
    pub(crate) fn contains(&self, vote: &SignedVote) -> bool {
        self.votes
            .get(&pending_key(vote))
            .is_some_and(|kept| kept.iter().any(|(_, v)| v.vote == vote.vote))
    }

    /// How many votes of `vote`'s voter, round and kind wait.
    pub(crate) fn count_for(&self, vote: &SignedVote) -> usize {
        self.votes.get(&pending_key(vote)).map_or(0, Vec::len)
    }

    /// Keeps `vote` unless it waits already, its voter's places are taken or `max` votes wait;
    /// whether it was stored.
    pub(crate) fn insert(&mut self, peer: PeerId, vote: SignedVote, max: usize) -> bool {
        if self.len >= max || self.contains(&vote) || self.count_for(&vote) >= MAX_PER_VOTER {
            return false;
        }
        let key = pending_key(&vote);
        self.by_block
            .entry(vote.vote.target().hash)
            .or_default()
            .insert(key);
        self.votes.entry(key).or_default().push((peer, vote));
        self.len = self.len.saturating_add(1);
        true
    }

    /// Removes and returns the votes for block `hash` that `ready` accepts.
    pub(crate) fn take_block(
        &mut self,
        hash: &Hash,
        ready: impl Fn(&SignedVote) -> bool,
    ) -> Vec<(PeerId, SignedVote)> {
        let keys: Vec<PendingKey> = self
            .by_block
            .get(hash)
            .map(|keys| keys.iter().copied().collect())
            .unwrap_or_default();
        let mut taken = Vec::new();
        for key in keys {
            self.take_from(
                key,
                |v| v.vote.target().hash == *hash && ready(v),
                &mut taken,
            );
        }
        taken
    }

    /// Removes and returns every vote `ready` accepts, in key order.
    pub(crate) fn take_all(
        &mut self,
        ready: impl Fn(&SignedVote) -> bool,
    ) -> Vec<(PeerId, SignedVote)> {
        let keys: Vec<PendingKey> = self.votes.keys().copied().collect();
        let mut taken = Vec::new();
        for key in keys {
            self.take_from(key, &ready, &mut taken);
        }
        taken
    }

    /// Forgets every vote.
    pub(crate) fn clear(&mut self) {
        *self = PendingVotes::default();
    }

    fn take_from(
        &mut self,
        key: PendingKey,
        take: impl Fn(&SignedVote) -> bool,
        taken: &mut Vec<(PeerId, SignedVote)>,
    ) {
        let Some(kept) = self.votes.get_mut(&key) else {
            return;
        };
        let (chosen, rest): (Vec<_>, Vec<_>) = kept.drain(..).partition(|(_, v)| take(v));
        *kept = rest;
        if kept.is_empty() {
            self.votes.remove(&key);
        }
        for (_, vote) in &chosen {
            let hash = vote.vote.target().hash;
            let still_waiting = self
                .votes
                .get(&key)
                .is_some_and(|k| k.iter().any(|(_, v)| v.vote.target().hash == hash));
            if !still_waiting {
                if let Some(keys) = self.by_block.get_mut(&hash) {
                    keys.remove(&key);
                    if keys.is_empty() {
                        self.by_block.remove(&hash);
                    }
                }
            }
        }
        self.len = self.len.saturating_sub(chosen.len());
        taken.extend(chosen);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::finality::message::Target;
    use crate::AuthorityKey;

    fn vote(key: &AuthorityKey, round: u64, salt: u8) -> SignedVote {
        let target = Target {
            hash: Hash([salt; 32]),
            number: 5,
        };
        SignedVote::sign(key, Vote::Prevote(target), round, 0)
    }

    #[test]
    fn two_places_per_voter_round_and_kind_and_an_index_by_block() {
        let (a, b) = (AuthorityKey::from_index(1), AuthorityKey::from_index(2));
        let mut pending = PendingVotes::default();
        let peer = PeerId(9);
        assert!(pending.insert(peer, vote(&a, 1, 1), 100));
        assert!(!pending.insert(peer, vote(&a, 1, 1), 100), "duplicate");
        assert!(pending.insert(peer, vote(&a, 1, 2), 100));
        assert!(!pending.insert(peer, vote(&a, 1, 3), 100), "third place");
        assert!(pending.insert(peer, vote(&a, 2, 3), 100), "next round");
        assert!(pending.insert(peer, vote(&b, 1, 1), 100), "another voter");
        assert!(!pending.insert(peer, vote(&b, 1, 4), 4), "global cap");
        assert_eq!(pending.len(), 4);
        let taken = pending.take_block(&Hash([1; 32]), |v| v.round == 1);
        assert_eq!(taken.len(), 2);
        assert_eq!(pending.len(), 2);
        assert!(pending.take_block(&Hash([1; 32]), |_| true).is_empty());
        assert_eq!(pending.take_all(|v| v.round == 2).len(), 1);
        assert_eq!(pending.take_all(|_| true).len(), 1);
        assert_eq!(pending.len(), 0);
        assert!(pending.by_block.is_empty() && pending.votes.is_empty());
    }
}
