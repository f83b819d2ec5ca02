//! What the simulated chain's runtime would deposit: in the first block of each epoch, the next
//! epoch's authorities and randomness and, when the epoch's authorities differ from the
//! previous epoch's, a finality set change to them. Importers check a block's consensus logs
//! against it, as executing a real block checks them against the runtime's.

use crate::authorship::AuthorshipEngine;
use crate::AuthorityKey;
use parity_scale_codec::Encode;
use tessera_runtime::consensus::{AuthorityList, NextEpochDescriptor, ScheduledChange};
use tessera_runtime::hashing::blake2_256;
use tessera_runtime::{DigestItem, Hash, Header};

/// Which authorities hold each epoch: a window of `set_size` of the nodes, moving `shift`
/// places each epoch.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Rotation {
    /// Authorities per epoch.
    pub set_size: usize,
    /// How far the window moves each epoch.
    pub shift: usize,
}

/// The authority schedule of a simulated chain.
#[derive(Clone, Debug)]
pub struct Schedule {
    keys: Vec<AuthorityKey>,
    rotation: Option<Rotation>,
}

impl Schedule {
    /// Every node's key, rotated by `rotation` (all of them in every epoch without one).
    pub fn new(keys: Vec<AuthorityKey>, rotation: Option<Rotation>) -> Self {
        Schedule { keys, rotation }
    }

    /// The authorities the runtime picks for epoch `epoch`.
    pub fn authorities(&self, epoch: u64) -> AuthorityList {
        let n = self.keys.len().max(1);
        let (size, shift) = self
            .rotation
            .map_or((n, 0), |r| (r.set_size.clamp(1, n), r.shift));
        let start = usize::try_from(epoch)
            .unwrap_or_default()
            .wrapping_mul(shift)
            .checked_rem(n)
            .unwrap_or_default();
        (0..size)
            .filter_map(|i| self.keys.get(start.wrapping_add(i).checked_rem(n)?))
            .map(|k| (k.public(), 1))
            .collect()
    }

    /// The consensus logs a child of `parent` in `slot` carries; `None` if the parent is
    /// unknown to `engine`.
    pub fn logs(
        &self,
        engine: &AuthorshipEngine,
        parent: &Hash,
        slot: u64,
    ) -> Option<Vec<DigestItem>> {
        let (index, epoch, starts) = engine.epoch_for_child(parent, slot)?;
        if !starts {
            return Some(Vec::new());
        }
        let announced = index.saturating_add(1);
        let descriptor = NextEpochDescriptor {
            authorities: self.authorities(announced),
            randomness: blake2_256(&(epoch.randomness, announced).encode()).0,
        };
        let mut logs = vec![descriptor.to_digest_item()];
        let previous = &engine.block_data(parent)?.epoch.current;
        if previous.authorities != epoch.authorities {
            let change = ScheduledChange {
                next_authorities: epoch.authorities.as_ref().clone(),
                delay: 0,
            };
            logs.push(change.to_digest_item());
        }
        Some(logs)
    }

    /// Whether `header`'s consensus logs are what the runtime deposits (`true` while its
    /// parent is unknown: it is checked when the parent arrives).
    pub fn check(&self, engine: &AuthorshipEngine, header: &Header) -> bool {
        let Some(slot) = crate::authorship::PreDigest::from_header(header).map(|d| d.slot()) else {
            return true;
        };
        let Some(expected) = self.logs(engine, &header.parent_hash, slot) else {
            return true;
        };
        let actual: Vec<&DigestItem> = header
            .digest
            .logs
            .iter()
            .filter(|item| matches!(item, DigestItem::Consensus(..)))
            .collect();
        actual.len() == expected.len() && actual.iter().zip(&expected).all(|(a, e)| *a == e)
    }
}
