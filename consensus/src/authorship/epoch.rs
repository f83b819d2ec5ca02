//! Epochs along a chain: each block belongs to one, whose authorities and randomness were
//! announced in the first block of the epoch before it (BABE's next-epoch descriptor), and
//! carries the announcement for the epoch after its own.

use super::config::primary_threshold;
use parity_scale_codec::{Decode, Encode};
use std::sync::Arc;
use tessera_runtime::consensus::{AuthorityList, NextEpochDescriptor};
use tessera_runtime::AccountId;

/// Who authors in an epoch and the randomness of its slot lottery; shared between the blocks
/// of the epoch.
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode)]
pub struct EpochAuthorities {
    /// The authorities and their weights, in authority-index order.
    pub authorities: Arc<AuthorityList>,
    /// The randomness of the slot VRF.
    pub randomness: [u8; 32],
}

impl EpochAuthorities {
    /// Authorities and randomness as announced.
    pub fn new(authorities: AuthorityList, randomness: [u8; 32]) -> Self {
        EpochAuthorities {
            authorities: Arc::new(authorities),
            randomness,
        }
    }

    /// The authority at `index`.
    pub fn get(&self, index: u32) -> Option<AccountId> {
        self.authorities.get(index as usize).map(|(id, _)| *id)
    }

    /// The index of `id`, if it is an authority of the epoch.
    pub fn position(&self, id: &AccountId) -> Option<u32> {
        let index = self.authorities.iter().position(|(a, _)| a == id)?;
        u32::try_from(index).ok()
    }

    /// How many authorities.
    pub fn len(&self) -> usize {
        self.authorities.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.authorities.is_empty()
    }

    /// The primary threshold of the authority at `index` for lottery chance `c`.
    pub fn threshold(&self, c: (u64, u64), index: u32) -> u128 {
        let total = self
            .authorities
            .iter()
            .fold(0u64, |sum, (_, w)| sum.saturating_add(*w));
        let weight = self.authorities.get(index as usize).map_or(0, |(_, w)| *w);
        primary_threshold(c, weight, total)
    }
}

impl From<NextEpochDescriptor> for EpochAuthorities {
    fn from(descriptor: NextEpochDescriptor) -> Self {
        EpochAuthorities::new(descriptor.authorities, descriptor.randomness)
    }
}

/// The epoch a block is in, and the epoch announced after it.
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode)]
pub struct EpochData {
    /// The epoch's index (slots since the chain's first block, over the epoch length).
    pub index: u64,
    /// Its authorities and randomness.
    pub current: EpochAuthorities,
    /// Those announced for the next epoch with blocks on this chain.
    pub next: EpochAuthorities,
}

impl EpochData {
    /// The data of the genesis block: epoch 0, and the epoch after it, use the genesis
    /// authorities and randomness.
    pub fn genesis(authorities: AuthorityList, randomness: [u8; 32]) -> Self {
        let epoch = EpochAuthorities::new(authorities, randomness);
        EpochData {
            index: 0,
            current: epoch.clone(),
            next: epoch,
        }
    }

    /// The epoch of a child of this block in epoch `index`, and whether the child starts it
    /// (it is the chain's first block, or the first in a later epoch). An epoch the chain
    /// skipped without blocks is never started: the child takes the announced authorities and
    /// randomness into its own epoch, as BABE does.
    pub fn for_child(&self, index: u64, parent_is_genesis: bool) -> (u64, &EpochAuthorities, bool) {
        if parent_is_genesis || index > self.index {
            (index, &self.next, true)
        } else {
            (self.index, &self.current, false)
        }
    }

    /// The data of a child that starts epoch `index` announcing `next`.
    pub fn started(&self, index: u64, next: EpochAuthorities) -> EpochData {
        EpochData {
            index,
            current: self.next.clone(),
            next,
        }
    }
}
